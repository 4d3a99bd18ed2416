"""Lab 05: lay out an image so that a whole library maps from flash (v4.15's ``mixedmap``).

The learner's ``make_layout()`` returns ``(tree, xip_globs)``: a :class:`mmlab.cramfs.tree.Dir`
holding ``lib/libc.so.6`` (an ELF file of 5 pages: more than 4 pages, at most 5) and the
``mkcramfs -X`` globs of the files whose read-only segments are stored for XIP.
:func:`check` builds the image, mounts it from the model's flash under v4.15's strategy, maps
the file whole (read+exec, private), touches every page and reports how many of the 5 pages
came from flash, with the cramfs lines of the kernel log. The starting layout maps none; what
stands in the way is what ``cramfs_physmem_mmap`` checks: blocks stored uncompressed and
contiguous (only blocks of read-only ELF segments of files a glob matches are), and a last
page that holds nothing but the file.

With ``reads=True`` the check also reads every page with ``read(2)`` (through the page cache, as
``generic_file_buffered_read`` does) and wants the file's bytes back. That is the lab's second
part: v4.15's ``cramfs_readpage`` copies only ``offset_in_page(i_size)`` bytes of a direct
uncompressed last block (fs/cramfs/inode.c L853), none for a file of whole pages, so such a
file reads back zeros for its last page although a mapping of it shows the right bytes.

Model helper: no kernel counterpart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mmlab.constants import MAP_PRIVATE, PAGE_SIZE, PROT_EXEC, PROT_READ
from mmlab.cramfs.errors import CramfsError
from mmlab.cramfs.tree import Dir, File, Node
from mmlab.cramfs.writer import build_image
from mmlab.filemap import generic_file_buffered_read
from mmlab.scenarios import Scenario, ScenarioRun, run_scenario

__all__ = ["LIBC", "LayoutCheck", "check"]

#: The file the lab maps, and its size in pages.
LIBC = "/lib/libc.so.6"
_PAGES = 5

_MAP = Scenario("lab-05", LIBC, 0, _PAGES * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE,
                "The whole library, mapped read+exec as a loader would map its text.",
                touch=tuple(range(_PAGES)))


@dataclass(frozen=True)
class LayoutCheck:
    """What :func:`check` saw: pages from flash, where each page came from, the kernel log.

    ``problem`` is set when the layout could not be tried (no such file, wrong size, the
    image would not build or mount). ``reads`` is set when the check read the pages with
    ``read(2)`` too: per page ``"right"`` (the file's bytes), ``"zeros"`` (zeros where the
    file has other bytes) or ``"wrong"``.

    Model helper: no kernel counterpart.
    """

    flash: int
    total: int
    where: tuple[str, ...] = ()
    log: tuple[str, ...] = ()
    problem: str | None = None
    reads: tuple[str, ...] = ()

    @property
    def reads_right(self) -> bool:
        """``read(2)`` returned the file's bytes for every page (only meaningful with reads)."""
        return bool(self.reads) and all(r == "right" for r in self.reads)

    @property
    def ok(self) -> bool:
        """Every page came from flash (and, when the check read them, read right)."""
        return (self.problem is None and self.flash == self.total
                and (not self.reads or self.reads_right))

    def __str__(self) -> str:
        if self.problem is not None:
            return f"The layout could not be tried: {self.problem}"
        head = f"{self.flash}/{self.total} pages from flash"
        if self.reads:
            head += f", {sum(r == 'right' for r in self.reads)}/{self.total} read right by read(2)"
        lines = [head + "." + (" Well done." if self.ok else "")]
        said = {"right": "read(2) right", "zeros": "read(2) gives zeros, not the file's bytes",
                "wrong": "read(2) gives other bytes than the file's"}
        lines += [f"  page {i}: {w}" + (f"; {said[self.reads[i]]}" if self.reads else "")
                  for i, w in enumerate(self.where)]
        lines.append("cramfs log of the mmap:" if self.log else "cramfs log of the mmap: empty")
        lines += [f"  {line}" for line in self.log]
        return "\n".join(lines)


def _libc_of(tree: Dir) -> bytes | None:
    node: Node = tree
    for part in LIBC.strip("/").split("/"):
        if not isinstance(node, Dir):
            return None
        found = node.entries.get(part.encode())
        if found is None:
            return None
        node = found
    return node.data if isinstance(node, File) else None


def _reads(run: ScenarioRun) -> tuple[str, ...]:
    """What ``read(2)`` of each page of the file returns, against the image's true bytes."""
    file = run.sb.open(LIBC)
    out = []
    for page in range(_PAGES):
        got = generic_file_buffered_read(file, page * PAGE_SIZE, PAGE_SIZE,
                                         physmem=run.sb.system.physmem)
        truth = run.sb.read_true(LIBC, page * PAGE_SIZE, PAGE_SIZE)
        out.append("right" if got == truth else "zeros" if not any(got) else "wrong")
    return tuple(out)


def check(make_layout: Callable[[], tuple[Dir, Sequence[str]]], *,
          reads: bool = False) -> LayoutCheck:
    """Build, mount, map and touch the learner's layout; count the pages served from flash.

    With ``reads``, also ``read(2)`` every page and count it right only when it returns the
    file's bytes (the lab's second part).

    Model helper: no kernel counterpart.
    """
    try:
        made = make_layout()
    except NotImplementedError:
        return LayoutCheck(0, _PAGES, problem="make_layout is not written yet")
    except Exception as exc:  # noqa: BLE001 - a learner's bug is feedback, not a crash
        return LayoutCheck(0, _PAGES, problem=f"make_layout raised {type(exc).__name__}: {exc}")
    # any pair will do, (tree, globs) or [tree, globs], and the globs as any sequence
    if not (isinstance(made, Sequence) and not isinstance(made, str) and len(made) == 2
            and isinstance(made[0], Dir)):
        what = type(made).__name__ + (f" of {len(made)}" if isinstance(made, Sequence) else "")
        return LayoutCheck(0, _PAGES, problem="make_layout must return two things, the tree "
                                              f"(a Dir) and the XIP globs; it returned a {what}")
    tree, globs = made
    if not isinstance(globs, str | Sequence) or not all(isinstance(g, str) for g in globs):
        return LayoutCheck(0, _PAGES, problem="the XIP globs must be strings, like 'lib/*'")
    globs = (globs,) if isinstance(globs, str) else tuple(globs)
    data = _libc_of(tree)
    if data is None:
        return LayoutCheck(0, _PAGES, problem=f"the tree has no regular file {LIBC}")
    if not (_PAGES - 1) * PAGE_SIZE < len(data) <= _PAGES * PAGE_SIZE:
        return LayoutCheck(0, _PAGES, problem=f"{LIBC} is {len(data)} bytes; it must stay "
                                              f"{_PAGES} pages (more than {_PAGES - 1})")
    if not data.startswith(b"\x7fELF"):
        return LayoutCheck(0, _PAGES, problem=f"{LIBC} is not an ELF file any more")
    try:
        image = build_image(tree, endian="little", name="lab-05", xip=globs)
        run = run_scenario(_MAP, "mixedmap", image=image)
    except (CramfsError, ValueError, OSError) as err:
        return LayoutCheck(0, _PAGES, problem=f"{type(err).__name__}: {err}")
    where = tuple(t.where or (t.signal or "nothing") for t in run.touches)
    return LayoutCheck(sum(w == "flash" for w in where), _PAGES, where,
                       tuple(run.kernel_log), reads=_reads(run) if reads else ())
