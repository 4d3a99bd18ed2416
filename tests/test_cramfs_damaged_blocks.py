"""A damaged cramfs block, as v4.15 handles it: an error on the page, never zeros.

Read against fs/cramfs/inode.c @ v4.15 (``cramfs_readpage`` L817: its ``err:`` path at L919-L924
clears ``PG_uptodate``, sets ``PG_error``, unlocks, returns 0), fs/cramfs/uncompress.c @ v4.15
(L53-L56: "Error %d while decompressing!", then "%p(%d)->%p(%d)", then ``-EIO``) and
mm/filemap.c @ v4.15 (``filemap_fault``'s ``page_not_uptodate`` L2591-L2612: one re-read, then
``VM_FAULT_SIGBUS``; ``generic_file_buffered_read`` L2243-L2259 and L2303: ``-EIO`` unless some
bytes were copied first). The expected messages are written out here from those format strings,
with the model's own pointer values (v4.15's ``%p`` hashes with a boot-time key).
"""

from __future__ import annotations

import errno
import struct
import zlib

import pytest

from mmlab import trace, xip
from mmlab.cramfs import open_image
from mmlab.cramfs.tree import Dir, File
from mmlab.cramfs.writer import build_image
from mmlab.errors import SignalDelivered
from mmlab.filemap import generic_file_buffered_read
from mmlab.mm import MAP_PRIVATE, MM, PROT_READ
from mmlab.physmem import PageUptodate
from mmlab.system import System

PAGE = 4096
TEXT = b"".join(b"line %05d of a compressed file\n" % i for i in range(1000))[:3 * PAGE]
IMAGE = build_image(Dir({"f": File(TEXT)}), endian="little")
ENTRY = open_image(IMAGE).lookup("f")
# classic block pointers: each holds the end of its block; block 0 starts after the table
POINTERS = struct.unpack_from("<3I", IMAGE, ENTRY.data_offset)
STARTS = (ENTRY.data_offset + 3 * 4, POINTERS[0], POINTERS[1])


def damaged(change) -> xip.CramfsSuperBlock:
    image = bytearray(IMAGE)
    change(image)
    return xip.mount(bytes(image), None, "mixedmap", system=System())


def flip_a_byte_of_block_1(image: bytearray) -> None:
    image[STARTS[1] + 20] ^= 0xFF


def hashed(address: int) -> str:
    """The model's stand-in for v4.15's %p: 16 hex digits, the CRC-32 of the address."""
    return f"{zlib.crc32(address.to_bytes(8, 'little')):016x}"


def inflate_error_lines(sb: xip.CramfsSuperBlock, err: int, start: int, length: int,
                        page_pfn: int) -> list[str]:
    src = sb.linear_virt_addr + start
    dst = 0xFFFF880000000000 + page_pfn * PAGE
    return [f"cramfs: Error {err} while decompressing!",
            f"cramfs: {hashed(src)}({length})->{hashed(dst)}({PAGE})"]


def mapped(sb: xip.CramfsSuperBlock) -> tuple[MM, int, object]:
    mm = MM(sb.system)
    f = sb.open("/f")
    return mm, mm.mmap(0, 3 * PAGE, PROT_READ, MAP_PRIVATE, f, 0), f


def kernel_log_after_mount(sb: xip.CramfsSuperBlock) -> list[str]:
    return [line for line in sb.system.dmesg
            if "while decompressing" in line or "->" in line or "blocksize" in line]


def test_the_image_reads_whole_when_undamaged():
    sb = xip.mount(IMAGE, None, "mixedmap", system=System())
    mm, addr, f = mapped(sb)
    assert mm.read(addr, 3 * PAGE) == TEXT
    assert generic_file_buffered_read(f, 0, 3 * PAGE, physmem=mm.physmem) == TEXT
    assert kernel_log_after_mount(sb) == []


def test_a_damaged_block_through_a_mapping_is_sigbus_after_one_reread():
    sb = damaged(flip_a_byte_of_block_1)
    mm, addr, f = mapped(sb)
    assert mm.read(addr, PAGE) == TEXT[:PAGE]  # the blocks around it are sound
    with trace.record(snapshots=False) as rec:
        with pytest.raises(SignalDelivered) as caught:
            mm.read(addr + PAGE, 1)
    assert caught.value.result.signal == "SIGBUS"
    # page_cache_read's ->readpage, then page_not_uptodate's one re-read
    assert rec.names.count("cramfs_readpage") == 2
    page = f.f_mapping.pages[1]  # it stays in the page cache, not uptodate, with PG_error
    assert not PageUptodate(page) and "PG_error" in page.flags and "PG_locked" not in page.flags
    length = POINTERS[1] - STARTS[1]
    lines = inflate_error_lines(sb, -3, STARTS[1], length, page.pfn)
    assert kernel_log_after_mount(sb) == lines + lines
    # no zeros mapped: the PTE is still empty, and the next touch reads the block once more
    assert mm.pgd.walk(addr + PAGE) is None or mm.pgd.walk(addr + PAGE).pfn != page.pfn
    with pytest.raises(SignalDelivered):
        mm.read(addr + PAGE, 1)
    assert kernel_log_after_mount(sb) == lines * 3


