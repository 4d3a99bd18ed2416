"""The ``mmlab`` command line: ``mmlab cramfs`` mirrors util-linux ``mkfs.cramfs``/``fsck.cramfs``.

``mmlab cramfs info|ls|cat|extract|build|check ...``; ``build`` takes the
image options of ``disk-utils/mkfs.cramfs.c`` (``-b -e -N -i -n -p -z``) and
``check`` and ``extract`` exit with the codes of ``disk-utils/fsck.cramfs.c``
(util-linux 2.38).

Command groups are registered by modules listed in :data:`COMMAND_MODULES`;
each has a ``register(subparsers)`` that adds its parser(s) and sets ``func``
(a callable ``args -> int``) and ``prog`` with ``set_defaults``.  To add
``mmlab maps``, write ``mmlab/maps_cli.py`` with such a ``register`` and add
its name to the tuple.

Every message starts with the command (``mmlab cramfs cat: ...``); an error is
one line on stderr and a non-zero exit, never a traceback (set
``MMLAB_DEBUG=1`` to see one).  ``cramfs check`` and ``cramfs extract`` exit
like ``fsck.cramfs`` (util-linux ``include/exitcodes.h``): 0 clean, 4 errors
left uncorrected (a damaged image: bad CRC, truncation, corrupt data), 8
operational error (a file that cannot be read or written, unsupported
features), 16 usage.  The other commands exit 1 on a bad image or file, 2 on
usage errors.  ``mmlab`` or ``mmlab cramfs`` alone prints its usage and exits 2.

Start-up stays small: ``mmlab --help`` imports no cramfs module, and each
command imports only what it uses, when it runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import stat
import sys
from collections.abc import Callable, Sequence

from mmlab import __version__

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

#: Modules whose ``register(subparsers)`` adds a command group (immutable: edit it here).
COMMAND_MODULES: tuple[str, ...] = ("mmlab.cli",)

EXIT_BAD_INPUT = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70
# ``cramfs check``/``extract`` exit with fsck.cramfs's codes, defined once in
# mmlab.cramfs.errors (EXIT_OK, EXIT_UNCORRECTED, EXIT_ERROR, EXIT_USAGE) and imported only
# when one is needed, so that the parser stays free of cramfs imports.
PROGRESS_MIN_BYTES = 8 << 20  #: no progress bar for smaller jobs
SKIPPED_SHOWN = 10  #: ``extract`` lists this many skipped entries unless -v
#: ``--links`` choices: mmlab.cramfs.extract.LINK_POLICIES, spelled out here so that building
#: the parser imports no cramfs module (a test holds the two equal).
LINK_POLICIES: tuple[str, ...] = ("keep", "skip-outside", "refuse-outside")


class _UsageError(Exception):
    def __init__(self, prog: str, message: str, fsck_exit_codes: bool) -> None:
        super().__init__(message)
        self.prog = prog
        self.fsck_exit_codes = fsck_exit_codes


class _CommandError(Exception):
    """A failure a command words itself: ``damaged`` input (exit 4 under fsck's codes) or an
    operational problem (exit 8)."""

    def __init__(self, message: str, *, damaged: bool) -> None:
        super().__init__(message)
        self.damaged = damaged


class _Formatter(argparse.HelpFormatter):
    """argparse's formatter, sized without ``shutil`` (argparse imports it, and with it bz2 and
    lzma, to size the formatter it builds for every ``add_argument``: a tenth of start-up)."""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        if width is None:
            width = _columns() - 2  # what argparse does with shutil.get_terminal_size()
        super().__init__(prog, indent_increment, max_help_position, width)


def _columns() -> int:
    """Terminal width as shutil.get_terminal_size() finds it: $COLUMNS, stdout's tty, or 80."""
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        pass
    try:
        return os.get_terminal_size(sys.__stdout__.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return 80


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors become exceptions (so ``main`` picks the exit code)."""

    fsck_exit_codes = False  #: usage errors exit 16 (fsck.cramfs's FSCK_EX_USAGE), not 2

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        """Raise instead of printing and exiting.

        Model helper: no kernel counterpart.
        """
        raise _UsageError(self.prog, message, self.fsck_exit_codes)


def build_parser() -> argparse.ArgumentParser:
    """The full ``mmlab`` parser, with every registered command group.

    Model helper: no kernel counterpart.
    """
    parser = _Parser(prog="mmlab", description="Linux memory management lab tools.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.set_defaults(func=None, usage_of=parser, prog="mmlab", fsck_exit_codes=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``mmlab`` console script; returns the exit status.

    Model helper: no kernel counterpart.
    """
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # blamed on the (sub)command that was typed, with its exit code
            raise _UsageError(args.prog, f"unrecognized arguments: {' '.join(extra)}",
                              args.fsck_exit_codes)
    except _UsageError as exc:
        print(f"{exc.prog}: {exc}; see '{exc.prog} --help'", file=sys.stderr)
        return _usage_exit(exc.fsck_exit_codes)
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else 0
    if args.func is None:  # ``mmlab`` or ``mmlab cramfs`` alone: what can follow
        args.usage_of.print_help(sys.stderr)
        return EXIT_USAGE
    prog = args.prog
    try:
        return int(args.func(args))
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        described = _describe(args, exc)
        if described is None:  # a bug: still one line unless debugging
            if os.environ.get("MMLAB_DEBUG"):
                raise
            print(f"{prog}: internal error: {type(exc).__name__}: {exc} (MMLAB_DEBUG=1 for "
                  "details)", file=sys.stderr)
            return EXIT_INTERNAL
        message, damaged = described
        if os.environ.get("MMLAB_DEBUG"):
            import traceback

            traceback.print_exc()
        print(f"{prog}: {message}", file=sys.stderr)
        return _failure_exit(args, damaged)


def _describe(args: argparse.Namespace, exc: Exception) -> tuple[str, bool] | None:
    """(message, damaged input?) for an expected failure; None for a bug."""
    if isinstance(exc, _CommandError):
        return str(exc), exc.damaged
    from mmlab.cramfs.errors import (
        CramfsError,
        CramfsIOError,
        CramfsMagicError,
        CramfsUnsupportedError,
    )

    if isinstance(exc, CramfsError):
        # errors without an offset name no on-disk field: their sentence says it all
        text = exc.problem if exc.offset is None else str(exc)
        if isinstance(exc, CramfsIOError):
            return text, False
        where = f"{args.image}: " if getattr(args, "names_image", False) else ""
        if isinstance(exc, CramfsMagicError):
            return f"{where}not a cramfs image: {text}", True
        return f"{where}{text}", not isinstance(exc, CramfsUnsupportedError)
    if isinstance(exc, OSError):
        name = f"{exc.filename}: " if exc.filename else ""
        return f"{name}{exc.strerror or exc}", False
    return None


def _usage_exit(fsck_exit_codes: bool) -> int:
    if fsck_exit_codes:
        from mmlab.cramfs.errors import EXIT_USAGE as FSCK_EX_USAGE

        return FSCK_EX_USAGE
    return EXIT_USAGE


def _failure_exit(args: argparse.Namespace, damaged: bool) -> int:
    """1, or for ``cramfs check``/``extract`` 4 (damaged image) or 8 (operational error)."""
    if not args.fsck_exit_codes:
        return EXIT_BAD_INPUT
    from mmlab.cramfs.errors import EXIT_ERROR, EXIT_UNCORRECTED

    return EXIT_UNCORRECTED if damaged else EXIT_ERROR


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
    cramfs = sub.add_parser("cramfs", help="read, check, extract and build cramfs images",
                            description="Read, check, extract and build cramfs images "
                                        "(the fs/cramfs format of Linux v4.15).")
    cramfs.set_defaults(func=None, usage_of=cramfs, prog=cramfs.prog)
    csub = cramfs.add_subparsers(dest="cramfs_command", metavar="SUBCOMMAND",
                                 parser_class=_Parser)

    def command(name: str, func: Callable[[argparse.Namespace], int], help: str, *,
                fsck_exit_codes: bool = False, description: str | None = None,
                names_image: bool = True) -> _Parser:
        """A subcommand; ``names_image``: its errors about the image start with IMAGE."""
        p = csub.add_parser(name, help=help, description=description or help)
        p.fsck_exit_codes = fsck_exit_codes
        p.set_defaults(func=func, prog=p.prog, fsck_exit_codes=fsck_exit_codes,
                       names_image=names_image)
        return p

    p = command("info", _cmd_info, "superblock and what the tree holds",
                description="Print the superblock, the CRC verdict, and the inodes by type and "
                            "the regular files by storage (see 'ls -l').")
    p.add_argument("image")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("-b", "--blocksize", type=int, help="block size (default: detect)")

    p = command("ls", _cmd_ls, "list a directory (like ls)",
                description="List a directory of the image.  With -l, the column after the "
                            "size tells how a regular file is stored: zlib (compressed "
                            "blocks), xip (uncompressed pages the kernel maps from flash: "
                            "execute in place), raw (uncompressed blocks, copied), holes "
                            "(zero blocks stored as nothing), joined with '+' when a file "
                            "mixes them (xip+zlib); empty for a file of size 0.")
    p.add_argument("-l", dest="long", action="store_true",
                   help="long listing: mode, owner, group, size, storage, name")
    p.add_argument("-R", dest="recursive", action="store_true",
                   help="list everything below PATH, one path per line")
    p.add_argument("image")
    p.add_argument("path", nargs="?", default="/")
    p.add_argument("-b", "--blocksize", type=int, help="block size (default: detect)")

    p = command("cat", _cmd_cat, "write a file's contents to stdout",
                description="Write a regular file of the image to stdout; symlinks are "
                            "followed inside the image (at most 40).")
    p.add_argument("image")
    p.add_argument("path")
    p.add_argument("-b", "--blocksize", type=int, help="block size (default: detect)")

    p = command("extract", _cmd_extract, "extract safely into a new directory",
                fsck_exit_codes=True,
                description="Extract the image into DIRECTORY, which must not exist yet (like "
                            "fsck.cramfs --extract=DIR).  The CRC and the whole tree are "
                            "checked before anything is written, and a failure part-way "
                            "leaves nothing behind.  Exit status as fsck.cramfs: 0 done, 4 "
                            "damaged image, 8 operational error (e.g. DIRECTORY exists or "
                            "cannot be written), 16 usage.")
    p.add_argument("image")
    p.add_argument("directory")
    p.add_argument("--links", choices=LINK_POLICIES, default="keep",
                   help="symlinks whose target leaves DIRECTORY: keep (create them as "
                        "stored, like fsck.cramfs; no link is ever followed while "
                        "extracting), skip-outside (leave them out and say so) or "
                        "refuse-outside (extract nothing); default: %(default)s")
    p.add_argument("--ignore-crc", action="store_true",
                   help="extract even if the CRC does not match (blocks that do not "
                        "inflate still stop the extraction)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="say what was extracted, and list every entry skipped (else the "
                        f"first {SKIPPED_SHOWN})")
    p.add_argument("-b", "--blocksize", type=int, help="block size (default: detect)")

    p = command("build", _cmd_build, "make an image (like mkfs.cramfs)", names_image=False)
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
    p.add_argument("--xip", action="append", metavar="GLOB",
                   help="store the files matching GLOB (fnmatch on the path relative to "
                        "DIRECTORY) for execute-in-place; one GLOB per --xip, repeat it for "
                        "more (--xip 'bin/*' --xip '*.so'); it may come anywhere.  Several "
                        "GLOBs after one --xip are no longer accepted: they took DIRECTORY "
                        "and IMAGE for globs")

    p = command("check", _cmd_check, "check an image (exit codes like fsck.cramfs)",
                fsck_exit_codes=True,
                description="Check the superblock, the CRC and every inode, and inflate every "
                            "block (fsck.cramfs --extract without writing), on two threads "
                            "when two CPUs are free.  The root cause comes first (a "
                            "truncation or a bad block before the CRC mismatch it causes).  "
                            "Exit status as fsck.cramfs: 0 clean, 4 errors left uncorrected, "
                            "8 operational error, 16 usage.")
    p.add_argument("image")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="list every error and warning, and a summary")
    p.add_argument("-b", "--blocksize", type=int, help="block size (default: detect)")


def _progress(total: int, desc: str):
    """A tqdm bar on stderr when it is a terminal and the job is big; else None."""
    if total < PROGRESS_MIN_BYTES or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, file=sys.stderr,
                leave=False)


