"""Safe cramfs extractor: ``fsck.cramfs --extract`` of util-linux ``disk-utils/fsck.cramfs.c``.

Extracts an image into a directory.  The kernel never "extracts"; the closest
relatives are ``cramfs_lookup`` / ``cramfs_readdir``
(``fs/cramfs/inode.c @ v4.15``), which trust the image, and
``fsck.cramfs --extract=DIR`` (util-linux), which writes with plain paths.
This extractor assumes the image is hostile:

* the superblock CRC is checked first (``fsck.cramfs`` does the same before
  it extracts); a mismatch is refused unless ``verify_crc=False``;
* the whole tree is validated BEFORE anything is written: names that are
  empty, contain ``/`` or NUL, are ``.``/``..`` or repeat in a directory;
  directory cycles; more entries or bytes than the limits;
* symlinks are data: by default every symlink is created with its target
  verbatim (absolute, ``..``, dangling), as ``fsck.cramfs`` does, so a real
  root filesystem (``bin/sh -> /bin/busybox``) extracts.  ``links=`` can
  instead skip or refuse the links whose target (resolved through the image's
  own symlinks) leaves the tree (:data:`LINK_POLICIES`);
* no link is ever followed while writing: every entry is created by name in
  a directory the extractor itself made and holds open (``openat`` /
  ``mkdirat`` / ``symlinkat`` / ``mknodat`` via ``dir_fd``), directories are
  opened with ``O_NOFOLLOW`` and files created with ``O_CREAT | O_EXCL |
  O_NOFOLLOW``.  A name cannot be both a link and a directory in one image
  directory (duplicates are refused), so a kept link can never redirect a
  later entry;
* all or nothing: the tree is written into a fresh temporary directory beside
  the target (same parent, mode 0700 while it is filled) and renamed into
  place at the end; on any error the temporary tree is removed (through
  directory fds, never following a link) and the error re-raised;
* the target must not exist, like ``fsck.cramfs`` (its ``mkdir(DIR)`` fails
  on an existing directory): it is claimed with ``mkdir`` before writing, so
  nothing that was there is ever touched.  Missing parents are created;
* modes are restored (setuid/setgid only for root), directories last so a
  read-only directory can still be filled, the root directory takes the
  image root's mode; owners and device nodes/fifos only when running as root
  (others are skipped and reported); every time is set to 0, the epoch,
  as the kernel shows cramfs inodes (``fsck.cramfs`` does the same, but for
  symlinks).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from contextlib import closing

from .errors import (
    CramfsCRCError,
    CramfsError,
    CramfsFormatError,
    CramfsIOError,
    CramfsLimitError,
    CramfsUnsafePathError,
)
from .layout import SB_OFFSET_CRC
from .reader import MAX_DEPTH, MAX_SYMLINK_HOPS, CramfsImage, Entry, open_image

__all__ = ["ExtractReport", "extract", "validate_tree", "MAX_ENTRIES", "MAX_TOTAL_BYTES",
           "LINK_POLICIES"]

MAX_ENTRIES = 1 << 20  #: default limit on the number of inodes
MAX_TOTAL_BYTES = 2 << 30  #: default limit on the bytes written (dedup can multiply data)
SYMLINK_MAX = 4096  #: PATH_MAX: longer targets cannot be created (ENAMETOOLONG)
#: What :func:`extract` does with a symlink whose target leaves the tree: create it
#: verbatim ("keep", the default), leave it out and report it ("skip-outside"), or refuse
#: the image before writing anything ("refuse-outside").
LINK_POLICIES = ("keep", "skip-outside", "refuse-outside")

_KNOWN_TYPES = frozenset({stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK, stat.S_IFCHR, stat.S_IFBLK,
                          stat.S_IFIFO, stat.S_IFSOCK})
_OPEN_PARENT = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_TEMP_TRIES = 16

Source = str | os.PathLike[str] | bytes | bytearray | memoryview | CramfsImage


# Plain classes, not dataclasses: ``dataclasses`` costs ~10 ms of the command's start-up.
class ExtractReport:
    """What :func:`extract` wrote (counts of ``files``, ``dirs``, ``symlinks``, ``specials``
    and file ``bytes``) and what it ``skipped`` (one line each).

    Model helper: no kernel counterpart.
    """

    def __init__(self) -> None:
        self.files = 0
        self.dirs = 0
        self.symlinks = 0
        self.specials = 0
        self.bytes = 0
        self.skipped: list[str] = []

    def __repr__(self) -> str:
        return (f"ExtractReport(files={self.files}, dirs={self.dirs}, symlinks={self.symlinks}, "
                f"specials={self.specials}, bytes={self.bytes}, skipped={self.skipped!r})")


class _Node:
    __slots__ = ("entry", "parts", "children", "target", "skip")

    def __init__(self, entry: Entry, parts: tuple[str, ...]) -> None:
        self.entry = entry
        self.parts = parts
        self.children: list[_Node] = []
        self.target: str | None = None  # symlink target
        self.skip: str | None = None  # why this symlink is not created (links="skip-outside")

    @property
    def where(self) -> str:
        return "/" + "/".join(self.parts)


def _check_name(e: Entry) -> str:
    raw = e.name
    if not raw or b"/" in raw or b"\0" in raw or raw in (b".", b".."):
        raise CramfsUnsafePathError(f"refusing file name {raw!r}", offset=e.inode_offset,
                                    field="name", where="inode")
    return raw.decode("utf-8", "surrogateescape")


def _check_links_policy(links: str) -> None:
    if links not in LINK_POLICIES:
        raise CramfsError(f"links must be one of {', '.join(LINK_POLICIES)}, not {links!r}",
                          field="links")


def validate_tree(image: CramfsImage, *, max_entries: int = MAX_ENTRIES,
                  max_total_bytes: int = MAX_TOTAL_BYTES, links: str = "keep") -> _Node:
    """Walk and vet the whole tree; returns it, or raises CramfsError before any write.

    Raises :class:`CramfsUnsafePathError` for bad names and duplicates,
    :class:`CramfsFormatError` for cycles and :class:`CramfsLimitError` for
    too many entries/bytes or too deep trees.  ``links`` is one of
    :data:`LINK_POLICIES`: with ``"refuse-outside"`` a symlink whose target
    leaves the tree (absolute, or too many ``..``, also through the image's
    own symlinks) raises :class:`CramfsUnsafePathError`; with
    ``"skip-outside"`` it is marked to be left out; ``"keep"`` accepts it.

    Model helper: no kernel counterpart.
    """
    _check_links_policy(links)
    root = _Node(image.root, ())
    seen = {image.root.data_offset} if image.root.size else set()
    count = 1
    total = 0
    queue = [root]
    symlinks: list[_Node] = []
    by_parts: dict[tuple[str, ...], _Node] = {(): root}
    while queue:
        node = queue.pop(0)
        names: set[bytes] = set()
        for e in image.listdir(node.entry):
            name = _check_name(e)
            if e.name in names:
                raise CramfsUnsafePathError(f"duplicate name {e.name!r} in /{node.entry.path}",
                                            offset=e.inode_offset, field="name", where="inode")
            names.add(e.name)
            count += 1
            if count > max_entries:
                raise CramfsLimitError(f"more than {max_entries} entries",
                                       offset=e.inode_offset, field="files", where="inode")
            if stat.S_IFMT(e.mode) not in _KNOWN_TYPES:
                raise CramfsFormatError(f"bogus file type in mode 0{e.mode:o}",
                                        offset=e.inode_offset, field="mode", where="inode")
            child = _Node(e, node.parts + (name,))
            node.children.append(child)
            by_parts[child.parts] = child
            if e.is_dir():
                if e.size:
                    if e.data_offset in seen:
                        raise CramfsFormatError(
                            f"directory cycle: entries at 0x{e.data_offset:x} already visited",
                            offset=e.inode_offset, field="offset", where="inode")
                    seen.add(e.data_offset)
                if len(child.parts) >= MAX_DEPTH:
                    raise CramfsLimitError(f"directory deeper than {MAX_DEPTH}",
                                           offset=e.inode_offset, field="offset", where="inode")
                queue.append(child)
            elif e.is_file():
                total += e.size
                if total > max_total_bytes:
                    raise CramfsLimitError(f"more than {max_total_bytes} bytes of file data",
                                           offset=e.inode_offset, field="size", where="inode")
            elif e.is_symlink():
                if e.size >= SYMLINK_MAX:
                    raise CramfsLimitError(f"symlink target of {e.size} bytes (limit "
                                           f"{SYMLINK_MAX - 1})", offset=e.inode_offset,
                                           field="size", where="inode")
                target = image.read_file(e)
                if not target or b"\0" in target:
                    raise CramfsUnsafePathError(f"symlink target {target!r} is empty or has NUL",
                                                offset=e.inode_offset, field="size",
                                                where="inode")
                child.target = target.decode("utf-8", "surrogateescape")
                symlinks.append(child)
    if links == "keep":
        return root
    for link in symlinks:
        if not _escapes(by_parts, link.parts[:-1], link.target or ""):
            continue
        if links == "refuse-outside":
            raise CramfsUnsafePathError(
                f"symlink {link.where} -> {link.target} points outside the tree",
                offset=link.entry.inode_offset, field="symlink target", where="inode")
        link.skip = f"{link.where} -> {link.target} (symlink points outside the tree)"
    return root


def _escapes(by_parts: dict[tuple[str, ...], _Node], parent: tuple[str, ...],
             target: str) -> bool:
    """Does ``target`` (relative to ``parent``) leave the tree, following image symlinks?"""
    if target.startswith("/"):
        return True
    stack = list(parent)
    parts = target.split("/")
    hops = 0
    while parts:
        p = parts.pop(0)
        if p in ("", "."):
            continue
        if p == "..":
            if not stack:
                return True
            stack.pop()
            continue
        stack.append(p)
        node = by_parts.get(tuple(stack))
        if node is not None and node.target is not None:
            hops += 1
            if hops > MAX_SYMLINK_HOPS:  # a loop: resolves to nothing (ELOOP), not outside
                return False
            if node.target.startswith("/"):
                return True
            stack.pop()
            parts = node.target.split("/") + parts
    return False


def _threads(workers: int | None) -> int:
    """Inflate threads: ``workers``, or 2 when this process may run on more than one CPU."""
    if workers is None:
        affinity = getattr(os, "sched_getaffinity", None)
        cpus = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
        return 2 if cpus > 1 else 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise CramfsError(f"workers must be None or an int >= 1, not {workers!r}",
                          field="workers")
    return workers


def _verify_crc(image: CramfsImage) -> None:
    """Refuse an FSID_VERSION_2 image whose ``fsid.crc`` does not match (``test_crc``)."""
    sb = image.superblock
    if not sb.fsid_v2:
        return  # the old format has no CRC
    crc = image.compute_crc()
    if crc != sb.crc:
        raise CramfsCRCError(
            f"CRC mismatch: stored 0x{sb.crc:08x}, computed 0x{crc:08x}; the image is damaged "
            "(verify_crc=False extracts it anyway)",
            offset=sb.base + SB_OFFSET_CRC, field="fsid.crc", where="superblock")


def _split_target(target_dir: str | os.PathLike[str]) -> tuple[str, str, str]:
    """(shown path, parent, last component) of the target; the component must be a name."""
    path = os.fspath(target_dir)
    parent, name = os.path.split(path.rstrip("/") or "/")
    if name in ("", ".", ".."):
        raise CramfsIOError(f"cannot extract into {path!r}: the target must end in a new "
                            "directory name")
    return path, parent or ".", name


def extract(
    source: Source,
    target_dir: str | os.PathLike[str],
    *,
    blocksize: int | None = None,
    max_entries: int = MAX_ENTRIES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    progress: Callable[[int], None] | None = None,
    links: str = "keep",
    verify_crc: bool = True,
    workers: int | None = None,
) -> ExtractReport:
    """Extract image ``source`` (path, bytes or :class:`CramfsImage`) into ``target_dir``.

    ``target_dir`` must not exist (like ``fsck.cramfs --extract=DIR``); its
    parents are created if missing.  Order: the superblock CRC (unless
    ``verify_crc=False``: :class:`CramfsCRCError`), then the whole tree
    (:func:`validate_tree`), then the writing, into a temporary directory
    beside the target that is renamed to ``target_dir`` only when everything
    is written; any error removes it again, so the target either holds the
    whole tree or does not exist.

    ``links`` (:data:`LINK_POLICIES`): ``"keep"`` creates every symlink with
    its target verbatim; ``"skip-outside"`` leaves out the ones whose target
    leaves the tree (listed in :attr:`ExtractReport.skipped`);
    ``"refuse-outside"`` raises :class:`CramfsUnsafePathError` for them
    before writing.  No link is followed while writing, whatever the policy.
    ``workers``: inflate threads (``None``: 2 when more than one CPU is
    usable, else 1); at most ``2 * workers`` batches of about 1 MiB are
    inflated ahead of the writing.  ``progress(nbytes)`` is called after
    each file.

    Raises only :class:`CramfsError` (besides whatever ``progress`` raises):
    the base class with ``field="links"``/``"workers"`` for a bad argument;
    :class:`CramfsIOError` for an existing target and OS errors;
    :class:`CramfsCRCError`; what :func:`validate_tree` raises;
    :class:`CramfsDataError` and friends for data that does not inflate;
    :class:`CramfsUnsafePathError` when something appears in the tree while
    it is written.

    util-linux: ``expand_fs`` in `disk-utils/fsck.cramfs.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/fsck.cramfs.c>`_.
    """
    _check_links_policy(links)
    threads = _threads(workers)
    shown, parent, name = _split_target(target_dir)
    if os.path.lexists(shown):
        raise CramfsIOError(f"cannot extract into {shown}: it already exists "
                            "(the target must be a new directory)")
    own = not isinstance(source, CramfsImage)
    image = open_image(source, blocksize=blocksize) if own else source
    try:
        if verify_crc:
            _verify_crc(image)
        tree = validate_tree(image, max_entries=max_entries, max_total_bytes=max_total_bytes,
                             links=links)
        report = ExtractReport()
        _write_tree(image, tree, shown, parent, name, report, progress, threads)
        return report
    finally:
        if own:
            image.close()


def _write_tree(image: CramfsImage, tree: _Node, shown: str, parent: str, name: str,
                report: ExtractReport, progress: Callable[[int], None] | None,
                threads: int) -> None:
    """Claim ``name`` in ``parent``, fill a temporary sibling, rename it over the claim."""
    try:
        os.makedirs(parent, exist_ok=True)
        pfd = os.open(parent, _OPEN_PARENT)
    except OSError as exc:
        raise CramfsIOError(f"cannot use {parent}: {exc.strerror}") from None
    try:
        try:
            os.mkdir(name, 0o700, dir_fd=pfd)
        except FileExistsError:
            raise CramfsIOError(f"cannot extract into {shown}: it already exists "
                                "(the target must be a new directory)") from None
        except OSError as exc:
            raise CramfsIOError(f"cannot create {shown}: {exc.strerror}") from None
        try:
            temp = _make_temp(pfd, name, shown)
            try:
                _fill_temp(image, tree, pfd, temp, report, progress, threads)
                try:
                    os.rename(temp, name, src_dir_fd=pfd, dst_dir_fd=pfd)
                except OSError as exc:
                    raise CramfsIOError(f"cannot move the extracted tree to {shown}: "
                                        f"{exc.strerror} (was {shown} changed meanwhile?)"
                                        ) from None
            except BaseException as exc:
                _cleanup(exc, lambda: _remove_tree(pfd, temp), os.path.join(parent, temp))
                raise
        except BaseException as exc:
            _cleanup(exc, lambda: os.rmdir(name, dir_fd=pfd), shown)
            raise
    finally:
        os.close(pfd)


def _make_temp(pfd: int, name: str, shown: str) -> str:
    """Create a fresh 0700 directory ``.<name>.mmlab-extract-<random>`` in ``pfd``."""
    for _ in range(_TEMP_TRIES):
        temp = f".{name[:64]}.mmlab-extract-{os.urandom(4).hex()}"
        try:
            os.mkdir(temp, 0o700, dir_fd=pfd)
            return temp
        except FileExistsError:
            continue
        except OSError as exc:
            raise CramfsIOError(f"cannot create a temporary directory beside {shown}: "
                                f"{exc.strerror}") from None
    raise CramfsIOError(f"cannot create a temporary directory beside {shown}: "
                        f"{_TEMP_TRIES} random names taken")


def _fill_temp(image: CramfsImage, tree: _Node, pfd: int, temp: str, report: ExtractReport,
               progress: Callable[[int], None] | None, threads: int) -> None:
    """Write ``tree`` into the temporary directory, then give it the image root's mode."""
    try:
        top = os.open(temp, _OPEN_DIR, dir_fd=pfd)
    except OSError as exc:
        raise CramfsUnsafePathError(f"cannot open the temporary directory {temp}: "
                                    f"{exc.strerror}") from None
    try:
        contents = image.iter_file_chunks(_files_in_write_order(tree), threads=threads)
        with closing(contents):
            writer = _Writer(report, progress, contents, top)
            writer.fill(top, tree)
        try:
            writer.status(top, tree)
        except OSError as exc:
            raise writer.oserror(tree, exc) from None
    finally:
        os.close(top)


