"""The XIP scenarios: one cramfs image, and the mmap calls the course and the tests make on it.

Each :class:`Scenario` is what a program on the board does: open a file of the mounted image,
``mmap`` part of it with some protection and flags, then touch some of its pages. The same
definitions drive three things, so they can never drift apart:

* the model: :func:`run_scenario` runs one under a strategy of :mod:`mmlab.xip`
  (``"refuse"``, ``"split"`` or ``"mixedmap"``) and returns what happened;
* the real kernel: ``tools/kernel-captures`` turns :data:`SCENARIOS` into the table of a static
  probe program that runs the same calls under QEMU (see ``data/kernel-captures/README.md``);
* the notebooks, which show them side by side.

The image (:func:`scenario_image`) is built with mmlab's own XIP writer, the way Nicolas Pitre's
``mkcramfs -X`` lays files out: the pages of an ELF file's read-only loadable segments are stored
uncompressed, page aligned and with direct block pointers; everything else is compressed.
Because the writer packs the next file's block pointers right after the last partial page of an
XIP file, that page's tail is not zero: the "last page is shared" case happens by itself, as it
did on real boards.

Model helper: no kernel counterpart (the calls are user-space programs).
"""

from __future__ import annotations

from dataclasses import dataclass

from mmlab.constants import (
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
)
from mmlab.cramfs.elf import PF_R, PF_W, PF_X, make_elf
from mmlab.cramfs.tree import Dir, File
from mmlab.cramfs.writer import build_image

__all__ = [
    "SCENARIOS",
    "SCENARIO_XIP_GLOBS",
    "Scenario",
    "scenario",
    "scenario_image",
    "scenario_tree",
]

#: Files of :func:`scenario_tree` whose read-only ELF segments are stored for XIP.
SCENARIO_XIP_GLOBS = ("bin/*", "lib/*")

_TEXT = b"".join(b"line %04d of a plain text file: cramfs compresses it with zlib.\n" % i
                 for i in range(200))


def scenario_tree() -> Dir:
    """The tree of the scenario image: an XIP executable, three libraries, a text file.

    * ``bin/xipexe``: 4 pages, one read+exec segment over the whole file: every block XIP.
    * ``lib/libc.so.6``: 5 pages, text (read+exec) in pages 0-2, data (read+write) in 3-4: the
      text is XIP, the data compressed, so a mapping of the whole file runs past the XIP part.
    * ``lib/ld-tail.so``: 2 pages and 100 bytes, all text; its last page is partial and the
      writer puts the next file's block pointers in the rest of that flash page.
    * ``lib/gappy.so``: 4 pages, text in pages 0, 2 and 3, data in page 1: the XIP blocks are
      not contiguous.
    * ``etc/motd.txt``: about 3 pages of text, not an ELF file: compressed.

    Model helper: no kernel counterpart.
    """
    rx = PF_R | PF_X
    rw = PF_R | PF_W
    exe = make_elf([(rx, 0, 4 * PAGE_SIZE)], 4 * PAGE_SIZE, fill=b"xipexe text! ")
    libc = make_elf([(rx, 0, 3 * PAGE_SIZE), (rw, 3 * PAGE_SIZE, 2 * PAGE_SIZE)],
                    5 * PAGE_SIZE, fill=b"libc text and data ")
    tail = make_elf([(rx, 0, 2 * PAGE_SIZE + 100)], 2 * PAGE_SIZE + 100, fill=b"ld tail ")
    gappy = make_elf([(rx, 0, PAGE_SIZE), (rw, PAGE_SIZE, PAGE_SIZE),
                      (rx, 2 * PAGE_SIZE, 2 * PAGE_SIZE)], 4 * PAGE_SIZE, fill=b"gappy ")
    return Dir({
        "bin": Dir({"xipexe": File(exe, mode=0o755)}),
        "lib": Dir({
            "gappy.so": File(gappy, mode=0o755),
            "ld-tail.so": File(tail, mode=0o755),
            "libc.so.6": File(libc, mode=0o755),
        }),
        "etc": Dir({"motd.txt": File(_TEXT)}),
    })


