"""The cramfs image as a map of byte regions: superblock, inodes, names, pointers, blocks, padding.

:func:`image_regions` cuts an image into regions so that every byte belongs to exactly one: the
superblock's fields, each inode (12 bytes) and its name, each file's block-pointer table, each
data block (zlib-compressed, stored uncompressed, or a direct XIP page) and the padding between
them. :func:`explain_byte` says what one byte is ("byte 0x4a: inode of bin/xipexe, field
offset"). :class:`ImageMapExplorer` draws the image as rows of 4 KiB pages coloured by region
kind, with a file's inode, pointers and blocks highlighted and arrows from pointers to blocks;
:class:`ImageOffsetDrill` asks where things are in a small seeded image.

Model helper: no kernel counterpart (a drawing of the on-disk format of
``include/uapi/linux/cramfs_fs.h`` and ``fs/cramfs/README`` at v4.15).
"""

from __future__ import annotations

import bisect
import math
import random
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import ipywidgets as widgets
from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, Rectangle

from mmlab.constants import PAGE_SHIFT, PAGE_SIZE
from mmlab.cramfs.elf import PF_R, PF_W, PF_X, make_elf
from mmlab.cramfs.layout import (
    CRAMFS_BLK_FLAG_DIRECT_PTR,
    CRAMFS_BLK_FLAG_UNCOMPRESSED,
    CRAMFS_FLAG_SHIFTED_ROOT_OFFSET,
    INODE_SIZE,
    SUPERBLOCK_SIZE,
    flag_names,
    inode_codec,
)
from mmlab.cramfs.reader import BlockKind, CramfsImage, Entry, FileBlock, open_image
from mmlab.cramfs.tree import Dir, File, Symlink
from mmlab.cramfs.writer import build_image
from mmlab.viz.base import PALETTE, Explorer, schematic_axes
from mmlab.viz.quiz import CheckResult, Drill, check_function, learner_value, same_value
from mmlab.viz.style import (
    OKABE_ITO,
    Kind,
    box_label,
    draw_legend,
    first_fitting,
    kind_collection,
    label_backing,
)
from mmlab.xip import CramfsInode, cramfs_get_block_range, cramfs_last_page_is_shared

__all__ = [
    "KIND_COLOURS",
    "MARKS",
    "REGION_KINDS",
    "REGION_STYLES",
    "ROW_BYTES",
    "SUPERBLOCK_FIELDS",
    "ImageMapExplorer",
    "ImageOffsetDrill",
    "Region",
    "block_pointer_kind",
    "byte_order_hint",
    "check_block_pointer_kind",
    "compare_layouts",
    "explain_byte",
    "file_report",
    "image_regions",
    "in_place_pages",
    "layout_table",
    "region_at",
]

#: Every kind of region, in the order the legend lists them.
REGION_KINDS: tuple[str, ...] = (
    "boot-pad", "superblock", "inode", "name", "pointers", "compressed", "uncompressed",
    "direct", "direct-compressed", "inserted", "padding", "unreferenced",
)

#: How the map draws each kind of region: a fill of the Okabe-Ito family and a hatch of its own
#: (or, for the plain ones, a lightness far from the others'), so that no two kinds differ by
#: colour alone. Data blocks share the course's colours: an XIP page is flash (orange,
#: ``///``), compressed bytes blue (``--``).
REGION_STYLES: Mapping[str, Kind] = MappingProxyType({k.key: k for k in (
    Kind("boot-pad", "boot-pad", "#dcdcdc", "\\\\\\"),
    Kind("superblock", "superblock", OKABE_ITO["reddish purple"], "xx"),
    Kind("inode", "inode", OKABE_ITO["yellow"]),
    Kind("name", "name", "#fbf7cf", "||"),
    Kind("pointers", "pointers", OKABE_ITO["bluish green"], "++"),
    Kind("compressed", "compressed", PALETTE["compressed"], "--"),
    Kind("uncompressed", "uncompressed", OKABE_ITO["blue"]),
    Kind("direct", "direct (XIP page)", PALETTE["flash"], "///"),
    Kind("direct-compressed", "direct-compressed", OKABE_ITO["orange"], ".."),
    Kind("inserted", "inserted", "#b3e2d5", "oo"),
    Kind("padding", "padding", PALETTE["free"]),
    Kind("unreferenced", "unreferenced", OKABE_ITO["black"], "xx"),
)})

#: The fill of each region kind (:data:`REGION_STYLES`).
KIND_COLOURS: Mapping[str, str | None] = MappingProxyType(
    {key: kind.face for key, kind in REGION_STYLES.items()})

#: The marks the map draws around regions: the chosen file's (with arrows from each block
#: pointer to its block) and the chosen byte's region (with a triangle over the byte).
MARKS: Mapping[str, Kind] = MappingProxyType({k.key: k for k in (
    Kind("chosen-file", "chosen file (arrows: pointer → the block it describes; a classic "
         "pointer holds the block's end)", None, edge=PALETTE["highlight"], edge_width=1.4),
    Kind("chosen-byte", "chosen byte (▼) and its region", None, edge=OKABE_ITO["black"],
         edge_width=1.6),
)})

#: Fills dark enough that a label on them is drawn in white.
_DARK = frozenset({"superblock", "pointers", "uncompressed", "unreferenced"})

#: ``struct cramfs_super``: (field, offset, length, what it means), 76 bytes in all.
SUPERBLOCK_FIELDS: tuple[tuple[str, int, int, str], ...] = (
    ("magic", 0x00, 4, "0x28cd3d45: this is cramfs, and in which byte order"),
    ("size", 0x04, 4, "length of the image in bytes"),
    ("flags", 0x08, 4, "feature flags"),
    ("future", 0x0C, 4, "reserved, zero"),
    ("signature", 0x10, 16, "the text 'Compressed ROMFS'"),
    ("fsid.crc", 0x20, 4, "CRC32 of the image (computed with this field as zero)"),
    ("fsid.edition", 0x24, 4, "edition number (mkfs.cramfs -e)"),
    ("fsid.blocks", 0x28, 4, "number of data blocks"),
    ("fsid.files", 0x2C, 4, "number of inodes"),
    ("name", 0x30, 16, "volume name (mkfs.cramfs -n)"),
)

