"""ELF for XIP: ``include/uapi/linux/elf.h`` @ v4.15 headers, read as mkcramfs ``is_elf_loadable``.

Just enough ELF to decide which pages of a file can execute in place.  Reads
the ELF header and the program header table with :mod:`struct`, for 32- and
64-bit files in either byte order (``EI_CLASS``/``EI_DATA``), as laid out in
the System V gABI (``include/uapi/linux/elf.h @ v4.15``,
https://elixir.bootlin.com/linux/v4.15/source/include/uapi/linux/elf.h).

The XIP rule is the one of Nicolas Pitre's ``mkcramfs -X``
(``is_elf_loadable()`` in github.com/npitre/cramfs-tools ``mkcramfs.c``): a
block is stored uncompressed and page aligned when its file range overlaps the
file range (``p_offset``, ``p_filesz``) of a ``PT_LOAD`` segment with ``PF_R``
or ``PF_X`` set and ``PF_W`` clear.  mkcramfs only understands host-endian
ELF32; this module generalises it to ELF64 and to the other byte order.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "PT_LOAD",
    "PF_X",
    "PF_W",
    "PF_R",
    "Segment",
    "ElfInfo",
    "is_elf",
    "parse_elf",
    "readonly_load_segments",
    "xip_blocks",
    "make_elf",
]

ELFMAG = b"\x7fELF"
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB, ELFDATA2MSB = 1, 2
EV_CURRENT = 1
PT_LOAD = 1
PF_X, PF_W, PF_R = 1, 2, 4

# e_phoff and e_phnum positions/formats per class (after the 16-byte e_ident)
_EHDR = MappingProxyType({
    ELFCLASS32: ("HHIIIIIHHHHHH", 52),  # type machine version entry phoff shoff flags ...
    ELFCLASS64: ("HHIQQQIHHHHHH", 64),
})
_PHDR = MappingProxyType({
    # p_type, p_offset, p_filesz, p_flags extracted below
    ELFCLASS32: ("IIIIIIII", 32),  # type offset vaddr paddr filesz memsz flags align
    ELFCLASS64: ("IIQQQQQQ", 56),  # type flags offset vaddr paddr filesz memsz align
})


@dataclass(frozen=True)
class Segment:
    """One program header: type, flags and its file range.

    Kernel: ``struct elf32_phdr`` in `include/uapi/linux/elf.h @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/include/uapi/linux/elf.h#L244>`_.
    """

    p_type: int
    p_flags: int
    p_offset: int
    p_filesz: int

    @property
    def readonly_loadable(self) -> bool:
        """``PT_LOAD`` with ``PF_R`` or ``PF_X`` and without ``PF_W`` (mkcramfs' XIP test).

        cramfs-tools: ``is_elf_loadable`` in `mkcramfs.c
        <https://github.com/npitre/cramfs-tools/blob/master/mkcramfs.c>`_.
        """
        return (
            self.p_type == PT_LOAD
            and bool(self.p_flags & (PF_R | PF_X))
            and not self.p_flags & PF_W
        )


@dataclass(frozen=True)
class ElfInfo:
    """What :func:`parse_elf` found: class (32/64), byte order and the program headers.

    Model helper: no kernel counterpart.
    """

    bits: int
    endian: str
    segments: tuple[Segment, ...]


def is_elf(data: bytes | memoryview) -> bool:
    """True when ``data`` starts with the ELF magic ``\\x7fELF``.

    Model helper: no kernel counterpart.
    """
    return bytes(data[:4]) == ELFMAG


def parse_elf(data: bytes | memoryview) -> ElfInfo | None:
    """Parse the ELF and program headers; None if it is no (complete) ELF file.

    Mirrors mkcramfs' sanity checks: the header fits in the file,
    ``EI_VERSION == EV_CURRENT``, and the program header table
    (``e_phoff + e_phnum * e_phentsize``) lies inside the file.  Unlike
    mkcramfs the program header entry size is taken from ``e_phentsize``
    (must be at least the standard size).

    cramfs-tools: ``is_elf_loadable`` in `mkcramfs.c
    <https://github.com/npitre/cramfs-tools/blob/master/mkcramfs.c>`_.
    """
    data = memoryview(data)
    if len(data) < 16 or bytes(data[:4]) != ELFMAG:
        return None
    ei_class, ei_data, ei_version = data[4], data[5], data[6]
    if ei_class not in _EHDR or ei_data not in (ELFDATA2LSB, ELFDATA2MSB):
        return None
    if ei_version != EV_CURRENT:
        return None
    bo = "<" if ei_data == ELFDATA2LSB else ">"
    efmt, esize = _EHDR[ei_class]
    if len(data) < esize:
        return None
    fields = struct.unpack_from(bo + efmt, data, 16)
    e_phoff = fields[4]
    e_phentsize, e_phnum = fields[8], fields[9]
    pfmt, psize = _PHDR[ei_class]
    if e_phnum and e_phentsize < psize:
        return None
    if e_phoff + e_phnum * e_phentsize > len(data):
        return None
    segs = []
    for i in range(e_phnum):
        v = struct.unpack_from(bo + pfmt, data, e_phoff + i * e_phentsize)
        if ei_class == ELFCLASS32:
            p_type, p_offset, p_filesz, p_flags = v[0], v[1], v[4], v[6]
        else:
            p_type, p_flags, p_offset, p_filesz = v[0], v[1], v[2], v[5]
        segs.append(Segment(p_type, p_flags, p_offset, p_filesz))
    return ElfInfo(32 if ei_class == ELFCLASS32 else 64,
                   "little" if ei_data == ELFDATA2LSB else "big", tuple(segs))


def readonly_load_segments(info: ElfInfo) -> list[Segment]:
    """The segments whose pages are stored for XIP (see :attr:`Segment.readonly_loadable`).

    Model helper: no kernel counterpart.
    """
    return [s for s in info.segments if s.readonly_loadable]


def xip_blocks(info: ElfInfo, size: int, blksize: int) -> list[bool]:
    """Per block of a ``size``-byte file: does it overlap a read-only loadable segment?

    Block ``i`` covers ``[i*blksize, (i+1)*blksize)``; it overlaps segment
    ``s`` when ``s.p_offset < (i+1)*blksize`` and ``s.p_offset + s.p_filesz >
    i*blksize`` -- exactly mkcramfs' ``is_elf_loadable()`` test (so a
    zero-length segment still marks the block holding its start, unless it
    starts on the block boundary).

    cramfs-tools: ``is_elf_loadable`` in `mkcramfs.c
    <https://github.com/npitre/cramfs-tools/blob/master/mkcramfs.c>`_.
    """
    nblocks = (size - 1) // blksize + 1 if size else 0
    out = [False] * nblocks
    for s in readonly_load_segments(info):
        end = s.p_offset + s.p_filesz
        first = s.p_offset // blksize
        for i in range(first, nblocks):
            lo = i * blksize
            if s.p_offset >= lo + blksize:
                continue
            if end <= lo:
                break
            out[i] = True
    return out


def make_elf(
    segments: list[tuple[int, int, int]],
    size: int,
    *,
    bits: int = 32,
    endian: str = "little",
    machine: int = 0x28,
    fill: bytes | None = None,
) -> bytes:
    """A synthetic ELF executable of ``size`` bytes for tests and the course samples.

    ``segments`` are ``(p_flags, p_offset, p_filesz)`` triples, all emitted as
    ``PT_LOAD`` (``p_vaddr = p_paddr = 0x10000 + p_offset``, ``p_align =
    0x1000``).  The program header table follows the ELF header; the rest of
    the file is ``fill`` repeated (default: a deterministic, partly
    compressible pattern).  It is not a runnable program -- only its headers
    matter to :func:`xip_blocks`.

    Model helper: no kernel counterpart.
    """
    if bits not in (32, 64) or endian not in ("little", "big"):
        raise ValueError("bits must be 32 or 64 and endian 'little' or 'big'")
    cls = ELFCLASS32 if bits == 32 else ELFCLASS64
    bo = "<" if endian == "little" else ">"
    efmt, esize = _EHDR[cls]
    pfmt, psize = _PHDR[cls]
    if size < esize + psize * len(segments):
        raise ValueError(f"{size} bytes cannot hold the ELF and {len(segments)} program headers")
    if fill is None:
        fill = b"".join(b"mmlab cramfs xip %06d " % i + bytes(range(i % 7, 40, 3))
                        for i in range(64))
    body = (fill * (size // len(fill) + 1))[:size]
    ident = ELFMAG + bytes([cls, ELFDATA2LSB if endian == "little" else ELFDATA2MSB,
                            EV_CURRENT, 0]) + bytes(8)
    # e_type=ET_EXEC, e_machine, e_version, e_entry, e_phoff, e_shoff, e_flags, e_ehsize,
    # e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
    ehdr = ident + struct.pack(bo + efmt, 2, machine, EV_CURRENT, 0x10000, esize, 0, 0, esize,
                               psize, len(segments), 0, 0, 0)
    phdrs = b""
    for flags, off, filesz in segments:
        vaddr = 0x10000 + off
        if cls == ELFCLASS32:
            phdrs += struct.pack(bo + pfmt, PT_LOAD, off, vaddr, vaddr, filesz, filesz, flags,
                                 0x1000)
        else:
            phdrs += struct.pack(bo + pfmt, PT_LOAD, flags, off, vaddr, vaddr, filesz, filesz,
                                 0x1000)
    head = ehdr + phdrs
    return head + body[len(head):]