def _open(args: argparse.Namespace):
    from mmlab.cramfs.reader import open_image

    return open_image(args.image, blocksize=args.blocksize)


def _cmd_info(args) -> int:
    import json

    from mmlab.cramfs.errors import CramfsError
    from mmlab.cramfs.listing import count_tree

    failure = None
    with _open(args) as im:
        info = im.info()
        try:
            counts = count_tree(im)
        except CramfsError as exc:  # the superblock is still worth printing
            counts, failure = None, exc
    if args.json:
        if counts is not None:
            info["tree"] = counts.as_dict()
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            if key in ("crc", "crc_computed"):
                value = f"0x{value:08x}"
            elif key == "flags":
                value = f"0x{value:x}"
            elif key == "flag_names":
                value = " ".join(value)
            print(f"{key}: {value}")
        if counts is not None:
            kinds = ", ".join(_plural(n, word) for n, word in (
                (counts.directories, "directory"), (counts.regular_files, "regular file"),
                (counts.symlinks, "symlink"), (counts.devices, "device node"),
                (counts.fifos, "fifo"), (counts.sockets, "socket")))
            print(f"inodes: {counts.inodes} ({kinds})")
            kinds = ", ".join(f"{word} {n}" for word, n in counts.storage.items())
            print(f"storage: {kinds or 'no regular files'}")
    if failure is not None:
        raise failure
    return 0


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"1 {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