_BLOCK_KIND_NAMES = MappingProxyType({
    BlockKind.COMPRESSED: "compressed",
    BlockKind.UNCOMPRESSED: "uncompressed",
    BlockKind.DIRECT: "direct",
    BlockKind.DIRECT_COMPRESSED: "direct-compressed",
})

_MEANING = MappingProxyType({
    "compressed": "a zlib stream; the pointer holds where it ENDS",
    "uncompressed": "stored as is; the pointer holds where it ENDS",
    "direct": "an XIP page: uncompressed, page aligned; the pointer holds its START >> 2",
    "direct-compressed": "u16 length, then a zlib stream; the pointer holds its START >> 2",
    "hole": "no bytes stored: the block reads as zeros",
})


@dataclass(frozen=True, slots=True)
class Region:
    """Bytes ``start`` to ``end`` (exclusive) of an image: one kind of thing, one owner.

    ``kind`` is one of :data:`REGION_KINDS`; ``owner`` is the path of the file it belongs to
    ("/" for the root directory, "" for the image itself); ``label`` says what it is (a
    superblock field's name, "block 2", ...); ``index`` is the block number of a data block
    (-1 otherwise).

    Model helper: no kernel counterpart.
    """

    start: int
    end: int
    kind: str
    owner: str
    label: str
    index: int = -1

    @property
    def size(self) -> int:
        """Length in bytes."""
        return self.end - self.start


def _as_image(image: CramfsImage | bytes | bytearray | str) -> CramfsImage:
    return image if isinstance(image, CramfsImage) else open_image(image)


def _entries(img: CramfsImage) -> list[Entry]:
    return [img.root, *img.walk()]


def _has_data(entry: Entry) -> bool:
    return (entry.is_file() or entry.is_symlink()) and entry.size > 0


def image_regions(image: CramfsImage | bytes | bytearray | str) -> tuple[Region, ...]:
    """Cut ``image`` into regions, in offset order, so that every byte is in exactly one.

    The superblock gives one region per field and its root inode; every directory entry gives
    an ``inode`` (12 bytes) and a ``name`` (``namelen * 4`` bytes); every file or symlink with
    data gives its ``pointers`` table and one region per stored block (a hole stores nothing);
    files whose data is shared (identical contents) give theirs once, under the first owner.
    What is left is ``padding`` where a writer pads (to 4 bytes, to the page of an XIP block,
    to a whole block at the end; its label says when the bytes are not zero), the ``-i`` file
    after a shifted root (``inserted``), or else ``unreferenced``. Raises ``ValueError`` if two
    regions overlap (a damaged image).

    Model helper: no kernel counterpart.
    """
    img = _as_image(image)
    buf = img.data
    sb = img.superblock
    base = sb.base
    found: list[Region] = []
    for name, off, length, _ in SUPERBLOCK_FIELDS:
        found.append(Region(base + off, base + off + length, "superblock", "", name))
    found.append(Region(base + 0x40, base + SUPERBLOCK_SIZE, "inode", "/", "root inode"))
    seen_data: set[int] = set()
    for entry in _entries(img)[1:]:
        pos = entry.inode_offset
        namelen = entry.inode.namelen << 2
        found.append(Region(pos, pos + INODE_SIZE, "inode", entry.path, "inode"))
        found.append(Region(pos + INODE_SIZE, pos + INODE_SIZE + namelen, "name", entry.path,
                            "name"))
        if not _has_data(entry) or entry.data_offset in seen_data:
            continue
        seen_data.add(entry.data_offset)
        blocks = img.blocks(entry)
        found.append(Region(entry.data_offset, entry.data_offset + 4 * len(blocks), "pointers",
                            entry.path, "block pointers"))
        for b in blocks:
            if b.kind is BlockKind.HOLE:
                continue
            start = b.start - 2 if b.kind is BlockKind.DIRECT_COMPRESSED else b.start
            found.append(Region(start, b.end, _BLOCK_KIND_NAMES[b.kind], entry.path,
                                f"block {b.index}", b.index))
    if base:
        found.append(Region(0, base, "boot-pad", "", "boot-loader pad (mkfs.cramfs -p)"))
    found.sort(key=lambda r: (r.start, r.end))
    out: list[Region] = []
    pos = 0
    for r in found:
        if r.start < pos:
            raise ValueError(f"region {r.kind} of {r.owner or 'the image'} at 0x{r.start:x} "
                             f"overlaps the one before it (ends at 0x{pos:x})")
        if r.start > pos:
            out.append(_gap(img, pos, r.start, r))
        out.append(r)
        pos = r.end
    if pos < len(buf):
        out.append(_gap(img, pos, len(buf), None))
    return tuple(out)


def _gap(img: CramfsImage, start: int, end: int, following: Region | None) -> Region:
    """What fills ``start..end``: padding (and why), the -i file, or unreferenced bytes.

    Padding is told by its place (up to a 4-byte boundary, a page boundary before an XIP page,
    the image end), not by its contents: ``mkcramfs`` leaves stale bytes of its buffers there.
    """
    zero = not any(img.data[start:end])
    stale = "" if zero else " (not zeroed: stale bytes the writer left)"
    sb = img.superblock
    if following is None:
        label = ("fill past fsid.size" if start >= img.size
                 else "fill up to a whole block at the image end")
    elif sb.flags & CRAMFS_FLAG_SHIFTED_ROOT_OFFSET and start == sb.base + SUPERBLOCK_SIZE:
        return Region(start, end, "inserted", "", "file inserted with mkfs.cramfs -i")
    elif following.kind == "direct" and end % img.blocksize == 0:
        label = "fill up to the page boundary of an XIP page"
    elif end % 4 == 0 and end - start < 4:
        label = "fill to a 4-byte boundary"
    elif zero:
        label = "zero fill"
    else:
        return Region(start, end, "unreferenced", "", "bytes nothing points to")
    return Region(start, end, "padding", "", label + stale)


