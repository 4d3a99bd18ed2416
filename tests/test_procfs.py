"""/proc/PID/maps: the model prints every line of this process's real maps byte for byte."""

import pytest

from mmlab import procfs
from mmlab.fs import MKDEV, File, Inode, SuperBlock
from mmlab.mm import MM, VM_EXEC, VM_MAYSHARE, VM_READ, VM_WRITE, Vma, VmOperations

MODEL = MM()  # VMAs without an mm are gate VMAs, which print as [vdso]


def vma_for(line: procfs.MapsLine) -> Vma:
    """A model VMA that should print exactly as the real line does."""
    flags = (
        (VM_READ if line.perms[0] == "r" else 0)
        | (VM_WRITE if line.perms[1] == "w" else 0)
        | (VM_EXEC if line.perms[2] == "x" else 0)
        | (VM_MAYSHARE if line.perms[3] == "s" else 0)
    )
    vma = Vma(line.start, line.end, flags, line.offset >> 12, vm_mm=MODEL)
    if line.inode or (line.path and not line.path.startswith("[")):
        inode = Inode(line.inode, 0, SuperBlock(MKDEV(line.major, line.minor)))
        vma.vm_file = File(inode, f_path=line.path)
    elif line.path:
        vma.vm_ops = VmOperations(name=lambda v, name=line.path: name)
    return vma


def test_every_line_of_the_real_maps_is_reproduced_exactly():
    with open("/proc/self/maps") as f:
        raw = f.read().splitlines()
    parsed = procfs.parse_maps("\n".join(raw))
    assert len(parsed) == len(raw) > 10
    for text, line in zip(raw, parsed, strict=True):
        assert procfs.format_vma(vma_for(line)) == text


def test_name_column_and_trailing_space():
    anon = Vma(0x7F0000000000, 0x7F0000001000, VM_READ, vm_mm=MODEL)
    assert procfs.format_vma(anon) == "7f0000000000-7f0000001000 r--p 00000000 00:00 0 "
    named = Vma(0x1000, 0x2000, VM_READ, vm_ops=VmOperations(name=lambda v: "[vvar]"), vm_mm=MODEL)
    text = procfs.format_vma(named)
    assert text.index("[vvar]") == 73  # pad column 72, then one more space
    assert procfs.format_vma(named, bits=32).index("[vvar]") == 49
    assert procfs.format_vma(Vma(0x1000, 0x2000, VM_READ)).endswith(" [vdso]")  # no mm: gate


def test_parse_maps_rejects_garbage_with_the_line_number():
    with pytest.raises(ValueError, match="line 2"):
        procfs.parse_maps("00400000-00401000 r-xp 00000000 08:01 1 /bin/x\nnot a maps line\n")
