"""Sample cramfs images as ``mkfs.cramfs`` and ``mkcramfs -X`` make them, rebuilt reproducibly.

The course's samples: ``python -m mmlab.cramfs.samples DIR``.

cramfs stores no timestamps and the tree below is generated in code, so the
bytes (and the sha256 sums written to ``DIR/SAMPLES.md``) are the same on
every machine with the same zlib (compression output is zlib-version
specific; these were made with zlib 1.2.13).  ``make data`` runs this for the
``data/`` directory.

The tree: a few text files, a tiny 32-bit ELF program and a 64-bit ELF
shared library (synthetic headers from :func:`mmlab.cramfs.elf.make_elf`: a
read-only ``R``, an executable ``R X`` and a writable ``R W`` segment), a
symlink, an identical copy of a file, an empty file, a file with a run of
zero pages, and two device nodes.  The classic images are what
``mkfs.cramfs`` makes of it (the equivalent command lines are in
``SAMPLES.md``); the XIP one is what ``mkcramfs -X -X`` makes, with only
``bin/*`` and ``lib/*.so*`` looked at for XIP.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from .elf import PF_R, PF_W, PF_X, make_elf
from .tree import Device, Dir, File, Symlink
from .writer import build_image

__all__ = ["Sample", "SAMPLES", "sample_tree", "build_samples", "main"]

MOTD = b"""Welcome to mmlab.

This image is a cramfs file system: every file is cut into pages that are
compressed one by one, so the kernel can read (and, with XIP, map) any page
without touching the others.
"""

README = b"""mmlab sample image

  bin/hello          32-bit ELF: text (R X) pages are XIP in xip.cramfs
  lib/libmm.so.1     64-bit ELF shared library: rodata + text XIP, data compressed
  etc/motd           text, compressed
  share/motd.copy    identical to etc/motd: stored once (same data offset, same inode number)
  var/sparse         a page of text, 3 zero pages, a tail: holes with -z
"""


def sample_tree() -> Dir:
    """The tree every sample image is built from (root owned by 0:0, mode 0755).

    Model helper: no kernel counterpart.
    """
    hello = make_elf([(PF_R | PF_X, 0, 0x1400), (PF_R | PF_W, 0x2000, 0x300)], 0x2300,
                     bits=32, endian="little", machine=0x28)
    libmm = make_elf([(PF_R, 0, 0x0C00), (PF_R | PF_X, 0x1000, 0x2200),
                      (PF_R | PF_W, 0x4000, 0x0900)], 0x4900, bits=64, endian="little",
                     machine=0x3E)
    sparse = (MOTD * 50)[:4096] + bytes(3 * 4096) + b"end of the sparse file\n"
    return Dir({
        "README": File(README),
        "bin": Dir({"hello": File(hello, mode=0o755)}),
        "lib": Dir({"libmm.so.1": File(libmm, mode=0o755), "libmm.so": Symlink("libmm.so.1")}),
        "etc": Dir({"motd": File(MOTD), "hostname": File(b"mmlab\n"), "empty": File(b"")}),
        "share": Dir({"motd.copy": File(MOTD)}),
        "var": Dir({"sparse": File(sparse)}),
        "dev": Dir({"console": Device("c", os.makedev(5, 1), mode=0o600),
                    "null": Device("c", os.makedev(1, 3), mode=0o666)}),
    })


@dataclass(frozen=True)
class Sample:
    """One image: file name, build_image keywords, and how to make it with the C tools.

    Model helper: no kernel counterpart.
    """

    filename: str
    options: Mapping[str, object] = field(default_factory=dict)
    command: str = ""
    purpose: str = ""

    def __post_init__(self) -> None:
        # SAMPLES is a public table: keep its keyword sets read-only too.
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))


SAMPLES: tuple[Sample, ...] = (
    Sample("classic.cramfs", {"endian": "little", "name": "mmlab-classic"},
           "mkfs.cramfs -N little -n mmlab-classic TREE classic.cramfs",
           "the classic layout: every block zlib-compressed, little-endian, 4 KiB blocks"),
    Sample("xip.cramfs", {"endian": "little", "name": "mmlab-xip", "xip": ("bin/*", "lib/*.so*")},
           "mkcramfs -X -X -n mmlab-xip TREE xip.cramfs (npitre/cramfs-tools; it looks at "
           "every file, mmlab only at the xip globs bin/* lib/*.so*)",
           "XIP layout: read-only ELF pages uncompressed, page aligned, direct pointers"),
    Sample("classic-be.cramfs", {"endian": "big", "name": "mmlab-be"},
           "mkfs.cramfs -N big -n mmlab-be TREE classic-be.cramfs",
           "the same tree big-endian (a little-endian kernel says \"wrong endianness\")"),
    Sample("classic-16k.cramfs", {"endian": "little", "blocksize": 16384, "name": "mmlab-16k"},
           "mkfs.cramfs -N little -b 16384 -n mmlab-16k TREE classic-16k.cramfs",
           "16 KiB blocks (for a 16 KiB-page kernel; a 4 KiB-page kernel misreads it)"),
    Sample("holes.cramfs", {"endian": "little", "holes": True, "name": "mmlab-holes"},
           "mkfs.cramfs -N little -z -n mmlab-holes TREE holes.cramfs",
           "explicit holes (-z): zero pages of var/sparse stored as empty blocks"),
)


def build_samples(directory: str | os.PathLike) -> list[tuple[Sample, str, int]]:
    """Write every sample image and ``SAMPLES.md`` into ``directory``; (sample, sha256, size).

    Model helper: no kernel counterpart.
    """
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    tree = sample_tree()
    made = []
    for sample in SAMPLES:
        image = build_image(tree, **sample.options)
        (out / sample.filename).write_bytes(image)
        made.append((sample, hashlib.sha256(image).hexdigest(), len(image)))
    lines = [
        "# Sample cramfs images (generated)",
        "",
        "Made by `python -m mmlab.cramfs.samples data` (`make data`) from the tree in",
        "`mmlab.cramfs.samples.sample_tree()`; do not edit by hand. The classic images are",
        "byte-identical to what the `mkfs.cramfs` command shown makes of that tree written to",
        "a directory as root (`mmlab.cramfs.tree.materialize`); TREE is that directory.",
        "",
    ]
    for sample, digest, size in made:
        lines.append(f"- `{sample.filename}` ({size} bytes): {sample.purpose}. Made as "
                     f"`{sample.command}`; sha256 `{digest}`")
    (out / "SAMPLES.md").write_text("\n".join(lines) + "\n")
    return made


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m mmlab.cramfs.samples DIR``.

    Model helper: no kernel counterpart.
    """
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m mmlab.cramfs.samples DIR", file=sys.stderr)
        return 2
    for sample, digest, size in build_samples(args[0]):
        print(f"{sample.filename:22} {size:7} bytes  sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