def _type_name(mode: int) -> str:
    """What a file of this mode is, in words ("a directory", "a character device", ...)."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISREG, "a regular file"),
                       (stat.S_ISLNK, "a symbolic link"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a fifo"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return f"of unknown type (mode 0{mode:o})"


def _lookup(im, image: str, path: str, *, follow: bool):
    """The entry at ``path`` (as the user typed it) in ``im`` (named ``image`` in messages);
    a plain-words error when there is none."""
    from mmlab.cramfs.errors import CramfsLimitError, CramfsNotFoundError

    try:
        return im.lookup(path, follow=follow)
    except CramfsLimitError:
        raise _CommandError(f"{image}: {path}: too many levels of symbolic links",
                            damaged=False) from None
    except CramfsNotFoundError:
        raise _CommandError(f"{image}: {_why_missing(im, path)}", damaged=False) from None


def _why_missing(im, path: str) -> str:
    """Why ``path`` cannot be found: the first component that is missing, not a directory, or a
    symlink whose target is not in the image."""
    from mmlab.cramfs.errors import CramfsError

    lead = "/" if path.startswith("/") else ""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    for i in range(1, len(parts) + 1):
        prefix = lead + "/".join(parts[:i])
        try:
            im.lookup(prefix, follow=True)
            continue
        except CramfsError:
            pass
        parent_path = lead + "/".join(parts[: i - 1])
        try:
            parent = im.lookup(parent_path, follow=True)
        except CramfsError:
            break
        if not parent.is_dir():
            return f"{path}: {parent_path} is not a directory"
        name = parts[i - 1].encode("utf-8", "surrogateescape")
        found = next((e for e in im.listdir(parent) if e.name == name), None)
        if found is not None and found.is_symlink():
            return (f"{prefix} is a symbolic link to {im.readlink(found)}, which is not in the "
                    "image")
        shown = path if prefix == lead + "/".join(parts) else f"{path}: {prefix}"
        return f"{shown} does not exist"
    return f"{path} does not exist"


def _storage(im, e) -> str:
    """The storage column of ``ls -l``: how a regular file's blocks are stored; '-' for others."""
    if not e.is_file():
        return "-"
    from mmlab.cramfs.errors import CramfsError
    from mmlab.cramfs.listing import storage_kind

    try:
        return storage_kind(im, e)
    except CramfsError:
        return "?"


