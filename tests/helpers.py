"""Small helpers the model tests share."""

from mmlab import fs, xip
from mmlab.cramfs import open_image
from mmlab.cramfs.tree import Dir, File
from mmlab.cramfs.writer import build_image
from mmlab.system import System


def model_file(data: bytes, path: str = "/model/f", mode: int = fs.FMODE_READ) -> fs.File:
    """A file of the model filesystem (``generic_file_mmap``, ``model_readpage``)."""
    return fs.file_from_bytes(data, path, mode=mode)


def xip_files(system: System, strategy: str = "mixedmap",
              **files: bytes) -> dict[str, tuple[fs.File, int]]:
    """Burn a cramfs image holding ``files`` (every block XIP) into ``system``'s flash, mount it.

    Returns ``{name: (open file, physical address of its first block)}``: the files' mmap is
    ``mmlab.xip.cramfs_physmem_mmap`` under ``strategy``. An ELF file's read-only segments
    decide which of its blocks are XIP; any other file is XIP throughout.
    """
    image = build_image(Dir({name: File(data) for name, data in files.items()}),
                        endian="little", xip=("*",))
    sb = xip.mount(image, None, strategy, system=system)
    img = open_image(image)
    out = {}
    for name in files:
        target = img.blocks(img.lookup(name))[0].target
        out[name] = (sb.open("/" + name), sb.linear_phys_addr + (target or 0))
    return out
