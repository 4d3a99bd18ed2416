"""The ``mmlab`` command line: ``mmlab cramfs`` mirrors util-linux ``mkfs.cramfs``/``fsck.cramfs``.

``mmlab cramfs info|ls|cat|extract|build|check ...``; ``build`` takes the
image options of ``disk-utils/mkfs.cramfs.c`` (``-b -e -N -i -n -p -z``) and
``check`` exits with the codes of ``disk-utils/fsck.cramfs.c`` (util-linux
2.38).

Command groups are registered by modules listed in :data:`COMMAND_MODULES`;
each has a ``register(subparsers)`` that adds its parser(s) and sets ``func``
(a callable ``args -> int``) with ``set_defaults``.  To add ``mmlab maps``,
write ``mmlab/maps_cli.py`` with such a ``register`` and add its name to the
tuple.

Errors in the input end in one line on stderr (``mmlab: ...``) and a non-zero
exit, never a traceback (set ``MMLAB_DEBUG=1`` to see one).  ``cramfs check``
uses ``fsck.cramfs``'s exit codes: 0 clean, 4 errors left, 8 operational
error, 16 usage.  Other commands exit 1 on a bad image, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import stat
import sys
import threading
import time
import warnings
from collections.abc import Sequence

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

#: Modules whose ``register(subparsers)`` adds a command group (immutable: edit it here).
COMMAND_MODULES: tuple[str, ...] = ("mmlab.cli",)

EXIT_BAD_INPUT = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
# ``cramfs check`` exits with fsck.cramfs's codes, defined once in mmlab.cramfs.errors
# (EXIT_OK, EXIT_UNCORRECTED, EXIT_ERROR, EXIT_USAGE) and imported only when needed.
PROGRESS_MIN_BYTES = 8 << 20  #: no progress bar for smaller jobs


class _UsageError(Exception):
    def __init__(self, prog: str, message: str) -> None:
        super().__init__(message)
        self.prog = prog


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors become exceptions (so ``main`` picks the exit code)."""

    def error(self, message: str):  # type: ignore[override]
        raise _UsageError(self.prog, message)


