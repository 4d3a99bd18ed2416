"""Lab 02: the last page, found from its own block pointer (the tail test Linux 4.15 merged).

The seed's scan for a shared last page started from the mapping's first block and was wrong
for every ``vm_pgoff > 0``; Linux 4.15's ``cramfs_last_page_is_shared``
looks up the last block's own pointer instead. The learner first predicts, for an image the
chapter did not use (:func:`lab_image`), which files lose their last page to that test, then
writes ``tail_range(i_size, last_ptr)``: the image offset where the scan starts and how many
bytes it reads, from the file's size and its last block's raw 32-bit pointer, or ``None`` when
nothing is scanned (the size is a page multiple). :func:`check` compares it with the model on
every file of four images whose last block is direct and uncompressed (the only files the
kernel asks about).

Model helper: no kernel counterpart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mmlab.constants import PAGE_SHIFT, PAGE_SIZE
from mmlab.cramfs.elf import PF_R, PF_X, make_elf
from mmlab.cramfs.layout import (
    CRAMFS_BLK_DIRECT_PTR_SHIFT,
    CRAMFS_BLK_FLAG_DIRECT_PTR,
    CRAMFS_BLK_FLAG_UNCOMPRESSED,
    CRAMFS_BLK_FLAGS,
)
from mmlab.cramfs.tree import Dir, File
from mmlab.cramfs.writer import build_image
from mmlab.scenarios import SCENARIO_XIP_GLOBS, scenario_image
from mmlab.system import System
from mmlab.viz.quiz import CheckResult, check_function
from mmlab.viz.split import tail_lab_image
from mmlab.xip import CramfsInode, CramfsSuperBlock, cramfs_last_page_is_shared, mount

__all__ = ["EDGE_SIZES", "LAB_FILES", "TailCase", "as_paths", "cases", "check", "lab_image",
           "last_block_scan", "shared_last_pages", "tail_cases", "verdicts"]

#: Files of :func:`lab_image`: path -> size in bytes (all text, all XIP).
LAB_FILES = (
    ("bin/tiny", PAGE_SIZE + 10),
    ("bin/whole", 4 * PAGE_SIZE),
    ("lib/libmid.so", 3 * PAGE_SIZE + 2000),
    ("lib/libbig.so", 6 * PAGE_SIZE + 4000),
    ("lib/libone.so", 700),
)

_DIRECT = CRAMFS_BLK_FLAG_DIRECT_PTR | CRAMFS_BLK_FLAG_UNCOMPRESSED


def lab_image() -> bytes:
    """The lab's image: five files of several sizes, every block stored for XIP.

    Model helper: no kernel counterpart (``mkcramfs -X -X`` would lay it out the same way).
    """
    dirs: dict[str, dict[str, File]] = {}
    for path, size in LAB_FILES:
        top, name = path.split("/")
        body = make_elf([(PF_R | PF_X, 0, size)], size, fill=name.encode() + b" text ")
        dirs.setdefault(top, {})[name] = File(body, mode=0o755)
    tree = Dir({top: Dir(files) for top, files in dirs.items()})
    return build_image(tree, endian="little", name="tail-lab", xip=SCENARIO_XIP_GLOBS)


def last_block_scan(inode: CramfsInode) -> tuple[int, int] | None:
    """What v4.15 scans: ``(image offset, bytes)`` from the last block's own start plus the
    partial size to the end of that page; ``None`` when the size is a page multiple.

    Kernel: ``cramfs_last_page_is_shared`` in `fs/cramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L336>`_.
    """
    partial = inode.i_size % PAGE_SIZE
    if not partial:
        return None
    ptr = inode.sb.block_pointer(inode, inode.i_size >> PAGE_SHIFT)
    start = ((ptr & ~CRAMFS_BLK_FLAGS & 0xFFFFFFFF) << CRAMFS_BLK_DIRECT_PTR_SHIFT) + partial
    return start, PAGE_SIZE - partial


@dataclass(frozen=True)
class TailCase:
    """One file whose last block is direct and uncompressed: the scan's inputs and its answer.

    ``last_ptr`` is the raw 32-bit pointer of the file's last block, flags included;
    ``expected`` what :func:`last_block_scan` says; ``shared`` the model's verdict.

    Model helper: no kernel counterpart.
    """

    image: str
    path: str
    i_size: int
    last_ptr: int
    expected: tuple[int, int] | None
    shared: bool

    def __repr__(self) -> str:  # the pointer and the scan's offset in hex, as the image's
        scan = "None" if self.expected is None else \
            f"({self.expected[0]:#x}, {self.expected[1]})"
        return (f"TailCase(image={self.image!r}, path={self.path!r}, i_size={self.i_size}, "
                f"last_ptr={self.last_ptr:#x}, expected={scan}, shared={self.shared})")


#: Sizes of the files of the third image: edges of a page (one byte, one short, one over).
EDGE_SIZES = (1, 100, PAGE_SIZE - 1, PAGE_SIZE + 1, 2 * PAGE_SIZE - 1, 3 * PAGE_SIZE)


def _edge_image() -> bytes:
    """Files of :data:`EDGE_SIZES` bytes (each byte its file's number), all stored for XIP."""
    files = {f"f{i}": File(bytes([i]) * size) for i, size in enumerate(EDGE_SIZES, 1)}
    return build_image(Dir(files), endian="little", name="edges", xip=("*",))


def _images() -> list[tuple[str, bytes]]:
    return [("scenarios", scenario_image()), ("tail-lab", lab_image()),
            ("a-and-b", tail_lab_image()), ("edges", _edge_image())]


def _mounted(image: bytes) -> CramfsSuperBlock:
    return mount(image, None, "mixedmap", system=System())


def _files(sb: CramfsSuperBlock) -> list[str]:
    assert sb.image is not None
    return sorted("/" + e.path for e in sb.image.walk() if e.is_file())


def _inode(sb: CramfsSuperBlock, path: str) -> CramfsInode:
    inode = sb.open(path).f_inode
    assert isinstance(inode, CramfsInode)
    return inode


def tail_cases() -> list[TailCase]:
    """Every file of the four images whose last block is direct and uncompressed.

    Only for those does v4.15 ask the question: it runs the test when the run of direct,
    uncompressed, contiguous blocks from ``vm_pgoff`` reaches the last block, and
    ``cramfs_get_block_range`` has checked each of them.

    Model helper: no kernel counterpart.
    """
    out: list[TailCase] = []
    for name, image in _images():
        sb = _mounted(image)
        for path in _files(sb):
            inode = _inode(sb, path)
            if not inode.i_size:
                continue
            last = sb.block_pointer(inode, (inode.i_size - 1) >> PAGE_SHIFT)
            if last & _DIRECT != _DIRECT:
                continue
            ptr = sb.block_pointer(inode, inode.i_size >> PAGE_SHIFT) \
                if inode.i_size % PAGE_SIZE else last
            out.append(TailCase(name, path, inode.i_size, ptr, last_block_scan(inode),
                                cramfs_last_page_is_shared(inode)))
    return out


def cases() -> list[tuple[tuple, object]]:
    """:func:`tail_cases` as ``check_function`` cases: ``((i_size, last_ptr), expected)``.

    Model helper: no kernel counterpart.
    """
    return [((c.i_size, c.last_ptr), c.expected) for c in tail_cases()]


def check(fn: Callable[[int, int], tuple[int, int] | None]) -> CheckResult:
    """Check a learner's ``tail_range(i_size, last_ptr)`` on every case of :func:`tail_cases`.

    Model helper: no kernel counterpart.
    """
    return check_function(fn, cases(), name="tail_range", hex_ints=True)


def shared_last_pages(image: bytes | None = None) -> list[str]:
    """The files of ``image`` (the lab's by default) whose last page v4.15 finds shared.

    Model helper: no kernel counterpart.
    """
    sb = _mounted(image if image is not None else lab_image())
    return [p for p in _files(sb) if cramfs_last_page_is_shared(_inode(sb, p))]


def as_paths(guess: object, image: bytes | None = None) -> object:
    """A guess of file names written as the learner pleases ("bin/tiny", "tiny", or one text
    of names separated by spaces or commas: "/bin/tiny /lib/libmid.so") given as a list of the
    image's paths ("/bin/tiny"), so that the comparison judges the files named, not the
    spelling. A list already in the image's paths comes back as it is.

    Anything but a text or a list, tuple or set of texts comes back as it is (``...`` stays
    "no guess").

    Model helper: no kernel counterpart.
    """
    if isinstance(guess, str):
        names: list[str] = [n.strip("'\"") for n in re.split(r"[\s,]+", guess.strip(" []()"))
                            if n.strip("'\"")]
    elif isinstance(guess, list | tuple | set) and all(isinstance(g, str) for g in guess):
        names = list(guess)
    else:
        return guess
    paths = _files(_mounted(image if image is not None else lab_image()))
    out = []
    for g in names:
        name = g.strip().lstrip("/")
        full = [p for p in paths if p.lstrip("/") == name] or \
            [p for p in paths if p.rsplit("/", 1)[-1] == name]
        out.append(full[0] if len(full) == 1 else g)
    return guess if isinstance(guess, list) and out == guess else out


def verdicts(fn: Callable[[int, int], tuple[int, int] | None] | None = None,
             image: bytes | None = None) -> list[str]:
    """A table, a head line then one line per file of ``image`` (the lab's by default): its
    size, the range scanned (by ``fn``, the learner's ``tail_range``, or by the model), the
    first non-zero byte found there, and whether v4.15 maps the last page from flash or leaves
    it, shared, in RAM. A ``fn`` not written yet, or one that raises, gets one line that says
    so.

    Model helper: no kernel counterpart.
    """
    img = image if image is not None else lab_image()
    sb = _mounted(img)
    lines = [f"{'file':16} {'size':>6}  {'scanned':20} {'first non-zero':16} last page"]
    for path in _files(sb):
        inode = _inode(sb, path)
        index = inode.i_size >> PAGE_SHIFT if inode.i_size % PAGE_SIZE else 0
        ptr = sb.block_pointer(inode, index)
        try:
            scan = fn(inode.i_size, ptr) if fn is not None else last_block_scan(inode)
        except NotImplementedError:
            return ["tail_range is not written yet: write it in the cell above and run its check"]
        except Exception as exc:  # noqa: BLE001 - a learner's bug is feedback, not a crash
            return [f"tail_range({inode.i_size}, {ptr:#x}) for {path} raised "
                    f"{type(exc).__name__}: {exc}"]
        if scan is None:
            lines.append(f"{path:16} {inode.i_size:6}  {'none (page multiple)':20} {'':16} "
                         "from flash")
            continue
        start, length = scan
        data = sb.direct_read(start, length)
        nonzero = next((i for i, b in enumerate(data) if b), None)
        found = "all zero" if nonzero is None else \
            f"{data[nonzero]:#04x} at {start + nonzero:#x}"
        verdict = "shared: stays in RAM" if nonzero is not None else "from flash"
        lines.append(f"{path:16} {inode.i_size:6}  {f'{start:#x}+{length}':20} {found:16} "
                     f"{verdict}")
    return lines