def _files_in_write_order(root: _Node) -> list[Entry]:
    """The regular files in the order :meth:`_Writer.fill` meets them (depth first)."""
    out: list[Entry] = []
    stack = [iter(root.children)]
    while stack:
        for child in stack[-1]:
            if child.entry.is_dir():
                stack.append(iter(child.children))
                break
            if child.entry.is_file():
                out.append(child.entry)
        else:
            stack.pop()
    return out


def _cleanup(exc: BaseException, undo: Callable[[], None], what: str) -> None:
    """Run ``undo`` while ``exc`` propagates; if it fails, say so on ``exc``."""
    try:
        undo()
    except (OSError, ValueError) as err:
        exc.add_note(f"mmlab: could not remove {what}: {err}")


def _remove_tree(dfd: int, name: str) -> None:
    """Delete ``name`` in ``dfd`` and everything below it, never following a symlink.

    Directories are entered through ``O_NOFOLLOW`` fds and made writable
    first (a read-only directory of the image cannot be emptied otherwise);
    everything else, symlinks included, is unlinked by name.
    """
    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dfd)
        return
    if stat.S_IMODE(st.st_mode) & 0o700 != 0o700:
        # fchmodat(AT_SYMLINK_NOFOLLOW): fails (ValueError) on a symlink instead of following
        os.chmod(name, 0o700, dir_fd=dfd, follow_symlinks=False)
    fd = os.open(name, _OPEN_DIR, dir_fd=dfd)
    try:
        with os.scandir(fd) as it:
            names = [e.name for e in it]
        for child in names:
            _remove_tree(fd, child)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=dfd)