def region_at(regions: Sequence[Region], offset: int) -> Region:
    """The region holding byte ``offset`` (``IndexError`` outside the image).

    Model helper: no kernel counterpart.
    """
    if not regions or offset < 0 or offset >= regions[-1].end:
        raise IndexError(f"byte 0x{offset:x} is outside the image")
    i = bisect.bisect_right([r.start for r in regions], offset) - 1
    return regions[i]


def _inode_fields_of_byte(img: CramfsImage, k: int) -> list[str]:
    """Which bitfields of ``struct cramfs_inode`` byte ``k`` (0..11) of an inode holds."""
    word = inode_codec(img.endian).words[k // 4]
    lo = 8 * (k % 4) if img.endian == "little" else 24 - 8 * (k % 4)
    names = []
    for name, shift, mask in word:
        width = mask.bit_length()
        if shift < lo + 8 and lo < shift + width:
            names.append(name)
    return names


def _mode_text(mode: int) -> str:
    kinds = ((stat.S_ISDIR, "directory"), (stat.S_ISREG, "regular file"),
             (stat.S_ISLNK, "symlink"), (stat.S_ISCHR, "char device"),
             (stat.S_ISBLK, "block device"), (stat.S_ISFIFO, "fifo"), (stat.S_ISSOCK, "socket"))
    kind = next((text for test, text in kinds if test(mode)), "?")
    return f"0o{mode:o} ({kind})"


def _field_value(img: CramfsImage, entry: Entry, name: str) -> str:
    i = entry.inode
    if name == "mode":
        return _mode_text(i.mode)
    if name == "namelen":
        return f"{i.namelen} (name takes {i.namelen * 4} bytes)"
    if name == "offset":
        return f"0x{i.offset:x} (x 4 = byte 0x{i.offset << 2:x})"
    return str(getattr(i, name))


def _pointer_text(img: CramfsImage, block: FileBlock) -> str:
    p = block.pointer
    flags = []
    if img.ext_pointers and p & CRAMFS_BLK_FLAG_UNCOMPRESSED:
        flags.append("UNCOMPRESSED")
    if img.ext_pointers and p & CRAMFS_BLK_FLAG_DIRECT_PTR:
        flags.append("DIRECT_PTR")
    kind = _BLOCK_KIND_NAMES.get(block.kind, "hole")
    where = (f"starts at 0x{block.target:x}" if block.target is not None
             else f"ends at 0x{block.end:x}")
    return (f"0x{p:08x} [{'|'.join(flags) or 'no flags'}]: {kind}, {where}")


def _entry_by_path(img: CramfsImage, path: str) -> Entry:
    return img.root if path in ("", "/") else img.lookup(path)


def explain_byte(image: CramfsImage | bytes | bytearray | str, regions: Sequence[Region],
                 offset: int) -> str:
    """One line on what byte ``offset`` of the image is, and what its value means there.

    E.g. ``byte 0x4a: inode of bin, field uid (value 0)`` or ``byte 0x1000: block 0 of
    bin/xipexe (direct: an XIP page ...)``.

    Model helper: no kernel counterpart.
    """
    img = _as_image(image)
    r = region_at(regions, offset)
    head = f"byte 0x{offset:x} = 0x{img.data[offset]:02x}:"
    rel = offset - r.start
    span = f"[0x{r.start:x}..0x{r.end:x})"
    if r.kind == "superblock":
        meaning = next(m for n, _, _, m in SUPERBLOCK_FIELDS if n == r.label)
        value = _superblock_value(img, r.label)
        return f"{head} superblock {span}, field {r.label}: {meaning}; value {value}"
    if r.kind == "inode":
        entry = _entry_by_path(img, r.owner)
        names = _inode_fields_of_byte(img, rel)
        vals = ", ".join(f"{n} = {_field_value(img, entry, n)}" for n in names)
        who = "root inode (in the superblock)" if r.owner == "/" else f"inode of {r.owner}"
        return f"{head} {who} {span}, field {' and '.join(names)}: {vals}"
    if r.kind == "name":
        entry = _entry_by_path(img, r.owner)
        return (f"{head} name of {r.owner} {span}: {entry.name.decode(errors='replace')!r} "
                f"padded with NULs to {r.size} bytes (namelen {r.size // 4})")
    if r.kind == "pointers":
        entry = _entry_by_path(img, r.owner)
        block = img.blocks(entry)[rel // 4]
        return (f"{head} block pointer {rel // 4} of {r.owner} {span}: "
                f"{_pointer_text(img, block)}")
    if r.kind in _MEANING:
        entry = _entry_by_path(img, r.owner)
        bs = img.blocksize
        return (f"{head} {r.label} of {r.owner} {span}, {r.kind}: {_MEANING[r.kind]}; "
                f"it holds file bytes {r.index * bs}..{min(entry.size, (r.index + 1) * bs)}")
    return f"{head} {r.kind} {span}: {r.label}"


def _superblock_value(img: CramfsImage, name: str) -> str:
    sb = img.superblock
    if name == "flags":
        return f"0x{sb.flags:x} ({', '.join(flag_names(sb.flags)) or 'none'})"
    if name in ("signature", "name"):
        return repr(getattr(sb, name).rstrip(b"\0").decode("latin-1"))
    attr = name.split(".")[-1]
    value = getattr(sb, attr)
    return f"0x{value:x}" if attr in ("magic", "crc", "size") else str(value)


def file_report(image: CramfsImage | bytes | bytearray | str, path: str) -> str:
    """The inode fields of ``path`` and where each of its blocks is (or its directory entries).

    Kernel: ``cramfs_readpage`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L817>`_.
    """
    img = _as_image(image)
    e = _entry_by_path(img, path)
    i = e.inode
    where = "in the superblock" if e is img.root else ""
    lines = [f"{e.path or '/'}: inode at 0x{e.inode_offset:x} {where}".rstrip(),
             f"  mode {_mode_text(i.mode)}, uid {i.uid}, size {i.size}, gid {i.gid}, "
             f"namelen {i.namelen}, offset 0x{i.offset:x} (byte 0x{i.offset << 2:x})"]
    if e.is_dir():
        if i.size:
            kids = ", ".join(c.name.decode(errors="replace") for c in img.listdir(e))
            lines.append(f"  entries at 0x{e.data_offset:x}..0x{e.data_offset + i.size:x}: "
                         f"{kids}")
        else:
            lines.append("  empty directory: offset 0")
        return "\n".join(lines)
    if not _has_data(e):
        lines.append("  no data (offset 0)")
        return "\n".join(lines)
    blocks = img.blocks(e)
    lines.append(f"  {len(blocks)} block pointer(s) at 0x{e.data_offset:x}..0x"
                 f"{e.data_offset + 4 * len(blocks):x}")
    for b in blocks[:16]:
        kind = _BLOCK_KIND_NAMES.get(b.kind, "hole")
        lines.append(f"  block {b.index}: pointer 0x{b.pointer:08x} -> {kind:17} "
                     f"0x{b.start:x}..0x{b.end:x} ({b.stored_size} stored, {b.out_size} "
                     "of file)")
    if len(blocks) > 16:
        lines.append(f"  ... {len(blocks) - 16} more blocks")
    return "\n".join(lines)


def layout_table(image: CramfsImage | bytes | bytearray | str) -> str:
    """One line per file: size, block kinds in order (c, u, X, z, -) and where the pointers are.

    ``c`` compressed, ``u`` uncompressed, ``X`` direct (an XIP page), ``z`` direct compressed,
    ``-`` hole.

    Model helper: no kernel counterpart.
    """
    img = _as_image(image)
    letters = {BlockKind.COMPRESSED: "c", BlockKind.UNCOMPRESSED: "u", BlockKind.DIRECT: "X",
               BlockKind.DIRECT_COMPRESSED: "z", BlockKind.HOLE: "-"}
    info = img.info()
    lines = [f"{len(img.data)} bytes, flags {', '.join(info['flag_names'])}",
             f"{'file':18} {'size':>6}  {'pointers':>8}  blocks"]
    for e in img.walk():
        if not _has_data(e):
            continue
        kinds = "".join(letters[b.kind] for b in img.blocks(e))
        lines.append(f"{e.path:18} {e.size:6}  {e.data_offset:#8x}  {kinds}")
    return "\n".join(lines)


def compare_layouts(left: CramfsImage | bytes, right: CramfsImage | bytes,
                    titles: tuple[str, str] = ("classic", "XIP")) -> str:
    """Two :func:`layout_table` texts side by side.

    Model helper: no kernel counterpart.
    """
    a = layout_table(left).splitlines()
    b = layout_table(right).splitlines()
    width = max(len(x) for x in a) + 3
    rows = [f"{titles[0]:{width}}{titles[1]}"]
    for i in range(max(len(a), len(b))):
        rows.append(f"{a[i] if i < len(a) else '':{width}}{b[i] if i < len(b) else ''}")
    return "\n".join(rows)


def block_pointer_kind(ptr: int) -> str:
    """What the flag bits of a block pointer (with EXT_BLOCK_POINTERS) say about its block.

    ``"compressed"`` (no flag: the pointer is the block's end), ``"uncompressed"``
    (UNCOMPRESSED only: the end of a block stored as is), ``"direct-compressed"`` (DIRECT_PTR
    only: the start >> 2 of a u16 length and a zlib stream), ``"direct"`` (both: the start >> 2
    of an uncompressed page, what XIP maps).

    Kernel: ``cramfs_readpage`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L817>`_.
    """
    direct = bool(ptr & CRAMFS_BLK_FLAG_DIRECT_PTR)
    uncompressed = bool(ptr & CRAMFS_BLK_FLAG_UNCOMPRESSED)
    if direct:
        return "direct" if uncompressed else "direct-compressed"
    return "uncompressed" if uncompressed else "compressed"


def check_block_pointer_kind(fn: Callable[[int], str]) -> CheckResult:
    """Check a learner's ``my_block_pointer_kind(ptr)`` on pointers of every kind.

    Model helper: no kernel counterpart.
    """
    values = (0x2F4, 0x1D038, 0x80002F4C, 0x80021110, 0x40000400, 0x40001C01, 0xC0000400,
              0xC001D0E2, 0xC0003800, 0x40000)
    cases = [((p,), block_pointer_kind(p)) for p in values]
    return check_function(fn, cases, name="my_block_pointer_kind", hex_ints=True)


def byte_order_hint(guess: object, stored: bytes) -> str:
    """A line on a guess at the bytes of a little-endian number (``stored``, as they sit in
    the file) that compares wrong in a telling way: the bytes in big-endian order (the guess
    reversed is right), or the number itself instead of its bytes. Empty otherwise.

    Model helper: no kernel counterpart.
    """
    value = learner_value(guess, hex_text=isinstance(guess, str))
    want = tuple(stored)
    if isinstance(value, tuple) and value != want and value[::-1] == want:
        return ("That is the big-endian order, highest byte first, as the number is written. "
                "This image is little-endian: its lowest byte comes first in the file.")
    if isinstance(value, int) and not isinstance(value, bool) \
            and value == int.from_bytes(stored, "little"):
        return (f"That is the number itself ({value:#x}); the question asks for its "
                f"{len(stored)} bytes, in the order they sit in the file.")
    return ""


def in_place_pages(inode: CramfsInode, pgoff: int = 0, pages: int | None = None) -> tuple[int, str]:
    """How many pages of a mapping from file page ``pgoff`` the flash can back directly, and why.

    The checks ``cramfs_physmem_mmap`` makes before it maps anything (for a read-only mapping of
    ``pages`` pages, default: to the end of the file): the run of direct, uncompressed,
    contiguous blocks from ``pgoff`` (``cramfs_get_block_range``), a page-aligned start, and
    one page less when the run reaches the file's last page and that flash page also holds
    other data (``cramfs_last_page_is_shared``). Returns ``(0, reason)`` where v4.15 bails out.

    Kernel: ``cramfs_physmem_mmap`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L353>`_.
    """
    max_pages = (inode.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT
    if pgoff >= max_pages:
        return 0, "beyond file limit"
    want = max_pages - pgoff if pages is None else min(pages, max_pages - pgoff)
    offset, run = cramfs_get_block_range(inode, pgoff, want)
    if not offset:
        return 0, "unsuitable block layout"
    if offset % PAGE_SIZE:
        return 0, "data is not page aligned"
    why = f"{run} direct, contiguous page(s) from image offset 0x{offset:x}"
    if pgoff + run == max_pages and cramfs_last_page_is_shared(inode):
        run -= 1
        why += "; the last page is shared with other data, so it is left out"
    if not run:
        return 0, "no suitable block remaining"
    return run, why


# --- the explorer ------------------------------------------------------------------------------

#: Bytes per drawn row the explorer offers: a 4 KiB page, or a closer look.
ROW_BYTES: tuple[int, ...] = (4096, 1024, 256)
_MAX_ROWS = 32  #: a row width that needs more rows than this is not offered (but 4 KiB)
_MIN_ROW = 11.0  #: the least height of a row (points) at a row width the menu offers


class ImageMapExplorer(Explorer):
    """A cramfs image as rows of 4 KiB pages coloured by region; pick a file or a byte.

    Controls: ``row`` (bytes per row: a 4 KiB page, or 1 KiB or 256 bytes to look closer at a
    small image, offered where the image takes at most 32 such rows, each 11 pt high or more;
    the default is the narrowest offered: 256 for an image of one page, 1024 up to 32 KiB,
    4096 above), ``file`` (a path; its inode,
    name, pointer table and blocks are outlined, with arrows from each pointer to its block;
    a directory's entries are outlined and named), ``byte`` (an offset, decimal or ``0x``
    hex: its region is outlined and explained), ``prev``/``next`` (move ``byte`` to the start
    of the previous or next region, to walk the image region by region). The text shows the
    chosen file's inode and blocks, or the chosen byte's region, whichever was set last.

    Model helper: no kernel counterpart.
    """

    def __init__(self, image: CramfsImage | bytes | bytearray | str, *, file: str = "",
                 byte: int | None = None, row_bytes: int | None = None) -> None:
        self.image = _as_image(image)
        self.regions = image_regions(self.image)
        self._starts = [r.start for r in self.regions]
        self.length = len(self.image.data)
        self.row_choices = tuple(rb for rb in ROW_BYTES
                                 if rb == ROW_BYTES[0] or self.length // rb <= _MAX_ROWS)
        if row_bytes is None:  # the closest look offered: 4 KiB rows crowd a small image
            row_bytes = self.row_choices[-1]
        if row_bytes not in self.row_choices:
            raise ValueError(f"row_bytes must be one of {self.row_choices}, not {row_bytes}")
        self.row_bytes = row_bytes
        self.rows = max(1, -(-self.length // row_bytes))
        super().__init__()
        self.paths = tuple(e.path for e in self.image.walk())
        self.file = file
        self.byte = byte
        self.byte_text = "" if byte is None else str(byte)
        self.focus = "byte" if byte is not None else "file"
        self._kinds = [REGION_STYLES[k] for k in REGION_KINDS
                       if any(r.kind == k for r in self.regions)]
        self._legend_rows = self._count_legend_rows()
        self._figure.set_size_inches(*self._size())
        self._boxes = self._layout()
        self._reports: dict[str, str] = {}

    # The map is laid out in points from its top: rows of a fixed height, then the legend.
    _TOP, _GAP, _LEGEND_ROW, _BOTTOM = 14.0, 10.0, 12.0, 6.0

    @property
    def row_height(self) -> float:
        """The height of one drawn row, in points: at least 11 (a row's offset, a block's
        number fit in it) up to :data:`_MAX_ROWS` rows, the picture growing to hold them;
        thinner for the 4 KiB rows of a bigger image."""
        if self.rows <= _MAX_ROWS:
            return max(_MIN_ROW, min(20.0, 280.0 / self.rows))
        return max(5.5, 280.0 / self.rows)

    def _count_legend_rows(self) -> int:
        """How many rows the legend takes at this figure's width (measured once)."""
        ax = schematic_axes(self._figure, xlim=self._xlim(), ylim=(100, 0))
        last = draw_legend(ax, [*self._kinds, *MARKS.values()], 0, 0, row_gap=1.0,
                           right=self.row_bytes)
        self._figure.clear()
        return round(last) + 1

    def _xlim(self) -> tuple[float, float]:
        return -0.075 * self.row_bytes, 1.01 * self.row_bytes

    def _size(self) -> tuple[float, float]:
        points = (self._TOP + self.rows * self.row_height + self._GAP
                  + self._legend_rows * self._LEGEND_ROW + self._BOTTOM)
        return 9.0, points / 0.98 / 72

    # --- state ---------------------------------------------------------------------------------
    def make_controls(self) -> dict[str, widgets.Widget]:
        """Row width, a file chooser, a byte-offset box and region-stepping buttons."""
        return {
            "row": widgets.Dropdown(options=[(f"{rb} bytes/row", rb) for rb in self.row_choices],
                                    value=self.row_bytes, description="row"),
            "file": widgets.Dropdown(options=[("(no file)", ""), ("/ (root)", "/"),
                                              *((p, p) for p in self.paths)],
                                     value=self.file, description="file"),
            "byte": widgets.Text(value="" if self.byte is None else f"0x{self.byte:x}",
                                 description="byte", continuous_update=False),
            "prev": widgets.Button(description="◀ region"),
            "next": widgets.Button(description="region ▶"),
        }

    def on_change(self, name: str, value: object) -> None:
        """Pick a file, or a byte (decimal or 0x hex)."""
        if name == "row":
            self.row_bytes = int(value)  # type: ignore[call-overload]
            self.rows = max(1, -(-self.length // self.row_bytes))
            self._figure.set_size_inches(*self._size())
            self._boxes = self._layout()
        elif name == "file":
            self.file = str(value)
            self.focus = "file"
        elif name == "byte":
            text = str(value).strip()
            self.byte_text = text
            try:
                self.byte = int(text, 0) if text else None
            except ValueError:
                self.byte = None
            self.focus = "byte"

    def on_press(self, name: str) -> None:
        """Step ``byte`` to the start of the previous or next region (from no byte or one
        before the image: to the first region; from one past its end: to the last)."""
        last = len(self.regions) - 1
        if self.byte is not None and self.byte >= self.length:
            i = last
        elif self.byte is None or self.byte < 0:
            i = 0
        else:
            i = bisect.bisect_right(self._starts, self.byte) - 1
            i = min(last, i + 1) if name == "next" else max(0, i - 1)
        self.byte = self.regions[i].start
        self.focus = "byte"
        if self._controls is not None:
            box = self._controls["byte"]
            box.unobserve_all("value")  # only the redraw handler: the box keeps its own
            box.value = f"0x{self.byte:x}"  # type: ignore[attr-defined]
            box.observe(self._changed_handler("byte"), names="value")

    @property
    def region(self) -> Region | None:
        """The region of the chosen byte (None without a valid byte)."""
        if self.byte is None or not 0 <= self.byte < self.length:
            return None
        return region_at(self.regions, self.byte)

    def file_regions(self, path: str | None = None) -> tuple[Region, ...]:
        """The regions of ``path`` (default: the chosen file): inode, name, pointers, blocks.

        For a directory: its inode and name, and the entries it holds.
        """
        path = self.file if path is None else path
        if not path:
            return ()
        owner = "/" if path in ("/", "") else path
        entry = _entry_by_path(self.image, path)
        mine = [r for r in self.regions if r.owner == owner and r.kind in ("inode", "name")]
        if _has_data(entry):  # a file with the same contents as another shares its data
            mine += self._data_regions(entry)
        elif entry.is_dir() and entry.size:  # a directory's data: its entries
            end = entry.data_offset + entry.size
            mine += [r for r in self.regions if entry.data_offset <= r.start < end]
        return tuple(mine)

    def _data_regions(self, entry: Entry) -> tuple[Region, ...]:
        spans = {(entry.data_offset, entry.data_offset + 4 * len(self.image.blocks(entry)))}
        for b in self.image.blocks(entry):
            spans.add((b.start - 2 if b.kind is BlockKind.DIRECT_COMPRESSED else b.start, b.end))
        return tuple(r for r in self.regions if (r.start, r.end) in spans)

    # --- picture -------------------------------------------------------------------------------
    def _segments(self, start: int, end: int) -> list[tuple[int, int, int]]:
        """(row, x0, x1) pieces of a byte range cut at the row (page) boundaries."""
        out = []
        while start < end:
            rb = self.row_bytes
            row = start // rb
            stop = min(end, (row + 1) * rb)
            out.append((row, start - row * rb, stop - row * rb))
            start = stop
        return out

    def _row_top(self, row: int) -> float:
        return self._TOP + row * self.row_height

    def _rects(self, start: int, end: int) -> list[tuple[float, float, float, float]]:
        """``(x0, y0, x1, y1)`` boxes of a byte range, one per row it touches (y downward)."""
        rects = []
        h = self.row_height
        for row, x0, x1 in self._segments(start, end):
            x1 = max(x1, x0 + self.row_bytes / 512)  # a 4-byte field stays visible
            top = self._row_top(row)
            rects.append((x0, top + 0.1 * h, x1, top + 0.9 * h))
        return rects

    def _layout(self) -> dict[str, list[Rectangle]]:
        """The boxes of every region, by kind (one collection each when drawn; made once per
        row width: a collection only reads them)."""
        boxes: dict[str, list[Rectangle]] = {}
        for r in self.regions:
            boxes.setdefault(r.kind, []).extend(
                Rectangle((x0, y0), x1 - x0, y1 - y0)
                for x0, y0, x1, y1 in self._rects(r.start, r.end))
        return boxes

    def _xy(self, offset: int) -> tuple[float, float]:
        return offset % self.row_bytes, self._row_top(offset // self.row_bytes) \
            + self.row_height / 2

    def draw(self, fig: Figure) -> None:
        """Rows of bytes, each region filled and hatched by kind, the row offsets at the left;
        the chosen file's regions outlined, with arrows from its pointers to its blocks and
        each block's number on it; the chosen byte's region outlined; the legend."""
        rb = self.row_bytes
        height = fig.get_figheight() * 72 * 0.98
        ax = schematic_axes(fig, xlim=self._xlim(), ylim=(height, 0))
        h = self.row_height
        frames = [Rectangle((0, self._row_top(row) + 0.1 * h),
                            min(rb, self.length - row * rb), 0.8 * h)
                  for row in range(self.rows)]
        for key, rects in self._boxes.items():
            coll = kind_collection(rects, REGION_STYLES[key])
            coll.set_edgecolor("#ffffff")  # a hairline between neighbouring regions
            coll.set_linewidth(0.3)
            ax.add_collection(coll)
        ax.add_collection(PatchCollection(frames, facecolors="none",
                                          edgecolors=PALETTE["edge"], linewidths=0.5))
        gutter = self._xlim()[0]
        for row in self._labelled_rows():
            top = self._row_top(row)
            box_label(ax, (gutter, top, -0.004 * rb, top + h), f"0x{row * rb:05x}",
                      fontsize=7, color=PALETTE["muted"], family="monospace")
        if self.file:
            self._draw_file(ax)
        region = self.region
        if region is not None:
            ax.add_collection(kind_collection(
                [Rectangle((x0, y0), x1 - x0, y1 - y0)
                 for x0, y0, x1, y1 in self._rects(region.start, region.end)],
                MARKS["chosen-byte"]))
            x, y = self._xy(self.byte or 0)
            ax.plot([x], [y - 0.5 * h - 3], marker="v", color=PALETTE["highlight"],
                    markersize=7)
        legend_y = self._row_top(self.rows) + self._GAP + self._LEGEND_ROW / 2
        draw_legend(ax, [*self._kinds, *MARKS.values()], 0, legend_y,
                    row_gap=self._LEGEND_ROW, right=rb)

    def _labelled_rows(self) -> list[int]:
        """The rows whose offset is written at their left: every row up to :data:`_MAX_ROWS`;
        past that every few (11 pt apart, at most 8), and the rows of the chosen file and the
        chosen byte where they have room."""
        if self.rows <= _MAX_ROWS:
            return list(range(self.rows))
        apart = math.ceil(11 / self.row_height)
        rows = set(range(0, self.rows, max(apart, -(-self.rows // 8))))
        wanted = {r.start // self.row_bytes for r in self.file_regions()} if self.file else set()
        if self.region is not None:
            wanted.add((self.byte or 0) // self.row_bytes)
        for row in sorted(wanted):
            if all(abs(row - other) >= apart for other in rows):
                rows.add(row)
        return sorted(rows)

    def _draw_file(self, ax: Axes) -> None:
        """The chosen file: its regions outlined, arrows pointer -> block, block numbers."""
        hl = PALETTE["highlight"]
        mine = self.file_regions()
        outline = [rect for r in mine for rect in self._rects(r.start, r.end)]
        if outline:
            ax.add_collection(kind_collection(
                [Rectangle((x0, y0), x1 - x0, y1 - y0) for x0, y0, x1, y1 in outline],
                MARKS["chosen-file"]))
        entry = _entry_by_path(self.image, self.file)
        self._label_inodes(ax, mine)
        if not _has_data(entry):
            return
        drawn = [b for b in self.image.blocks(entry)[:16] if b.kind is not BlockKind.HOLE]
        for k, b in enumerate(drawn):
            start = self._xy(b.pointer_offset + 2)
            end = self._arrow_end(b.pointer_offset, b.start)
            bend = self._bend(ax, start, end, k)
            ax.add_patch(FancyArrowPatch(
                start, end, arrowstyle="->", connectionstyle=f"arc3,rad={bend:.3f}",
                shrinkA=0, shrinkB=0, mutation_scale=8, color=hl, lw=0.9))
        for r in self._data_regions(entry):
            if r.index < 0:
                continue
            x0, y0, x1, y1 = self._rects(r.start, r.end)[0]
            fitting = first_fitting(ax, (f"block {r.index}", f"b{r.index}", str(r.index)),
                                    (x1 - x0) * 0.9, 7)
            if fitting is None or y1 - y0 < 7:
                continue
            kind = REGION_STYLES[r.kind]
            box_label(ax, (x0, y0, x1, y1), fitting, fontsize=7,
                      color="#ffffff" if r.kind in _DARK else PALETTE["text"],
                      **label_backing(kind))

    def _label_inodes(self, ax: Axes, mine: Sequence[Region]) -> None:
        """The chosen file's inode says so on its box ("root inode" for /, at 0x40 in the
        superblock); a directory's entries' inodes carry their names; where they fit."""
        owner = "/" if self.file in ("/", "") else self.file
        for r in mine:
            if r.kind != "inode":
                continue
            if r.owner == owner:
                texts: tuple[str, ...] = ("root inode", "root", "/") if owner == "/" \
                    else ("inode",)
            else:
                name = r.owner.rsplit("/", 1)[-1]
                texts = (name, *(name[:k] + "…" for k in range(len(name) - 1, 0, -1)))
            x0, y0, x1, y1 = self._rects(r.start, r.end)[0]
            fitting = first_fitting(ax, texts, (x1 - x0) * 0.92, 7)
            if fitting is not None and y1 - y0 >= 7:
                box_label(ax, (x0, y0, x1, y1), fitting, fontsize=7, color=PALETTE["text"])

    def _arrow_end(self, pointer: int, block: int) -> tuple[float, float]:
        """Where the arrow from the pointer at byte ``pointer`` to the block starting at byte
        ``block`` ends: at the block's start, on the edge of its box that faces the pointer's
        row (the top edge of a block below it), so the head stays off the block's number."""
        x, y = self._xy(block)
        rows = block // self.row_bytes - pointer // self.row_bytes
        edge = 0.4 * self.row_height if rows else 0.0
        return x, y - edge if rows > 0 else y + edge

    def _bend(self, ax: Axes, start: tuple[float, float], end: tuple[float, float],
              k: int = 0) -> float:
        """How much an arrow from ``start`` to ``end`` curves (matplotlib's ``arc3`` rad),
        towards the middle of the map, so it never leaves the picture (a mostly vertical arrow
        at the left edge bends right, into the map, not into the row offsets). The ``k``-th
        arrow of a file bulges more than the one before: arrows from one pointer table to
        blocks stacked at the start of their rows fan out instead of running together."""
        (x0, y0), (x1, y1) = ax.transData.transform([start, end])
        dist = math.hypot(x1 - x0, y1 - y0)
        if dist < 1:
            return 0.0
        px_per_pt = ax.figure.dpi / 72
        bulge = min(0.8 * self.row_height, 12.0) * (1 + 1.5 * k) * px_per_pt
        size = min(0.25 + 0.1 * k, bulge / dist, 0.7)
        # arc3 puts its control point rad * (dy, -dx) from the middle (display, y up): take the
        # sign that moves it towards the centre of the rows
        (cx, cy) = ax.transData.transform(
            (self.row_bytes / 2, self._row_top(0) + self.rows * self.row_height / 2))
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        towards = (y1 - y0) * (cx - mx) - (x1 - x0) * (cy - my)
        return size if towards >= 0 else -size

    def alt_text(self) -> str:
        """The description, and what the map shows: its rows and the kinds of region in it."""
        kinds = ", ".join(k.key for k in self._kinds)
        drawn = (f"the map: {self.rows} row(s) of {self.row_bytes} bytes; region kinds: "
                 f"{kinds}")
        if self.file:
            drawn += f"; {self.file}'s regions outlined, arrows from its pointers to its blocks"
        return self.describe() + "\n" + drawn

    # --- text ----------------------------------------------------------------------------------
    def describe(self) -> str:
        """The chosen file's inode and blocks, or the chosen byte's region."""
        pages = -(-self.length // ROW_BYTES[0])
        head = (f"image: {self.length} bytes ({pages} page(s) of {ROW_BYTES[0]}), "
                f"{len(self.regions)} regions, flags "
                f"{', '.join(flag_names(self.image.superblock.flags))}")
        if self.focus == "byte":
            last = f"0..0x{self.length - 1:x}"
            if self.byte is None and self.byte_text:
                return head + (f"\n{self.byte_text!r} is not a number: type an offset, decimal "
                               f"(4096) or hex (0x1000), in {last}")
            if self.byte is None:
                return head + "\nbyte: type an offset (decimal or 0x hex)"
            if self.byte < 0:
                return head + (f"\nbyte {self.byte}: offsets count up from 0, the first byte "
                               f"of the image; this image's bytes are {last}")
            if self.byte >= self.length:
                return head + f"\nbyte 0x{self.byte:x} is outside the image, past its end ({last})"
            return head + "\n" + explain_byte(self.image, self.regions, self.byte)
        if not self.file:
            return head + "\nchoose a file, or type a byte offset"
        report = self._reports.get(self.file)
        if report is None:
            report = self._reports[self.file] = file_report(self.image, self.file)
        return head + "\n" + report


# --- the drill ---------------------------------------------------------------------------------


def _drill_tree(rng: random.Random) -> tuple[Dir, tuple[str, ...]]:
    """A small random tree: two or three text files, one or two ELF executables, a symlink."""
    words = (b"flash ", b"page ", b"inode ", b"cramfs ", b"zlib ", b"block ", b"xip ")
    files: dict[str, File | Symlink] = {}
    for i in range(rng.randint(2, 3)):
        text = b"".join(rng.choice(words) for _ in range(rng.randint(200, 1800)))
        files[f"note{i}.txt"] = File(text)
    bins: dict[str, File] = {}
    for name in rng.sample(("ls", "sh", "cat", "init"), rng.randint(1, 2)):
        pages = rng.randint(1, 3)
        size = pages * 4096 - rng.choice((0, 0, 300, 1000))
        data_page = rng.random() < 0.5 and pages > 1
        segs = [(PF_R | PF_X, 0, size if not data_page else (pages - 1) * 4096)]
        if data_page:
            segs.append((PF_R | PF_W, (pages - 1) * 4096, size - (pages - 1) * 4096))
        bins[name] = File(make_elf(segs, size, fill=name.encode() * 3 + b" text "), mode=0o755)
    link = rng.choice(sorted(bins))
    files["link"] = Symlink(f"bin/{link}")
    tree = Dir({"bin": Dir(bins), "etc": Dir(files)})
    paths = tuple([f"bin/{n}" for n in sorted(bins)] + [f"etc/{n}" for n in sorted(files)])
    return tree, paths


class ImageOffsetDrill(Drill):
    """Where is it in this image? Seeded problems on a small seeded XIP image (``drill.image``).

    Three kinds of problem: the byte where a file's block pointers start (its inode's offset
    field times 4), the byte where block ``i`` of a file starts, and the kind of region at a
    byte. Offsets may be answered as ints or strings (``"0x1000"``); kinds as the names of
    :data:`REGION_KINDS`. Open ``ImageMapExplorer(drill.image)`` to look.

    Model helper: no kernel counterpart.
    """

    def __init__(self, seed: int = 2017) -> None:
        rng = random.Random(seed)
        tree, self.paths = _drill_tree(rng)
        self.image = build_image(tree, endian="little", name=f"drill-{seed}", xip=("bin/*",))
        self.cramfs = open_image(self.image)
        self.regions = image_regions(self.cramfs)
        super().__init__(seed)

    def make(self) -> tuple[str, object]:
        """Draw one problem: pointers, block start or region kind (never the same twice)."""
        before = getattr(self, "_problem", None)
        problem = self._draw()
        for _ in range(20):
            if problem[0] != before:
                break
            problem = self._draw()
        return problem

    def _draw(self) -> tuple[str, object]:
        img = self.cramfs
        what = ("pointers", "block", "kind")[self.number % 3]
        data = [p for p in self.paths if _has_data(img.lookup(p))]
        path = self.rng.choice(data)
        entry = img.lookup(path)
        if what == "pointers":
            return (f"In drill.image, at which byte do the block pointers of {path} start? "
                    f"(its inode is at 0x{entry.inode_offset:x})", entry.data_offset)
        if what == "block":
            blocks = [b for b in img.blocks(entry) if b.kind is not BlockKind.HOLE]
            b = self.rng.choice(blocks)
            return (f"In drill.image, at which byte does block {b.index} of {path} start "
                    "(its first stored byte)?",
                    b.start - 2 if b.kind is BlockKind.DIRECT_COMPRESSED else b.start)
        kinds = ("inode", "name", "pointers", "compressed", "uncompressed", "direct")
        candidates = [r for r in self.regions if r.kind in kinds]
        r = self.rng.choice(candidates)
        offset = self.rng.randrange(r.start, r.end)
        return (f"In drill.image, what kind of region is byte 0x{offset:x}? "
                f"(one of: {', '.join(REGION_KINDS)})", r.kind)

    def same(self, given: object, answer: object) -> bool:
        """Offsets compare as numbers, and text is read in hex as the map and the problems
        write offsets (``"0x1ed4"`` and ``"1ed4"`` count; the int ``7892`` too); kinds compare
        case-insensitively."""
        if isinstance(answer, int):
            return not isinstance(given, bool) and same_value(given, answer, hex_text=True)
        return isinstance(given, str) and given.strip().lower() == str(answer)