def _long_line(im, e, name: str) -> str:
    from mmlab.cramfs.errors import CramfsError

    mode = stat.filemode(e.mode)
    size = e.size
    if stat.S_ISCHR(e.mode) or stat.S_ISBLK(e.mode):
        shown = f"{(size >> 8) & 0xFF:>4}, {size & 0xFF:>3}"
    else:
        shown = f"{size:>9}"
    line = f"{mode} {e.uid:>5} {e.gid:>3} {shown} {_storage(im, e):<10} {name}"
    if e.is_symlink():
        try:
            line += f" -> {im.readlink(e)}"
        except CramfsError:
            line += " -> ?"
    return line


def _cmd_ls(args) -> int:
    with _open(args) as im:
        top = _lookup(im, args.image, args.path, follow=False)
        if args.recursive:
            entries = list(im.walk(top)) if top.is_dir() else [top]
        elif top.is_dir():
            entries = im.listdir(top)
        else:
            entries = [top]
        for e in entries:  # like ls: a file as typed, names in a directory, paths with -R
            if not top.is_dir():
                name = args.path
            elif args.recursive:
                name = e.path
            else:
                name = e.name.decode("utf-8", "replace")
            print(_long_line(im, e, name) if args.long else name)
    return 0


def _cmd_cat(args) -> int:
    from mmlab.cramfs.errors import CramfsError

    with _open(args) as im:
        e = _lookup(im, args.image, args.path, follow=True)
        if e.is_dir():
            raise _CommandError(f"{args.image}: {args.path} is a directory", damaged=False)
        if not e.is_file():
            raise _CommandError(f"{args.image}: {args.path} is {_type_name(e.mode)}, not a "
                                "regular file", damaged=False)
        out = sys.stdout.buffer
        try:
            for block in im.blocks(e):
                out.write(im.read_block(block))
        except CramfsError as exc:
            out.flush()
            where = exc.problem if exc.offset is None else str(exc)
            raise _CommandError(f"{args.image}: {args.path}: {where}", damaged=True) from None
        out.flush()
    return 0