def _write_all(fd: int, chunks: list[bytes]) -> None:
    """Write the chunks in order with ``writev``, up to ``IOV_MAX`` at a time, until all
    bytes are written (a short write goes on where it stopped)."""
    iov_max = os.sysconf("SC_IOV_MAX")
    pending: list[bytes | memoryview] = [c for c in chunks if c]
    i = 0
    while i < len(pending):
        n = os.writev(fd, pending[i : i + iov_max])
        while n:
            head = len(pending[i])
            if n < head:
                pending[i] = memoryview(pending[i])[n:]
                break
            n -= head
            i += 1


class _Writer:
    def __init__(self, report: ExtractReport, progress: Callable[[int], None] | None,
                 contents: Iterator[tuple[Entry, list[bytes]]], top: int) -> None:
        self.report = report
        self.progress = progress
        self.contents = contents
        self.root = os.geteuid() == 0
        # Who owns what is created below ``top``: our euid, and our egid, or the group of
        # ``top`` if it is setgid (inherited from its parent); the directories made below
        # it keep 0700 without setgid until they are filled.
        st = os.fstat(top)
        self.owner = (os.geteuid(), st.st_gid if st.st_mode & stat.S_ISGID else os.getegid())

    def _mode(self, mode: int) -> int:
        perm = stat.S_IMODE(mode)
        return perm if self.root else perm & ~(stat.S_ISUID | stat.S_ISGID)

    def oserror(self, node: _Node, exc: OSError) -> CramfsError:
        where = node.where if node.parts else "the target directory"
        if exc.errno == errno.ELOOP:
            return CramfsUnsafePathError(f"{where} is a symlink in the target; not following",
                                         offset=node.entry.inode_offset, field="name",
                                         where="inode")
        if exc.errno == errno.ENOTDIR:  # O_DIRECTORY | O_NOFOLLOW on a symlink
            return CramfsUnsafePathError(
                f"{where} was replaced in the target (by a symlink?); not following",
                offset=node.entry.inode_offset, field="name", where="inode")
        if exc.errno == errno.EEXIST:
            return CramfsUnsafePathError(
                f"{where} appeared in the target while extracting; not overwriting it",
                offset=node.entry.inode_offset, field="name", where="inode")
        return CramfsIOError(f"cannot create {where}: {exc.strerror}",
                             offset=node.entry.inode_offset, field="name", where="inode")

    def fill(self, dfd: int, node: _Node) -> None:
        for child in node.children:
            name = child.parts[-1]
            e = child.entry
            try:
                if e.is_dir():
                    os.mkdir(name, 0o700, dir_fd=dfd)
                    cfd = os.open(name, _OPEN_DIR, dir_fd=dfd)
                    try:
                        self.fill(cfd, child)
                        self.status(cfd, child)
                    finally:
                        os.close(cfd)
                    self.report.dirs += 1
                elif e.is_file():
                    self._file(dfd, name, child)
                elif e.is_symlink():
                    self._symlink(dfd, name, child)
                else:
                    self._special(dfd, name, child)
            except OSError as exc:
                raise self.oserror(child, exc) from None

    def status(self, fd: int, node: _Node) -> None:
        """Owner (root only), then mode (chown clears setuid/setgid), then times of 0."""
        e = node.entry
        if self.root and (e.uid, e.gid) != self.owner:  # a new file is ours already
            os.fchown(fd, e.uid, e.gid)
        os.fchmod(fd, self._mode(node.entry.mode))
        os.utime(fd, (0, 0))  # cramfs stores no times: the kernel shows the epoch

    def _file(self, dfd: int, name: str, node: _Node) -> None:
        try:
            entry, chunks = next(self.contents)
        except CramfsError as exc:  # the data of this file does not inflate: say which file
            raise (exc.with_path(node.where) if exc.path is None else exc) from None
        if entry is not node.entry:  # the order of _files_in_write_order and fill() differ
            raise CramfsError(f"internal error: got the contents of /{entry.path} for "
                              f"{node.where}")
        fd = os.open(name, _OPEN_NEW, 0o600, dir_fd=dfd)
        try:
            _write_all(fd, chunks)
            self.status(fd, node)
        finally:
            os.close(fd)
        size = entry.size
        self.report.files += 1
        self.report.bytes += size
        if self.progress:
            self.progress(size)

    def _symlink(self, dfd: int, name: str, node: _Node) -> None:
        if node.skip is not None:
            self.report.skipped.append(node.skip)
            return
        os.symlink(node.target or "", name, dir_fd=dfd)
        if self.root:
            os.chown(name, node.entry.uid, node.entry.gid, dir_fd=dfd, follow_symlinks=False)
        os.utime(name, (0, 0), dir_fd=dfd, follow_symlinks=False)
        self.report.symlinks += 1

    def _special(self, dfd: int, name: str, node: _Node) -> None:
        e = node.entry
        if not self.root:
            self.report.skipped.append(f"{node.where} (special file, not root)")
            return
        dev = 0
        if stat.S_ISCHR(e.mode) or stat.S_ISBLK(e.mode):
            # cramfs stores old_encode_dev(rdev) in the size field (inode.c: old_decode_dev)
            dev = os.makedev((e.size >> 8) & 0xFF, e.size & 0xFF)
        os.mknod(name, stat.S_IFMT(e.mode) | 0o600, dev, dir_fd=dfd)
        os.chown(name, e.uid, e.gid, dir_fd=dfd, follow_symlinks=False)
        try:
            # fchmodat(AT_SYMLINK_NOFOLLOW): refuses a symlink swapped in instead of following
            os.chmod(name, self._mode(e.mode), dir_fd=dfd, follow_symlinks=False)
        except (ValueError, NotImplementedError):
            raise CramfsUnsafePathError(f"{node.where} is a symlink in the target; not "
                                        "following", offset=e.inode_offset, field="name",
                                        where="inode") from None
        os.utime(name, (0, 0), dir_fd=dfd, follow_symlinks=False)
        self.report.specials += 1
