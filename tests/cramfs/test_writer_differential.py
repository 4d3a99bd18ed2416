"""build_image versus mkfs.cramfs (util-linux 2.38), byte for byte.

* every fixed tree of ``trees.FIXED_TREES`` x every option combination
  (``-N little|big`` x ``-b 4096|8192|16384|65536`` x ``-z`` x ``-p`` x ``-e`` x
  ``-n`` x ``-i``: 256), both from the in-memory tree and from the
  materialized directory, with the same warnings, and the directory again
  through ``write_image`` (the image streamed into a file);
* hypothesis trees (with and without duplicated files) x random option sets;
* ``fsck.cramfs`` accepts the images;
* a big-endian image read back with ``mmlab.cramfs.reader`` and rebuilt
  little-endian equals the direct little-endian build.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmlab.cramfs.errors import CramfsBuildError, CramfsIOError
from mmlab.cramfs.reader import open_image
from mmlab.cramfs.tree import Dir, File, walk
from mmlab.cramfs.writer import CramfsWarning, build_image, write_image

from . import trees as T

pytestmark = pytest.mark.skipif(not T.HAVE_MKFS, reason="mkfs.cramfs not installed")

COMBOS = T.all_option_combinations()
#: trees whose names overflow namelen cannot be read back or fsck'ed
UNREADABLE = {"longnames"}


def build_with_warnings(src, **kw) -> tuple[bytes, set[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = build_image(src, **kw)
    texts = {str(w.message).split(" (first: ")[0] for w in caught
             if issubclass(w.category, CramfsWarning)}
    return image, texts


def write_with_warnings(src, out: Path, **kw) -> tuple[bytes, set[str]]:
    """write_image into ``out``: (the file's bytes, the warning texts); ``out`` is removed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_image(src, out, **kw)
    texts = {str(w.message).split(" (first: ")[0] for w in caught
             if issubclass(w.category, CramfsWarning)}
    data = out.read_bytes()
    out.unlink()
    return data, texts


def has_long_names(tree: Dir) -> bool:
    """Names over 252 bytes overflow namelen: such images cannot be read back."""
    return any(len(part) > 252 for path, _ in walk(tree) for part in path.split(b"/"))


def first_diff(a: bytes, b: bytes) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"first difference at 0x{i:x}: mkfs {x:#04x}, mmlab {y:#04x}"
    return f"lengths differ: mkfs {len(a)}, mmlab {len(b)}"


@pytest.fixture(scope="module")
def fixed(tmp_path_factory):
    """name -> (tree, materialized path, work dir); each tree written to disk once."""
    out = {}
    base = tmp_path_factory.mktemp("fixed")
    for name, builder in T.FIXED_TREES.items():
        tree = builder()
        path = base / name
        from mmlab.cramfs.tree import materialize

        materialize(tree, path)
        work = base / f"{name}.work"
        work.mkdir()
        out[name] = (tree, path, work)
    return out


def compare(tree: Dir | None, path, opts: dict, work) -> bytes:
    """Assert mkfs.cramfs == build_image(path) == write_image(path) (== build_image(tree) as
    root); return the image."""
    work = Path(work)
    ref, stderr = T.run_mkfs(path, opts, work)
    kw = T.writer_kwargs(opts, str(work / "insert.bin"))
    mine, warned = build_with_warnings(path, **kw)
    assert mine == ref, f"directory input, {T.option_id(opts)}: {first_diff(ref, mine)}"
    expected = T.mkfs_warnings(stderr)
    ours_mkfs_style = {w for w in warned if "namelen field" not in w}
    assert ours_mkfs_style == expected, (stderr, warned)
    # the same through write_image, which streams the image into the file
    out = work / "mmlab.img"
    streamed, warned_streaming = write_with_warnings(path, out, **kw)
    assert streamed == ref, f"write_image, {T.option_id(opts)}: {first_diff(ref, streamed)}"
    assert warned_streaming == warned
    if tree is not None and T.IS_ROOT:
        mine2, _ = build_with_warnings(tree, **kw)
        assert mine2 == ref, f"in-memory input, {T.option_id(opts)}: {first_diff(ref, mine2)}"
    return ref


#: trees with 1000+ entries: every 16th combination in the fast run, all 256 with -m slow
BIG_TREES = {"checksums", "many"}


def _fixed_params():
    for name in T.FIXED_TREES:
        for i, opts in enumerate(COMBOS):
            marks = [pytest.mark.slow] if name in BIG_TREES and i % 16 else []
            yield pytest.param(name, opts, id=f"{name}-{T.option_id(opts)}", marks=marks)


@pytest.mark.parametrize(("name", "opts"), list(_fixed_params()))
def test_fixed_tree_every_option(fixed, name, opts):
    tree, path, work = fixed[name]
    compare(tree, path, opts, work)


# --- hypothesis -------------------------------------------------------------------------------


def _random_tree_random_options(tree, opts):
    with T.materialized(tree) as path, tempfile.TemporaryDirectory() as work:
        compare(tree, path, opts, work)


test_random_tree_random_options = given(tree=T.trees, opts=T.option_sets)(
    _random_tree_random_options)
#: the same under ``make test-long`` (MMLAB_PROFILE=long: 10,000 trees)
test_random_tree_random_options_long = pytest.mark.slow(
    given(tree=T.trees, opts=T.option_sets)(_random_tree_random_options))


@given(tree=T.with_duplicates(), opts=T.option_sets)
def test_random_tree_with_duplicates(tree, opts):
    with T.materialized(tree) as path, tempfile.TemporaryDirectory() as work:
        image = compare(tree, path, opts, work)
    if has_long_names(tree):
        return
    img = open_image(image)
    a = img.lookup("dupA")
    b = img.lookup("zz_sub/dupB")
    if a.size:
        assert a.data_offset == b.data_offset, "identical files must share their data"
        assert a.ino == b.ino


# --- fsck.cramfs --------------------------------------------------------------------------------


#: fsck.cramfs 2.38 accepts only flags 0xff (its CRAMFS_SUPPORTED_FLAGS): it rejects -z (HOLES)
#: and -i (SHIFTED_ROOT_OFFSET) images, mkfs.cramfs' own as well
FSCK_COMBOS = [o for o in COMBOS if not o["insert_file"] and not o["holes"]][::2]


@pytest.mark.skipif(not T.HAVE_FSCK, reason="fsck.cramfs not installed")
@pytest.mark.parametrize("flag", ["insert_file", "holes"])
def test_fsck_rejects_z_and_i_images_from_both(fixed, tmp_path, flag):
    tree, path, work = fixed["endianness"]
    opts = {flag: "INSERT" if flag == "insert_file" else True}
    ref, _ = T.run_mkfs(path, opts, work)
    mine = build_image(tree, **T.writer_kwargs(opts, str(work / "insert.bin")))
    assert mine == ref
    proc = T.run_fsck(mine, 4096, tmp_path)
    assert proc.returncode != 0 and "unsupported filesystem features" in proc.stderr


@pytest.mark.skipif(not T.HAVE_FSCK, reason="fsck.cramfs not installed")
@pytest.mark.parametrize("opts", FSCK_COMBOS, ids=[T.option_id(o) for o in FSCK_COMBOS])
@pytest.mark.parametrize("name", [n for n in T.FIXED_TREES if n not in UNREADABLE])
def test_fsck_accepts(fixed, tmp_path, name, opts):
    tree, _, work = fixed[name]
    kw = T.writer_kwargs(opts, str(tmp_path / "insert.bin"))
    if kw.get("insert_file"):
        (tmp_path / "insert.bin").write_bytes(T.INSERT_BYTES)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CramfsWarning)
        image = build_image(tree, **kw)
    proc = T.run_fsck(image, opts["blocksize"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- big-endian round trip --------------------------------------------------------------------


@pytest.mark.parametrize("blocksize", [4096, 16384])
@pytest.mark.parametrize("name", [n for n in T.FIXED_TREES if n not in UNREADABLE])
def test_big_endian_round_trip(fixed, name, blocksize):
    tree = fixed[name][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CramfsWarning)
        be = build_image(tree, endian="big", blocksize=blocksize, holes=True)
        le = build_image(tree, endian="little", blocksize=blocksize, holes=True)
    again = build_image(T.tree_from_image(be), endian="little", blocksize=blocksize, holes=True)
    assert again == le
    assert build_image(T.tree_from_image(le), endian="big", blocksize=blocksize, holes=True) == be


@pytest.mark.skipif(not T.IS_ROOT, reason="extraction keeps owners and devices only as root")
@pytest.mark.parametrize(
    "name", ["endianness", "special-small", "elf", "checksums", "many", "mixed"]
)
def test_big_endian_extracted_to_disk_rebuilds_little_endian(fixed, tmp_path, name):
    """BE image -> mmlab extract (to a directory) -> build_image(directory, LE) == LE build.

    "mixed" has an absolute symlink, which extraction keeps verbatim. Not for device numbers
    with major or minor >= 256: the 24-bit field keeps mkfs.cramfs's truncated dev_t, which
    the kernel (and the extractor) decode with old_decode_dev().
    """
    from mmlab.cramfs.extract import extract

    if name == "special-small":
        tree = T.tree_special()
        for big in ("bigmajor", "bigminor"):
            tree.entries.pop(big.encode(), None)
    else:
        tree = fixed[name][0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CramfsWarning)
        be = build_image(tree, endian="big")
        le = build_image(tree, endian="little")
    extract(be, tmp_path / "x")
    os.chmod(tmp_path / "x", open_image(be).root.mode & 0o7777)
    assert build_image(tmp_path / "x", endian="little") == le


@given(tree=T.trees, blocksize=st.sampled_from([4096, 8192, 65536]))
def test_random_big_endian_round_trip(tree, blocksize):
    if has_long_names(tree):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CramfsWarning)
        be = build_image(tree, endian="big", blocksize=blocksize)
        le = build_image(tree, endian="little", blocksize=blocksize)
    assert build_image(T.tree_from_image(be), endian="little", blocksize=blocksize) == le


# --- errors and warnings ----------------------------------------------------------------------


def test_errors_are_cramfs_errors(tmp_path):
    with pytest.raises(CramfsBuildError, match="power of two"):
        build_image(Dir(), blocksize=3000)
    with pytest.raises(CramfsBuildError, match="endianness"):
        build_image(Dir(), endian="middle")
    with pytest.raises(CramfsBuildError, match="32 bits"):
        build_image(Dir(), edition=1 << 32)
    with pytest.raises(CramfsIOError, match="stat of"):
        build_image(tmp_path / "missing")
    (tmp_path / "plain").write_bytes(b"x")
    with pytest.raises(CramfsBuildError, match="not a directory"):
        build_image(tmp_path / "plain")
    with pytest.raises(CramfsBuildError, match="name too long"):
        Dir({"x" * 256: File(b"")})
    with pytest.raises(CramfsIOError, match="cannot write"):
        write_image(Dir(), tmp_path / "no" / "such" / "dir.img")


def test_too_big_file_is_truncated_like_mkfs(tmp_path):
    big = bytes(range(256)) * (1 << 16)  # 16 MiB exactly: one byte too many
    tree = Dir({"big": File(big)})
    with pytest.warns(CramfsWarning, match="file sizes truncated to 16MB"):
        image = build_image(tree)
    entry = open_image(image).lookup("big")
    assert entry.size == (1 << 24) - 1


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads unreadable files")
def test_unreadable_file_raises(tmp_path):
    (tmp_path / "secret").write_bytes(b"x")
    os.chmod(tmp_path / "secret", 0)
    with pytest.raises(CramfsIOError, match="cannot read"):
        build_image(tmp_path)


@pytest.mark.filterwarnings("ignore::mmlab.cramfs.writer.CramfsWarning")
def test_write_image_matches_build(tmp_path):
    tree = T.tree_mixed()
    write_image(tree, tmp_path / "x.img", endian="big", pad=True)
    assert (tmp_path / "x.img").read_bytes() == build_image(tree, endian="big", pad=True)
