"""mmlab's XIP layout: what each page becomes, alignment, contiguity, and read-back.

Ground truth: ``data/xip-sample.cramfs``, made by Nicolas Pitre's
``mkcramfs -X -X`` -- mmlab rebuilds it byte for byte from its own files, and
places every XIP page where ``xip-sample.mkcramfs-vvv.log`` says mkcramfs did.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmlab.cramfs import elf
from mmlab.cramfs.check import check_image
from mmlab.cramfs.layout import CRAMFS_FLAG_EXT_BLOCK_POINTERS, CRAMFS_FLAG_HOLES
from mmlab.cramfs.reader import BlockKind, open_image
from mmlab.cramfs.tree import Dir, File, Symlink, walk
from mmlab.cramfs.writer import build_image

from . import trees as T

DATA = Path(__file__).resolve().parents[2] / "data"
SAMPLE = DATA / "xip-sample.cramfs"
SAMPLE_LOG = DATA / "xip-sample.mkcramfs-vvv.log"
SAMPLE_GLOBS = ["[abcdez]_*"]  # the ELF files; mkcramfs looks at every file's ELF headers

R, W, X = elf.PF_R, elf.PF_W, elf.PF_X


def kinds(image: bytes, path: str) -> list[BlockKind]:
    img = open_image(image)
    return [b.kind for b in img.blocks(img.lookup(path))]


def assert_xip_layout(image: bytes, path: str, data: bytes, expect_direct: list[bool],
                      blocksize: int = 4096) -> None:
    """Direct pages exactly where expected, page aligned, contiguous; contents round-trip."""
    img = open_image(image, blocksize=blocksize)
    e = img.lookup(path)
    blocks = img.blocks(e)
    assert [b.kind is BlockKind.DIRECT for b in blocks] == expect_direct
    prev = None
    for b in blocks:
        if b.kind is BlockKind.DIRECT:
            assert b.target % blocksize == 0, f"block {b.index} not page aligned"
            if prev is not None and prev.index == b.index - 1:
                assert b.target == prev.target + blocksize, "XIP pages must be contiguous"
            prev = b
        else:
            assert b.kind in (BlockKind.COMPRESSED, BlockKind.UNCOMPRESSED, BlockKind.HOLE)
            prev = None
    assert img.read_file(e) == data


# --- the mkcramfs sample ----------------------------------------------------------------------


@pytest.mark.skipif(not SAMPLE.exists(), reason="data/xip-sample.cramfs missing")
def test_rebuilds_mkcramfs_sample_byte_for_byte():
    original = SAMPLE.read_bytes()
    tree = T.tree_from_image(original)
    assert build_image(tree, name="xip-sample", xip=SAMPLE_GLOBS) == original


@pytest.mark.skipif(not SAMPLE_LOG.exists(), reason="data/xip-sample.mkcramfs-vvv.log missing")
def test_xip_pages_where_mkcramfs_put_them():
    placed: dict[str, list[tuple[int, int]]] = {}
    pending: list[tuple[int, int]] = []
    for line in SAMPLE_LOG.read_text().splitlines():
        m = re.match(r"XIP at (0x[0-9a-f]+) for file offset (0x[0-9a-f]+|0)$", line)
        if m:
            pending.append((int(m[1], 16), int(m[2], 16)))
            continue
        m = re.match(r"\s*-?[\d.]+% \(.*\)\t(\S+)$", line)
        if m:
            placed[m[1]], pending = pending, []
    image = build_image(T.tree_from_image(SAMPLE.read_bytes()), name="xip-sample",
                        xip=SAMPLE_GLOBS)
    img = open_image(image)
    for name, where in placed.items():
        got = [(b.target, b.index * 4096) for b in img.blocks(img.lookup(name))
               if b.kind is BlockKind.DIRECT]
        assert got == where, name


# --- ELF partial XIP --------------------------------------------------------------------------

ELF_CASES = {
    # name: (segments (flags, offset, filesz), size, expected direct pages)
    "text+data": ([(R | X, 0, 0x2800), (R | W, 0x3000, 0x900)], 0x4000,
                  [True, True, True, False]),
    "rodata-mid": ([(R | W, 0, 0x1000), (R, 0x1000, 0x2000), (R | W, 0x3000, 0x1000)], 0x4000,
                   [False, True, True, False]),
    "tail-partial": ([(R | X, 0, 0x3064)], 0x3064, [True, True, True, True]),
    "no-ro": ([(R | W, 0, 0x3000)], 0x3000, [False, False, False]),
    "exec-only": ([(X, 0x1000, 0x10)], 0x2800, [False, True, False]),
    "shared-page": ([(R | X, 0, 0x1804), (R | W, 0x1804, 0x1000)], 0x3000,
                    [True, True, False]),
}


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("endian", ["little", "big"])
@pytest.mark.parametrize("case", list(ELF_CASES))
def test_elf_partial_xip(bits, endian, case):
    segments, size, expect = ELF_CASES[case]
    data = elf.make_elf(segments, size, bits=bits, endian=endian)
    tree = Dir({"lib": Dir({"libfoo.so": File(data), "notes.txt": File(b"t" * 9000)})})
    for image_endian in ("little", "big"):
        image = build_image(tree, xip=["lib/*.so"], endian=image_endian)
        assert_xip_layout(image, "lib/libfoo.so", data, expect)
        assert BlockKind.DIRECT not in kinds(image, "lib/notes.txt")
        flags = open_image(image).superblock.flags
        assert bool(flags & CRAMFS_FLAG_EXT_BLOCK_POINTERS) == any(expect)
        report = check_image(image)
        assert report.ok, report.errors


def test_real_elf_from_this_machine():
    path = Path("/bin/ls")
    data = path.read_bytes()[: (1 << 24) - 1]
    info = elf.parse_elf(data)
    assert info is not None and info.bits in (32, 64)
    expect = elf.xip_blocks(info, len(data), 4096)
    image = build_image(Dir({"bin": Dir({"ls": File(data, mode=0o755)})}), xip=["bin/*"])
    assert_xip_layout(image, "bin/ls", data, expect)
    # the writable data segment stays compressed: not every page is XIP
    assert any(expect) and not all(expect)


def test_non_elf_glob_match_is_fully_xip_and_others_compressed():
    text = (b"all of me executes in place\n" * 800)[:20_000]
    tree = Dir({"a.bin": File(text), "b.txt": File(text + b"!"), "ln": Symlink("a.bin")})
    image = build_image(tree, xip=["*.bin"])
    assert_xip_layout(image, "a.bin", text, [True] * 5)
    assert set(kinds(image, "b.txt")) == {BlockKind.COMPRESSED}
    assert open_image(image).read_file(open_image(image).lookup("ln")) == b"a.bin"


def test_bigger_pages_and_both_byte_orders():
    data = elf.make_elf([(R | X, 0, 0x6000), (R | W, 0x8000, 0x1000)], 0xA000, bits=64)
    tree = Dir({"p": File(data)})
    for endian in ("little", "big"):
        image = build_image(tree, xip=["p"], blocksize=16384, endian=endian)
        assert_xip_layout(image, "p", data, [True, True, False], blocksize=16384)


def test_identical_files_share_only_with_the_same_plan():
    data = elf.make_elf([(R | X, 0, 0x1000)], 0x3000)
    tree = Dir({"x1": File(data), "x2": File(data), "y": File(data)})
    img = open_image(build_image(tree, xip=["x*"]))
    x1, x2, y = (img.lookup(n) for n in ("x1", "x2", "y"))
    assert x1.data_offset == x2.data_offset
    assert y.data_offset != x1.data_offset
    assert all(b.kind is not BlockKind.DIRECT for b in img.blocks(y))


def test_holes_in_xip_images_follow_mkcramfs():
    data = b"x" * 4096 + bytes(8192) + b"y" * 10
    tree = Dir({"f": File(data)})
    flags = open_image(build_image(tree, xip=["nothing"], holes=True)).superblock.flags
    assert flags & CRAMFS_FLAG_HOLES
    assert flags & CRAMFS_FLAG_EXT_BLOCK_POINTERS  # the 10-byte tail is stored literally
    image = build_image(tree, xip=["nothing"], holes=True)
    assert kinds(image, "f") == [BlockKind.COMPRESSED, BlockKind.HOLE, BlockKind.HOLE,
                                 BlockKind.UNCOMPRESSED]
    assert open_image(image).read_file(open_image(image).lookup("f")) == data


def test_xip_off_is_plain_mkfs():
    tree = T.tree_elf()
    assert build_image(tree, xip=()) == build_image(tree)
    img = open_image(build_image(tree))
    assert not img.superblock.flags & CRAMFS_FLAG_EXT_BLOCK_POINTERS


# --- random trees -----------------------------------------------------------------------------

_segment = st.tuples(st.sampled_from([R, R | X, X, R | W, R | W | X, W, 0]),
                     st.integers(0, 0x6000), st.integers(0, 0x3000))


@st.composite
def elf_files(draw) -> bytes:
    segs = draw(st.lists(_segment, max_size=4))
    size = draw(st.integers(64 + 56 * 4, 0x8000))
    return elf.make_elf(segs, size, bits=draw(st.sampled_from([32, 64])),
                        endian=draw(st.sampled_from(["little", "big"])))


def _random_xip_images_read_back(tree, extra, globs, blocksize, endian):
    if any(len(p) > 252 for p in _names(tree)):
        return
    for i, data in enumerate(extra):
        tree.add(f"elf{i}", File(data))
    image = build_image(tree, xip=globs, blocksize=blocksize, endian=endian)
    img = open_image(image, blocksize=blocksize)
    for e in img.walk():
        if not e.is_file():
            continue
        blocks = img.blocks(e)
        for b in blocks:
            if b.kind is BlockKind.DIRECT:
                assert b.target % blocksize == 0
        data = img.read_file(e)
        assert len(data) == e.size
    for i, data in enumerate(extra):
        e = img.lookup(f"elf{i}")
        assert img.read_file(e) == data
        info = elf.parse_elf(data)
        matched = any(fnmatch.fnmatchcase(f"elf{i}", g) for g in globs)
        plan = elf.xip_blocks(info, len(data), blocksize) if matched else []
        direct = [b.kind is BlockKind.DIRECT for b in img.blocks(e)]
        assert direct == (plan if any(plan) else [False] * len(direct))


_xip_given = given(
    tree=T.trees, extra=st.lists(elf_files(), max_size=3),
    globs=st.lists(st.sampled_from(["*", "elf*", "*/*", "a*", "[ab]*", "*.so"]), max_size=2),
    blocksize=st.sampled_from([4096, 16384]), endian=st.sampled_from(["little", "big"]))
_quiet = pytest.mark.filterwarnings("ignore::mmlab.cramfs.writer.CramfsWarning")
test_random_xip_images_read_back = _quiet(_xip_given(_random_xip_images_read_back))
#: the same under ``make test-long`` (MMLAB_PROFILE=long: 10,000 trees)
test_random_xip_images_read_back_long = pytest.mark.slow(
    _quiet(_xip_given(_random_xip_images_read_back)))


def _names(tree: Dir):
    for path, _ in walk(tree):
        yield from path.split(b"/")


# --- the committed course samples (make data) -------------------------------------------------


def test_committed_samples_are_reproducible(tmp_path):
    from mmlab.cramfs.samples import SAMPLES, build_samples

    made = build_samples(tmp_path)
    assert (tmp_path / "SAMPLES.md").read_text() == (DATA / "SAMPLES.md").read_text()
    for sample, _, size in made:
        assert (DATA / sample.filename).read_bytes() == (tmp_path / sample.filename).read_bytes()
        assert size < 200 * 1024
        assert check_image(tmp_path / sample.filename).ok
    img = open_image(DATA / "xip.cramfs")
    assert [b.kind for b in img.blocks(img.lookup("bin/hello"))] == [
        BlockKind.DIRECT, BlockKind.DIRECT, BlockKind.COMPRESSED]
    assert len(SAMPLES) == len(made)