def _refuse_existing_target(path: str) -> None:
    """``extract`` writes a new directory: say plainly what is in the way."""
    if not os.path.lexists(path):
        return
    if os.path.islink(path):
        what = "is a symbolic link"
    elif os.path.isdir(path):
        raise _CommandError(f"{path} already exists (extract creates a new directory: remove "
                            "it or name one that does not exist)", damaged=False)
    elif os.path.isfile(path):
        what = "is a file"
    else:
        what = "is not a directory"
    raise _CommandError(f"{path} exists and {what} (extract creates a new directory)",
                        damaged=False)


def _cmd_extract(args) -> int:
    from mmlab.cramfs.errors import CramfsCRCError, CramfsError
    from mmlab.cramfs.extract import extract

    _refuse_existing_target(args.directory)
    with _open(args) as im:
        if args.ignore_crc and im.crc_ok() is False:
            print(f"{args.prog}: warning: {args.image}: CRC mismatch ignored (--ignore-crc): "
                  "the image is damaged", file=sys.stderr)
        bar = None
        if sys.stderr.isatty():
            try:
                bar = _progress(sum(e.size for e in im.walk() if e.is_file()), "extracting")
            except CramfsError:
                bar = None  # extract() reports the damage
        try:
            report = extract(im, args.directory, progress=bar.update if bar else None,
                             links=args.links, verify_crc=not args.ignore_crc)
        except CramfsCRCError:
            sb = im.superblock
            raise _CommandError(
                f"{args.image}: CRC mismatch (stored 0x{sb.crc:08x}, computed "
                f"0x{im.compute_crc():08x}): the image is damaged; nothing was extracted "
                "(--ignore-crc extracts it anyway)", damaged=True) from None
        finally:
            if bar:
                bar.close()
    shown = report.skipped if args.verbose else report.skipped[:SKIPPED_SHOWN]
    for line in shown:
        print(f"{args.prog}: skipped {line}", file=sys.stderr)
    if len(shown) < len(report.skipped):
        print(f"{args.prog}: skipped {len(report.skipped) - len(shown)} more (-v lists all)",
              file=sys.stderr)
    if args.verbose:
        print(f"{args.directory}: {report.files} files ({report.bytes} bytes), {report.dirs} "
              f"directories, {report.symlinks} symlinks, {report.specials} special files; "
              f"{len(report.skipped)} skipped")
    return 0


def _cmd_build(args) -> int:
    import warnings

    from mmlab.cramfs.errors import CramfsIOError

    try:
        from mmlab.cramfs.writer import write_image
    except ImportError:
        raise CramfsIOError("the cramfs writer (mmlab.cramfs.writer) is not installed") from None
    if not os.path.isdir(args.directory):
        what = "is not a directory" if os.path.lexists(args.directory) else "does not exist"
        raise _CommandError(f"{args.directory} {what} (build needs a source directory)",
                            damaged=False)
    options = dict(blocksize=args.blocksize, endian=args.endian, name=args.name,
                   edition=args.edition, pad=args.pad, insert_file=args.insert_file,
                   holes=args.holes, xip=list(args.xip or ()))
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
            msg = msg if msg.startswith("warning") else f"warning: {msg}"
            print(f"{args.prog}: {msg}", file=sys.stderr)
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
    import threading

    failure: list[BaseException] = []

    def run():
        try:
            job()
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        while t.is_alive():
            t.join(0.2)
            bar.refresh()
        bar.update(bar.total - bar.n)
    finally:
        bar.close()
    if failure:
        raise failure[0]


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
    messages = report.messages()
    shown = messages if args.verbose else messages[:1]
    for text in shown:
        more = len(messages) - len(shown)
        tail = f" (+{more} more; -v lists all)" if more else ""
        print(f"{args.prog}: {args.image}: {text}{tail}", file=sys.stderr)
    if args.verbose:
        for w in report.warnings:
            print(f"{args.prog}: warning: {args.image}: {w}", file=sys.stderr)
        print(f"cramfs endianness is {report.endian}, block size {report.blocksize}")
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(report.blocks.items())) or "none"
        print(f"{report.files} inodes, blocks: {kinds}, {report.bytes_out} bytes inflated")
        if report.ok:
            print(f"{args.image}: OK")
    return report.exit_code


if __name__ == "__main__":  # python -m mmlab.cli
    from mmlab.cli import main as _main  # the commands are registered from mmlab.cli

    sys.exit(_main())