def scenario_image() -> bytes:
    """The scenario image's bytes (little-endian, 4 KiB blocks, XIP layout, name ``xip-scenarios``).

    Model helper: no kernel counterpart (``mkcramfs -X -X`` makes images of this layout).
    """
    return build_image(scenario_tree(), endian="little", name="xip-scenarios",
                       xip=SCENARIO_XIP_GLOBS)


@dataclass(frozen=True)
class Scenario:
    """One program's calls: open ``path``, mmap it, touch pages.

    ``open_write`` opens the file read-write (``O_RDWR``), which a read-only mount refuses with
    ``-EROFS``; ``touch`` lists the page indices (within the mapping) read after the mmap, in
    order; ``write`` lists pages written to (a private mapping copies them). ``why`` is the one
    line a learner reads.

    Model helper: no kernel counterpart.
    """

    name: str
    path: str
    offset: int
    length: int
    prot: int
    flags: int
    why: str
    touch: tuple[int, ...] = ()
    write: tuple[int, ...] = ()
    open_write: bool = False

    @property
    def pages(self) -> int:
        """Pages the mapping covers."""
        return -(-self.length // PAGE_SIZE)


_RX = PROT_READ | PROT_EXEC

#: Every scenario, in the order the course meets them and the probe runs them.
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("xip-executable", "/bin/xipexe", 0, 4 * PAGE_SIZE, _RX, MAP_PRIVATE,
             "A whole-file XIP executable: every page can come straight from flash.",
             touch=(0, 1, 2, 3)),
    Scenario("libc-past-xip", "/lib/libc.so.6", 0, 5 * PAGE_SIZE, _RX, MAP_PRIVATE,
             "The dynamic loader maps all of libc read+exec: only the text part is XIP.",
             touch=(0, 1, 2, 3, 4)),
    Scenario("last-page-shared", "/lib/ld-tail.so", 0, 3 * PAGE_SIZE, _RX, MAP_PRIVATE,
             "The file's last flash page also holds other data, so it must not be mapped.",
             touch=(0, 1, 2)),
    Scenario("compressed", "/etc/motd.txt", 0, 4 * PAGE_SIZE, PROT_READ, MAP_PRIVATE,
             "A compressed file cannot be read in place.", touch=(0, 1, 2)),
    Scenario("shared-writable", "/bin/xipexe", 0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE,
             MAP_SHARED, "A writable shared mapping of a read-only file system.",
             open_write=True),
    Scenario("shared-write-readonly-fd", "/bin/xipexe", 0, 4 * PAGE_SIZE,
             PROT_READ | PROT_WRITE, MAP_SHARED,
             "The same, through a read-only descriptor: mmap itself refuses it."),
    Scenario("writable-private", "/bin/xipexe", 0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE,
             MAP_PRIVATE, "A writable private mapping: writes must copy, so no flash pages.",
             touch=(0, 1), write=(1,)),
    Scenario("file-offset", "/bin/xipexe", PAGE_SIZE, 3 * PAGE_SIZE, _RX, MAP_PRIVATE,
             "A mapping that starts one page into the file.", touch=(0, 1, 2)),
    Scenario("non-contiguous", "/lib/gappy.so", 0, 4 * PAGE_SIZE, _RX, MAP_PRIVATE,
             "A file whose XIP blocks are not contiguous: page 1 is compressed.",
             touch=(0, 1, 2, 3)),
    Scenario("non-contiguous-tail", "/lib/gappy.so", 2 * PAGE_SIZE, 2 * PAGE_SIZE, _RX,
             MAP_PRIVATE, "The same file from page 2: a contiguous run again.", touch=(0, 1)),
    Scenario("shared-readonly", "/bin/xipexe", 0, 4 * PAGE_SIZE, _RX, MAP_SHARED,
             "A read-only shared mapping: mapped in place, but not a COW mapping.",
             touch=(0, 3)),
    Scenario("beyond-eof", "/bin/xipexe", 8 * PAGE_SIZE, PAGE_SIZE, PROT_READ, MAP_PRIVATE,
             "A mapping that starts past the end of the file."),
)


def scenario(name: str) -> Scenario:
    """The scenario called ``name``; KeyError lists the names.

    Model helper: no kernel counterpart.
    """
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise KeyError(f"no scenario {name!r}; there are: {', '.join(s.name for s in SCENARIOS)}")
