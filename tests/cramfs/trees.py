"""Trees for the writer tests: fixed builders, hypothesis strategies, and mkfs.cramfs runners.

Every tree is an in-memory :class:`mmlab.cramfs.tree.Dir`.  To hand the same
tree to ``mkfs.cramfs`` it is written to a temporary directory with
:func:`mmlab.cramfs.tree.materialize`; ownership, devices and sockets only when
running as root (``IS_ROOT``), otherwise the builders leave them out.
"""

from __future__ import annotations

import itertools
import os
import random
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hypothesis import strategies as st

from mmlab.cramfs import elf
from mmlab.cramfs.reader import open_image
from mmlab.cramfs.tree import Device, Dir, Fifo, File, Node, Socket, Symlink, materialize

IS_ROOT = os.geteuid() == 0
MKFS = shutil.which("mkfs.cramfs") or "/usr/sbin/mkfs.cramfs"
FSCK = shutil.which("fsck.cramfs") or "/usr/sbin/fsck.cramfs"
HAVE_MKFS = os.path.exists(MKFS)
HAVE_FSCK = os.path.exists(FSCK)

TEXT = b"Testing cramfs 1234567890 Endianness check 1234567890 Endianness check\n"


def _yes(line: bytes, n: int) -> bytes:
    """What ``yes LINE | dd bs=n count=1`` leaves: ``n`` bytes of repeated ``line``."""
    return (line * (n // len(line) + 1))[:n]


def _rand(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


# --- fixed trees ------------------------------------------------------------------------------


def tree_empty() -> Dir:
    """Just the root."""
    return Dir()


def tree_endianness() -> Dir:
    """util-linux tests/ts/cramfs/mkfs-endianness: dirA/dirB/{a (512 B), b (30*512 B)}."""
    return Dir({"dirA": Dir({"dirB": Dir({"a": File(_yes(TEXT[:-1] + b"\n", 512)),
                                          "b": File(_yes(TEXT, 30 * 512))})})})


def tree_doubles() -> Dir:
    """util-linux tests/ts/cramfs/doubles: two identical files share their data."""
    return Dir({"a": File(b"hello\n"), "b": File(b"hello\n")})


def tree_checksums() -> Dir:
    """util-linux tests/ts/cramfs/mkfs: 111 directories of 11 small files each."""
    return Dir({f"dir-{d:03d}": Dir({f"data.{f:03d}": File(b"data in %03d-%03d" % (d, f))
                                     for f in range(11)}) for d in range(111)})


def tree_mixed() -> Dir:
    """Most corner cases at once (blocks, doubles, symlinks, names, modes, ids)."""
    big = _yes(TEXT, 70_000)
    zeros_mid = _yes(TEXT, 4096) + bytes(3 * 16384) + _yes(TEXT, 100)
    uid_big, gid_big = (70_000, 300) if IS_ROOT else (os.getuid(), os.getgid())
    uid_mid = 300 if IS_ROOT else os.getuid()
    return Dir({
        "empty": File(b""),
        "one": File(b"1"),
        "exact4k": File(_yes(TEXT, 4096)),
        "exact4k+1": File(_yes(TEXT, 4097)),
        "big.txt": File(big),
        "random.bin": File(_rand(20_000, 1)),
        "zeros": File(bytes(70_000)),
        "zeros_mid": File(zeros_mid),
        "dup1": File(big),
        "lnk_same_as_file": Symlink("one-target"),
        "one-target-file": File(b"one-target"),
        "lnk": Symlink("big.txt"),
        "abs_lnk": Symlink("/etc/passwd"),
        "modes": Dir({
            "suid": File(b"s", mode=0o4755),
            "all": File(b"a", mode=0o7777),
            "none": File(b"n", mode=0o000),
            "sticky-dir": Dir({"x": File(b"x")}, mode=0o1777),
        }, mode=0o750),
        "ids": Dir({
            "uid70000": File(b"u", uid=uid_big, gid=gid_big),
            "uid300": File(b"v", uid=uid_mid, gid=uid_mid if IS_ROOT else os.getgid()),
        }),
        "names": Dir({
            "x" * 252: File(b"252"),
            "é-ü-\u4e2d": File(b"utf8"),
            b"\xff\xfe-latin1": File(b"bytes"),
            ".hidden": File(b"h"),
            "B": File(b"B"), "a": File(b"a"), "_": File(b"_"),
        }),
        "emptydir": Dir(),
        "deep": _deep(12),
        "dup_in_subdir": Dir({"copy": File(big), "copy_lnk_target": File(b"big.txt")}),
    })


def tree_longnames() -> Dir:
    """Names of 253-255 bytes overflow the 6-bit namelen field; mkfs.cramfs writes them anyway."""
    return Dir({"n" * 255: File(b"255"), "m" * 253: File(b"253"), "ok": File(b"ok")})


def tree_many() -> Dir:
    """600 entries in one directory plus a fan of small subdirectories."""
    d = Dir({f"f{i:04d}": File(b"%d" % (i % 37)) for i in range(600)})
    for i in range(40):
        d.add(f"sub{i:02d}", Dir({"a": File(b"x" * i), "b": Dir()}))
    return d


def tree_special() -> Dir:
    """Devices (rdev beyond 24 bits too), fifos and sockets: root only."""
    if not IS_ROOT:
        return Dir({"fifo": Fifo(0o644)})
    return Dir({
        "null": Device("c", os.makedev(1, 3), mode=0o666),
        "sda": Device("b", os.makedev(8, 0), mode=0o660, gid=6),
        "bigmajor": Device("c", os.makedev(300, 5)),
        "bigminor": Device("c", os.makedev(4, 70_000)),
        "fifo": Fifo(0o644),
        "sock": Socket(0o755),
        "dir": Dir({"tty": Device("c", os.makedev(5, 0), mode=0o666, gid=5)}),
    })


def tree_elf() -> Dir:
    """ELF files of every class/byte order, and text (for XIP layouts)."""
    return Dir({
        "bin": Dir({
            "prog32le": File(elf.make_elf([(5, 0, 0x2800), (6, 0x3000, 0x900)], 0x4000),
                             mode=0o755),
            "prog64be": File(elf.make_elf([(5, 0, 0x1800), (6, 0x2000, 0x1000)], 0x3100,
                                          bits=64, endian="big"), mode=0o755),
        }),
        "lib": Dir({
            "libx.so.1": File(elf.make_elf([(4, 0, 0x1000), (5, 0x1000, 0x2000),
                                            (6, 0x3000, 0x1100)], 0x4100, bits=64)),
            "libx.so": Symlink("libx.so.1"),
        }),
        "etc": Dir({"motd": File(_yes(b"welcome to mmlab\n", 5000))}),
    })


def _deep(n: int) -> Dir:
    d = Dir({"leaf": File(b"deep")})
    for i in range(n):
        d = Dir({f"d{i}": d, f"f{i}": File(b"%d" % i)})
    return d


FIXED_TREES: dict[str, Callable[[], Dir]] = {
    "empty": tree_empty,
    "endianness": tree_endianness,
    "doubles": tree_doubles,
    "checksums": tree_checksums,
    "mixed": tree_mixed,
    "longnames": tree_longnames,
    "many": tree_many,
    "special": tree_special,
    "elf": tree_elf,
}

# --- options ----------------------------------------------------------------------------------

#: one value per mkfs.cramfs option being "off" and "on"
OPTION_AXES: dict[str, tuple] = {
    "endian": ("little", "big"),
    "blocksize": (4096, 8192, 16384, 65536),
    "holes": (False, True),
    "pad": (False, True),
    "edition": (0, 4242),
    "name": ("Compressed", "mmlab-name-longer-than-16"),
    "insert_file": (None, "INSERT"),
}


def all_option_combinations() -> list[dict]:
    """Every combination of :data:`OPTION_AXES` (2*4*2*2*2*2*2 = 256)."""
    keys = list(OPTION_AXES)
    return [dict(zip(keys, vals, strict=True))
            for vals in itertools.product(*(OPTION_AXES[k] for k in keys))]


def option_id(opts: dict) -> str:
    """A short pytest id for an option set, e.g. ``N-big_b-8192_z_p``."""
    parts = [f"N{opts['endian'][0]}", f"b{opts['blocksize'] // 1024}k"]
    parts += [flag for flag, key in (("z", "holes"), ("p", "pad")) if opts.get(key)]
    if opts.get("edition"):
        parts.append(f"e{opts['edition']}")
    if opts.get("name", "Compressed") != "Compressed":
        parts.append("n")
    if opts.get("insert_file"):
        parts.append("i")
    return "-".join(parts)


INSERT_BYTES = b"boot code? no: an -i file image of 37 bytes\n"[:37]


def mkfs_args(opts: dict, insert_path: str | None) -> list[str]:
    """mkfs.cramfs command-line options for ``opts`` (keywords of build_image)."""
    args = ["-N", opts.get("endian", "host"), "-b", str(opts.get("blocksize", 4096))]
    if opts.get("holes"):
        args.append("-z")
    if opts.get("pad"):
        args.append("-p")
    if opts.get("edition"):
        args += ["-e", str(opts["edition"])]
    if opts.get("name", "Compressed") != "Compressed":
        args += ["-n", opts["name"]]
    if opts.get("insert_file"):
        args += ["-i", insert_path]
    return args


def writer_kwargs(opts: dict, insert_path: str | None) -> dict:
    """``opts`` with the insert-file placeholder replaced by a real path."""
    kw = dict(opts)
    if kw.get("insert_file"):
        kw["insert_file"] = insert_path
    return kw


def run_mkfs(src: str | os.PathLike, opts: dict, workdir: str | os.PathLike) -> tuple[bytes, str]:
    """(image bytes, stderr) of ``mkfs.cramfs [opts] src out`` run in ``workdir``."""
    work = Path(workdir)
    insert = work / "insert.bin"
    if opts.get("insert_file") and not insert.exists():
        insert.write_bytes(INSERT_BYTES)
    out = work / "mkfs.img"
    proc = subprocess.run([MKFS, *mkfs_args(opts, str(insert)), os.fspath(src), str(out)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise AssertionError(f"mkfs.cramfs failed ({proc.returncode}): {proc.stderr}")
    data = out.read_bytes()
    out.unlink()
    return data, proc.stderr


def mkfs_warnings(stderr: str) -> set[str]:
    """The warning texts mkfs.cramfs printed (program name stripped, joined lines)."""
    text = stderr.replace("\nthat some", " that some")
    return {line.split(": ", 1)[1].strip() for line in text.splitlines() if ": " in line}


def run_fsck(image: bytes, blocksize: int, workdir: str | os.PathLike,
             ) -> subprocess.CompletedProcess:
    """``fsck.cramfs -b BLOCKSIZE image`` (exit 0 = clean)."""
    path = Path(workdir) / "fsck.img"
    path.write_bytes(image)
    try:
        return subprocess.run([FSCK, "-b", str(blocksize), str(path)], capture_output=True,
                              text=True, check=False)
    finally:
        path.unlink()


@contextmanager
def materialized(tree: Dir) -> Iterator[Path]:
    """A temporary directory holding ``tree`` (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="mmlab-tree-") as tmp:
        root = Path(tmp) / "root"
        materialize(tree, root)
        try:
            yield root
        finally:
            os.chmod(root, 0o755)


def count_nodes(tree: Dir) -> int:
    """Entries below the root (what fsid.files counts, minus the root)."""
    n = 0
    for node in tree.entries.values():
        n += 1 + (count_nodes(node) if isinstance(node, Dir) else 0)
    return n


# --- hypothesis strategies --------------------------------------------------------------------

_NAME_CHARS = st.sampled_from([b"a", b"b", b"Z", b"_", b".", b"-", b"0", b"\xc3\xa9", b"\xff",
                               b" ", b"~"])
_LONG = st.sampled_from([b"L" * 252, b"M" * 200, b"N" * 255, b"O" * 253])


def _valid(name: bytes) -> bool:
    return name not in (b".", b"..") and 0 < len(name) <= 255


names = st.one_of(
    st.lists(_NAME_CHARS, min_size=1, max_size=12).map(b"".join),
    _LONG,
).filter(_valid)
"""Entry names: short ones from an awkward alphabet (sort order!), some very long ones."""

_ids = (st.sampled_from([0, 1, 255, 256, 1000, 65535, 65536, 70_000, 2**31 - 1])
        if IS_ROOT else st.just(None))


def _chunk() -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=300),
        st.builds(lambda n: bytes(n), st.integers(0, 20_000)),  # zero runs: holes
        st.builds(_yes, st.sampled_from([TEXT, b"ab", b"\x00\x01"]), st.integers(1, 20_000)),
        st.builds(_rand, st.integers(1, 9000), st.integers(0, 1000)),
    )


contents = st.lists(_chunk(), max_size=4).map(b"".join)
"""File contents: empty, tiny, multi-block, zero runs (holes), incompressible."""

_modes = st.sampled_from([0o644, 0o755, 0o600, 0o000, 0o4755, 0o2711, 0o1777, 0o7777, 0o444])


@st.composite
def _meta(draw) -> dict:
    uid, gid = draw(_ids), draw(_ids)
    if uid is None:
        uid, gid = os.getuid(), os.getgid()
    return {"mode": draw(_modes), "uid": uid, "gid": gid}


@st.composite
def leaves(draw) -> Node:
    """A non-directory node (devices, fifos and sockets only when root)."""
    kinds = ["file", "file", "file", "symlink"]
    if IS_ROOT:
        kinds += ["dev", "fifo", "sock"]
    kind = draw(st.sampled_from(kinds))
    m = draw(_meta())
    if kind == "file":
        if not IS_ROOT:
            m["mode"] |= 0o400  # mkfs.cramfs must be able to read it
        return File(draw(contents), **m)
    if kind == "symlink":
        target = draw(st.one_of(names, st.just(b"../" * 3 + b"x")))
        return Symlink(target, uid=m["uid"], gid=m["gid"])
    if kind == "dev":
        rdev = draw(st.sampled_from([os.makedev(1, 3), os.makedev(8, 1), os.makedev(300, 2),
                                     os.makedev(4, 70_000), 0]))
        return Device(draw(st.sampled_from("cb")), rdev, **m)
    if kind == "fifo":
        return Fifo(**m)
    return Socket(**m)


def _dir_of(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Dir]:
    @st.composite
    def build(draw) -> Dir:
        m = draw(_meta())
        if m["mode"] & 0o700 != 0o700 and not IS_ROOT:
            m["mode"] |= 0o700
        entries = draw(st.dictionaries(names, children, max_size=6))
        return Dir(entries, **m)

    return build()


trees = _dir_of(st.recursive(leaves(), _dir_of, max_leaves=18))
"""Random trees: nested directories of files, symlinks (and devices etc. as root)."""


@st.composite
def with_duplicates(draw) -> Dir:
    """A random tree plus copies of one of its files elsewhere (exercises data sharing)."""
    tree = draw(trees)
    data = draw(contents)
    tree.add(b"dupA", File(data))
    sub = Dir({b"dupB": File(data), b"lnk": Symlink(data[:200].replace(b"\0", b"") or b"x")})
    tree.add(b"zz_sub", sub)
    return tree


option_sets = st.fixed_dictionaries({k: st.sampled_from(v) for k, v in OPTION_AXES.items()})
"""One random combination of :data:`OPTION_AXES`."""


def tree_from_image(image: bytes) -> Dir:
    """Rebuild an in-memory tree from an image with the reader (metadata as stored)."""
    img = open_image(image)
    root_inode = img.root.inode
    root = Dir(mode=root_inode.mode, uid=root_inode.uid, gid=root_inode.gid)
    dirs = {"": root}
    for e in img.walk():
        parent = dirs[e.path.rpartition("/")[0]]
        m = {"mode": e.mode & 0o7777, "uid": e.uid, "gid": e.gid}
        fmt = stat.S_IFMT(e.mode)
        if fmt == stat.S_IFDIR:
            node = dirs[e.path] = Dir(**m)
        elif fmt == stat.S_IFREG:
            node = File(img.read_file(e), **m)
        elif fmt == stat.S_IFLNK:
            node = Symlink(img.read_file(e), **m)
        elif fmt in (stat.S_IFCHR, stat.S_IFBLK):
            node = Device("c" if fmt == stat.S_IFCHR else "b", e.size, **m)
        elif fmt == stat.S_IFIFO:
            node = Fifo(**m)
        else:
            node = Socket(**m)
        parent.add(e.name, node)
    return root
