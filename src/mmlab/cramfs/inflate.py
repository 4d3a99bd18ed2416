"""The zlib work of reading an image: zlib-ng's inflate and CRC-32 when installed, else zlib's.

A cramfs block is one zlib stream (``cramfs_uncompress_block``, `fs/cramfs/uncompress.c @ v4.15
<https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/uncompress.c#L31>`_, inflates it with
the kernel's copy of zlib).  Reading an image is mostly inflating, and zlib-ng (the
``zlib-ng`` package: the same ``decompress(data, wbits, bufsize)`` call, and it releases the
GIL the same way, so the two-thread reads keep working) inflates the same streams about 1.5x
faster than zlib on x86-64, and computes the image CRC about 7x faster.  Where it is not
installed (Pyodide in the browser, or a platform without a wheel) zlib does the work.

Why zlib-ng and not ISA-L (``isal``, a little faster still): zlib-ng's inflate is zlib's,
optimised, with the same checks, so it refuses exactly the streams zlib (and the kernel)
refuse.  ISA-L accepts some that zlib refuses ("invalid distances set" on an unused
distance code), and then a damaged image would pass ``check`` that ``fsck.cramfs`` fails
and the kernel cannot read.  The tests hold the engine to zlib's verdict and bytes on
thousands of damaged blocks.

Only a *sound* block goes through :func:`inflate_block`; anything it does not inflate to
exactly the expected size comes back as ``None`` and the reader inflates it again with zlib,
step by step, so that every kind of damage gets zlib's own message.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable

try:  # optional accelerator (see the module docstring); zlib is the reference
    from zlib_ng import zlib_ng as _zlib_ng
except ImportError:  # pragma: no cover - depends on the installation
    _zlib_ng = None

__all__ = ["ENGINE", "OUT_SLACK", "crc32", "inflate_block", "inflater"]

#: Spare output room given to every inflate call, past the bytes the block must yield.
#: zlib-ng's (and zlib's) fast decoding loop runs only while at least 258 bytes of output
#: room are left (a longest match, ``INFLATE_FAST_MIN_LEFT``); with a buffer of exactly the
#: block's size the last ~260 bytes of every block went through the slow loop: 4.7% of the
#: instructions of inflating a library tree's 4 KiB blocks (callgrind).  The room changes no
#: verdict: a block that inflates to more or less than its size is still caught (by length).
OUT_SLACK = 512

_fast_decompress = _zlib_ng.decompress if _zlib_ng else zlib.decompress
_fast_error: type[Exception] = _zlib_ng.error if _zlib_ng else zlib.error
_fast_crc32 = _zlib_ng.crc32 if _zlib_ng else zlib.crc32

#: What inflates sound blocks here, for reports and benchmarks ("zlib-ng 2.3.3" or
#: "zlib 1.2.13").
ENGINE: str = (f"zlib-ng {getattr(_zlib_ng, 'ZLIBNG_VERSION', '')}".strip() if _zlib_ng
               else f"zlib {zlib.ZLIB_RUNTIME_VERSION}")


def inflate_block(raw: bytes | memoryview, out_size: int) -> bytes | None:
    """The ``out_size`` bytes one zlib stream inflates to, or None if it does not.

    None means: not exactly ``out_size`` bytes, or an inflate error; the caller then
    inflates the block again with zlib to say what is wrong.

    Kernel: ``cramfs_uncompress_block`` in `fs/cramfs/uncompress.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/uncompress.c#L31>`_.
    """
    try:
        out = _fast_decompress(raw, 15, out_size + OUT_SLACK)
    except _fast_error:
        return None
    return out if len(out) == out_size and out_size else None


def inflater() -> tuple[Callable[[bytes | memoryview, int, int], bytes], type[Exception]]:
    """The raw ``decompress(data, wbits, bufsize)`` function of :data:`ENGINE` and its error,
    for loops that inflate many blocks and handle failures themselves (give it a
    ``bufsize`` of the block size + :data:`OUT_SLACK`).

    Model helper: no kernel counterpart.
    """
    return _fast_decompress, _fast_error


def crc32(data: bytes | memoryview, value: int = 0) -> int:
    """CRC-32 of ``data``, continuing from ``value`` (what ``zlib.crc32`` computes).

    util-linux: ``test_crc`` in `disk-utils/fsck.cramfs.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/fsck.cramfs.c>`_.
    """
    return _fast_crc32(data, value)