def test_a_damaged_block_through_read_is_eio():
    sb = damaged(flip_a_byte_of_block_1)
    mm, addr, f = mapped(sb)
    with pytest.raises(OSError) as caught:
        generic_file_buffered_read(f, PAGE + 10, 100, physmem=mm.physmem)
    assert caught.value.errno == errno.EIO
    page = f.f_mapping.pages[1]
    lines = inflate_error_lines(sb, -3, STARTS[1], POINTERS[1] - STARTS[1], page.pfn)
    assert kernel_log_after_mount(sb) == lines  # read(2) reads it once, no retry
    # a read that copied something first returns it: a short read, the bad page read once more
    assert generic_file_buffered_read(f, 0, 3 * PAGE, physmem=mm.physmem) == TEXT[:PAGE]
    assert kernel_log_after_mount(sb) == lines + lines


def test_a_truncated_stream_is_error_minus_5_not_minus_3():
    def cut_block_0_short(image: bytearray) -> None:
        struct.pack_into("<I", image, ENTRY.data_offset, POINTERS[0] - 6)

    sb = damaged(cut_block_0_short)
    mm, addr, f = mapped(sb)
    with pytest.raises(OSError) as caught:
        generic_file_buffered_read(f, 0, 10, physmem=mm.physmem)
    assert caught.value.errno == errno.EIO
    page = f.f_mapping.pages[0]
    length = POINTERS[0] - 6 - STARTS[0]
    assert kernel_log_after_mount(sb) == inflate_error_lines(sb, -5, STARTS[0], length, page.pfn)


def test_a_bad_block_length_fails_the_same_way():
    def stretch_block_1(image: bytearray) -> None:
        struct.pack_into("<I", image, ENTRY.data_offset + 4, POINTERS[0] + 3 * PAGE)

    sb = damaged(stretch_block_1)
    mm, addr, f = mapped(sb)
    with pytest.raises(SignalDelivered):
        mm.read(addr + PAGE, 1)
    assert kernel_log_after_mount(sb) == [f"cramfs: bad data blocksize {3 * PAGE}"] * 2
    page = f.f_mapping.pages[1]
    assert not PageUptodate(page) and "PG_error" in page.flags
    with pytest.raises(OSError) as caught:
        generic_file_buffered_read(f, PAGE, 1, physmem=mm.physmem)
    assert caught.value.errno == errno.EIO


def test_fault_around_leaves_a_page_that_failed_alone():
    sb = damaged(flip_a_byte_of_block_1)
    mm, addr, f = mapped(sb)
    with pytest.raises(OSError):
        generic_file_buffered_read(f, PAGE, 1, physmem=mm.physmem)  # page 1 cached, not uptodate
    generic_file_buffered_read(f, 2 * PAGE, 1, physmem=mm.physmem)  # page 2 cached, uptodate
    mm.read(addr, 1)  # page 0's fault maps the uptodate neighbours around it, not page 1
    assert mm.pgd.walk(addr + 2 * PAGE) is not None
    pte = mm.pgd.walk(addr + PAGE)
    assert pte is None or pte.pfn != f.f_mapping.pages[1].pfn


@pytest.mark.parametrize(
    ("stream", "code"),
    [
        (zlib.compress(b"x" * 100), xip.Z_STREAM_END),
        (zlib.compress(b"x" * 100)[:-3], -5),  # truncated: Z_BUF_ERROR
        (zlib.compress(b"x" * (PAGE + 1)), -5),  # does not fit in a page: Z_BUF_ERROR
        (b"\x00" * 16, -3),  # a bad header: Z_DATA_ERROR
        (zlib.compress(b"x" * 100)[:-1] + b"\x00", -3),  # a wrong adler-32: Z_DATA_ERROR
    ],
)
def test_zlib_inflate_block_returns_the_kernels_codes(stream: bytes, code: int):
    err, data = xip.zlib_inflate_block(stream, PAGE)
    assert err == code
    assert (data != b"") == (code == xip.Z_STREAM_END)


def test_a_stream_that_needs_a_dictionary_is_z_need_dict():
    packer = zlib.compressobj(zdict=b"hello")
    stream = packer.compress(b"hello hello") + packer.flush()
    assert xip.zlib_inflate_block(stream, PAGE) == (2, b"")


def test_mount_messages_are_pr_info(monkeypatch):
    said: list[tuple[str, str]] = []
    monkeypatch.setattr(xip.CramfsSuperBlock, "pr_info",
                        lambda self, message: said.append(("info", message)))
    monkeypatch.setattr(xip.CramfsSuperBlock, "pr_debug",
                        lambda self, message: said.append(("debug", message)))
    xip.mount(IMAGE, None, "mixedmap", system=System())
    assert said == [
        ("info", "checking physical address 0x0000000008000000 for linear cramfs image"),
        ("info", "linear cramfs image on mtd:xipfs appears to be 4 KB in size"),
    ]


def test_a_read_past_the_image_gets_the_zero_page():
    sb = xip.mount(IMAGE, None, "mixedmap", system=System())
    sb.system.physmem.load_flash(b"\xa5" * 64, sb.size)  # something else after the image
    assert sb.direct_read(sb.size - 4, 8) == bytes(8)
    assert sb.direct_read(sb.size - 8, 8) == IMAGE[sb.size - 8:sb.size]
    assert sb.direct_read(0, 4) == IMAGE[:4]