def build_parser() -> argparse.ArgumentParser:
    """The full ``mmlab`` parser, with every registered command group.

    Model helper: no kernel counterpart.
    """
    parser = _Parser(prog="mmlab", description="Linux memory management lab tools.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mmlab`` console script; returns the exit status.

    Model helper: no kernel counterpart.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as exc:
        if exc.prog.endswith(" check"):
            from mmlab.cramfs.errors import EXIT_USAGE as FSCK_EX_USAGE

            code = FSCK_EX_USAGE
        else:
            code = EXIT_USAGE
        print(f"{exc.prog}: {exc}", file=sys.stderr)
        return code
    except SystemExit as exc:  # --help / --version
        return int(exc.code or 0)
    from mmlab.cramfs.errors import CramfsError

    try:
        return int(args.func(args))
    except CramfsError as exc:
        print(f"mmlab: {exc}", file=sys.stderr)
        return _error_exit(args)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("mmlab: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"mmlab: {exc.filename or ''}{': ' if exc.filename else ''}{exc.strerror or exc}",
              file=sys.stderr)
        return _error_exit(args)
    except Exception as exc:  # a bug: still one line unless debugging
        if os.environ.get("MMLAB_DEBUG"):
            raise
        print(f"mmlab: internal error: {type(exc).__name__}: {exc} (MMLAB_DEBUG=1 for "
              "details)", file=sys.stderr)
        return EXIT_INTERNAL


def _error_exit(args) -> int:
    """Exit status of a command that failed on its input: 1, or 8 for ``cramfs check``."""
    if getattr(args, "fsck_exit_codes", False):
        from mmlab.cramfs.errors import EXIT_ERROR as FSCK_EX_ERROR

        return FSCK_EX_ERROR
    return EXIT_BAD_INPUT


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# --- the cramfs command group ------------------------------------------------------------------

def register(sub) -> None:
    """Add ``mmlab cramfs ...`` to the top-level subparsers.

    Model helper: no kernel counterpart.
    """
    cramfs = sub.add_parser("cramfs", help="read, check, extract and build cramfs images")
    csub = cramfs.add_subparsers(dest="cramfs_command", metavar="SUBCOMMAND",
                                 parser_class=_Parser)
    csub.required = True

    p = csub.add_parser("info", help="superblock and summary")
    p.add_argument("image")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("-b", "--blocksize", type=int, help="block size (default: detect)")
    p.set_defaults(func=_cmd_info)

    p = csub.add_parser("ls", help="list a directory (like ls)")
    p.add_argument("-l", dest="long", action="store_true", help="long listing")
    p.add_argument("-R", dest="recursive", action="store_true",
                   help="list everything below PATH, one path per line")
    p.add_argument("image")
    p.add_argument("path", nargs="?", default="/")
    p.add_argument("-b", "--blocksize", type=int, help="block size (default: detect)")
    p.set_defaults(func=_cmd_ls)

    p = csub.add_parser("cat", help="write a file's contents to stdout")
    p.add_argument("image")
    p.add_argument("path")
    p.add_argument("-b", "--blocksize", type=int, help="block size (default: detect)")
    p.set_defaults(func=_cmd_cat)

    p = csub.add_parser("extract", help="extract safely into a directory")
    p.add_argument("image")
    p.add_argument("directory")
    p.add_argument("-b", "--blocksize", type=int, help="block size (default: detect)")
    p.set_defaults(func=_cmd_extract)

    p = csub.add_parser("build", help="make an image (like mkfs.cramfs)")
    p.add_argument("directory")
    p.add_argument("image")
    p.add_argument("-b", dest="blocksize", type=int, default=4096, help="block size")
    p.add_argument("-e", dest="edition", type=int, default=0, help="edition number")
    p.add_argument("-N", dest="endian", choices=("host", "little", "big"), default="host",
                   help="byte order")
    p.add_argument("-i", dest="insert_file", help="insert a file image")
    p.add_argument("-n", dest="name", default="Compressed", help="filesystem name")
    p.add_argument("-p", dest="pad", action="store_true", help="pad by 512 bytes for boot code")
    p.add_argument("-z", dest="holes", action="store_true", help="make explicit holes")
    p.add_argument("--xip", action="extend", nargs="+", default=[], metavar="GLOB",
                   help="store matching files for execute-in-place (fnmatch on the path "
                        "relative to DIR; several globs, or --xip repeated)")
    p.set_defaults(func=_cmd_build)

    p = csub.add_parser("check", help="check an image (exit codes like fsck.cramfs)")
    p.add_argument("image")
    p.add_argument("-v", "--verbose", action="store_true")
    p.add_argument("-b", "--blocksize", type=int, help="block size (default: detect)")
    p.set_defaults(func=_cmd_check, fsck_exit_codes=True)


def _progress(total: int, desc: str):
    """A tqdm bar on stderr when it is a terminal and the job is big; else None."""
    if total < PROGRESS_MIN_BYTES or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, file=sys.stderr,
                leave=False)


def _cmd_info(args) -> int:
    from mmlab.cramfs.reader import open_image

    with open_image(args.image, blocksize=args.blocksize) as im:
        info = im.info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    for key, value in info.items():
        if key in ("crc", "crc_computed"):
            value = f"0x{value:08x}"
        elif key == "flags":
            value = f"0x{value:x}"
        elif key == "flag_names":
            value = " ".join(value)
        print(f"{key}: {value}")
    return 0


def _long_line(im, e) -> str:
    mode = stat.filemode(e.mode)
    size = e.size
    if stat.S_ISCHR(e.mode) or stat.S_ISBLK(e.mode):
        shown = f"{(size >> 8) & 0xFF:>4}, {size & 0xFF:>3}"
    else:
        shown = f"{size:>9}"
    name = e.path or "/"
    line = f"{mode} {e.uid:>5} {e.gid:>3} {shown} {name}"
    if e.is_symlink():
        line += f" -> {im.readlink(e)}"
    return line


def _cmd_ls(args) -> int:
    from mmlab.cramfs.reader import open_image

    with open_image(args.image, blocksize=args.blocksize) as im:
        top = im.lookup(args.path)
        if args.recursive:
            entries = list(im.walk(top)) if top.is_dir() else [top]
        elif top.is_dir():
            entries = im.listdir(top)
        else:
            entries = [top]
        for e in entries:
            if args.long:
                print(_long_line(im, e))
            else:
                print(e.path if args.recursive else e.name.decode("utf-8", "replace"))
    return 0


def _cmd_cat(args) -> int:
    from mmlab.cramfs.errors import CramfsFormatError
    from mmlab.cramfs.reader import open_image

    with open_image(args.image, blocksize=args.blocksize) as im:
        e = im.lookup(args.path, follow=True)
        if not e.is_file():
            raise CramfsFormatError(f"/{e.path} is not a regular file",
                                    offset=e.inode_offset, field="mode", where="inode")
        out = sys.stdout.buffer
        for block in im.blocks(e):
            out.write(im.read_block(block))
        out.flush()
    return 0


def _cmd_extract(args) -> int:
    from mmlab.cramfs.extract import extract
    from mmlab.cramfs.reader import open_image

    with open_image(args.image, blocksize=args.blocksize) as im:
        total = sum(e.size for e in im.walk() if e.is_file())
        bar = _progress(total, "extracting")
        try:
            report = extract(im, args.directory, progress=bar.update if bar else None)
        finally:
            if bar:
                bar.close()
    for line in report.skipped:
        print(f"mmlab: skipped {line}", file=sys.stderr)
    return 0


def _cmd_build(args) -> int:
    from mmlab.cramfs.errors import CramfsIOError

    try:
        from mmlab.cramfs.writer import write_image
    except ImportError:
        raise CramfsIOError("the cramfs writer (mmlab.cramfs.writer) is not installed") from None
    if not os.path.isdir(args.directory):
        raise CramfsIOError(f"{args.directory}: not a directory")
    options = dict(blocksize=args.blocksize, endian=args.endian, name=args.name,
                   edition=args.edition, pad=args.pad, insert_file=args.insert_file,
                   holes=args.holes, xip=list(args.xip))
    total = _tree_bytes(args.directory) if sys.stderr.isatty() else 0
    bar = _progress(total, "building")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if bar is None:
            write_image(args.directory, args.image, **options)
        else:
            _run_with_spinner(bar, lambda: write_image(args.directory, args.image, **options))
    seen = set()
    for w in caught:
        msg = str(w.message)
        if msg not in seen:
            seen.add(msg)
            print(f"mmlab: {msg}" if msg.startswith("warning") else f"mmlab: warning: {msg}",
                  file=sys.stderr)
    return 0


def _tree_bytes(path: str) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                pass
    return total


def _run_with_spinner(bar, job) -> None:
    """Run ``job`` in a thread while the bar shows elapsed time (the writer has no callback)."""
    result: dict = {}

    def run():
        try:
            job()
        except BaseException as exc:  # re-raised in the caller's thread
            result["exc"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        while t.is_alive():
            t.join(0.2)
            bar.refresh()
        bar.update(bar.total - bar.n)
    finally:
        bar.close()
        time.sleep(0)
    if "exc" in result:
        raise result["exc"]


def _cmd_check(args) -> int:
    from mmlab.cramfs.check import check_image

    bar = None
    if sys.stderr.isatty():
        try:
            size = os.path.getsize(args.image)
        except OSError:
            size = 0
        bar = _progress(size * 3, "checking")  # inflated bytes ~ 3x the image
    try:
        report = check_image(args.image, blocksize=args.blocksize,
                             progress=bar.update if bar else None)
    finally:
        if bar:
            bar.close()
    shown = report.errors if args.verbose else report.errors[:1]
    for err in shown:
        more = len(report.errors) - len(shown)
        tail = f" (+{more} more; -v lists all)" if more else ""
        print(f"mmlab cramfs check: {args.image}: {err}{tail}", file=sys.stderr)
    if args.verbose:
        for w in report.warnings:
            print(f"warning: {w}", file=sys.stderr)
        print(f"cramfs endianness is {report.endian}, block size {report.blocksize}")
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(report.blocks.items())) or "none"
        print(f"{report.files} inodes, blocks: {kinds}, {report.bytes_out} bytes inflated")
        if report.ok:
            print(f"{args.image}: OK")
    return report.exit_code
