"""What ``mmlab cramfs`` says when something is wrong: the exact words for the common cases,
one line, one prefix (``mmlab cramfs CMD: ``) for every message."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from mmlab.cli import main

from .conftest import DATA, IS_ROOT, fix_crc, mkfs, needs_mkfs

pytestmark = needs_mkfs


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def links_img(tmp_path_factory) -> Path:
    """A tree of symlinks: chains, absolute, through a directory, dangling, a loop."""
    root = tmp_path_factory.mktemp("links") / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "file").write_bytes(b"the file\n")
    (root / "sub" / "inner").write_bytes(b"inner\n")
    (root / "lnk").symlink_to("file")
    (root / "lnk2").symlink_to("lnk")
    (root / "abs").symlink_to("/file")  # absolute: from the image root
    (root / "sub" / "up").symlink_to("../file")
    (root / "dirlink").symlink_to("sub")
    (root / "loop").symlink_to("loop")
    (root / "out").symlink_to("../../etc/passwd")  # the image has no etc/passwd
    return mkfs(root, root.parent / "links.img")


# --- cat ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "want"), [
    ("file", b"the file\n"), ("/file", b"the file\n"), ("lnk", b"the file\n"),
    ("lnk2", b"the file\n"), ("abs", b"the file\n"), ("sub/up", b"the file\n"),
    ("dirlink/inner", b"inner\n"), ("/dirlink/../file", b"the file\n"),
])
def test_cat_follows_symlinks_inside_the_image(capsysbinary, links_img, path, want):
    code = main(["cramfs", "cat", str(links_img), path])
    out, err = capsysbinary.readouterr()
    assert (code, out, err) == (0, want, b"")


@pytest.mark.parametrize(("path", "said"), [
    ("sub", "sub is a directory"),
    ("/", "/ is a directory"),
    ("dirlink", "dirlink is a directory"),
    ("/nope", "/nope does not exist"),
    ("sub/nope", "sub/nope does not exist"),
    ("nope/x", "nope/x: nope does not exist"),
    ("file/x", "file/x: file is not a directory"),
    ("out", "out is a symbolic link to ../../etc/passwd, which is not in the image"),
    ("loop", "loop: too many levels of symbolic links"),
])
def test_cat_says_what_is_wrong_with_the_path(capsys, links_img, path, said):
    code, out, err = run(capsys, "cramfs", "cat", str(links_img), path)
    assert code == 1 and out == ""
    assert err == f"mmlab cramfs cat: {links_img}: {said}\n"


def test_cat_of_a_device_node(capsys):
    img = DATA / "xip.cramfs"
    code, _, err = run(capsys, "cramfs", "cat", str(img), "dev/null")
    assert code == 1
    assert err == f"mmlab cramfs cat: {img}: dev/null is a character device, not a regular file\n"


def test_cat_of_a_damaged_file_names_it(capsys, image_factory, tmp_path):
    data = bytearray(image_factory().read_bytes())
    from mmlab.cramfs.reader import open_image

    with open_image(bytes(data)) as im:
        block = im.blocks(im.lookup("text.txt"))[1]
    data[block.start + 10 : block.start + 30] = bytes(20)
    fix_crc(data)
    bad = tmp_path / "bad.img"
    bad.write_bytes(data)
    code, _, err = run(capsys, "cramfs", "cat", str(bad), "text.txt")
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"mmlab cramfs cat: {bad}: text.txt: block at 0x{block.start:x}: data: ")


def test_ls_of_a_missing_path(capsys, links_img):
    code, out, err = run(capsys, "cramfs", "ls", "-l", str(links_img), "sub/nope")
    assert (code, out) == (1, "")
    assert err == f"mmlab cramfs ls: {links_img}: sub/nope does not exist\n"


def test_not_an_image(capsys, tmp_path):
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"\0" * 4096)
    code, _, err = run(capsys, "cramfs", "info", str(junk))
    assert code == 1
    assert err == (f"mmlab cramfs info: {junk}: not a cramfs image: superblock at 0x0: magic: "
                   "0x00000000 is not the cramfs magic 0x28cd3d45 (nor at 0x200)\n")
    code, _, err = run(capsys, "cramfs", "info", str(tmp_path / "none.img"))
    assert code == 1
    assert err == (f"mmlab cramfs info: cannot open {tmp_path / 'none.img'}: No such file or "
                   "directory\n")


# --- build -------------------------------------------------------------------------------------

def test_build_of_a_missing_source(capsys, tmp_path):
    src, img = tmp_path / "nosuch", tmp_path / "out.img"
    code, _, err = run(capsys, "cramfs", "build", str(src), str(img))
    assert code == 1 and not img.exists()
    assert err == f"mmlab cramfs build: {src} does not exist (build needs a source directory)\n"
    src.write_text("a file")
    code, _, err = run(capsys, "cramfs", "build", str(src), str(img))
    assert code == 1
    assert err == (f"mmlab cramfs build: {src} is not a directory (build needs a source "
                   "directory)\n")


@pytest.mark.skipif(not IS_ROOT, reason="chown to uid 70000 needs root")
def test_build_warnings_carry_the_prefix(capsys, tmp_path):
    pytest.importorskip("mmlab.cramfs.writer")
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"data")
    os.chown(src / "f", 70000, 0)  # cramfs keeps 16 bits of a uid: a warning
    code, _, err = run(capsys, "cramfs", "build", str(src), str(tmp_path / "o.img"))
    assert code == 0 and err
    assert all(line.startswith("mmlab cramfs build: warning: ") for line in err.splitlines())


# --- extract -----------------------------------------------------------------------------------

def test_extract_into_an_existing_file(capsys, links_img, tmp_path):
    target = tmp_path / "here.txt"
    target.write_text("keep me")
    code, _, err = run(capsys, "cramfs", "extract", str(links_img), str(target))
    assert code == 8 and target.read_text() == "keep me"
    assert err == (f"mmlab cramfs extract: {target} exists and is a file (extract creates a new "
                   "directory)\n")


@pytest.mark.parametrize("filled", [True, False], ids=["non-empty", "empty"])
def test_extract_into_an_existing_directory(capsys, links_img, tmp_path, filled):
    target = tmp_path / "there"
    target.mkdir()
    if filled:
        (target / "mine").write_text("keep me")
    code, _, err = run(capsys, "cramfs", "extract", str(links_img), str(target))
    assert code == 8
    assert [p.name for p in target.iterdir()] == (["mine"] if filled else [])
    assert err == (f"mmlab cramfs extract: {target} already exists (extract creates a new "
                   "directory: remove it or name one that does not exist)\n")


def test_extract_bad_crc_says_how_to_go_on(capsys, image_factory, tmp_path):
    data = bytearray(image_factory().read_bytes())
    stored = struct.unpack_from("<I", data, 0x20)[0]
    data[-1] ^= 1  # in the zero padding: only the CRC notices
    bad = tmp_path / "crc.img"
    bad.write_bytes(data)
    from mmlab.cramfs.reader import open_image

    with open_image(bytes(data)) as im:
        computed = im.compute_crc()
    code, _, err = run(capsys, "cramfs", "extract", str(bad), str(tmp_path / "out"))
    assert code == 4 and not (tmp_path / "out").exists()
    assert err == (f"mmlab cramfs extract: {bad}: CRC mismatch (stored 0x{stored:08x}, computed "
                   f"0x{computed:08x}): the image is damaged; nothing was extracted "
                   "(--ignore-crc extracts it anyway)\n")
    code, _, err = run(capsys, "cramfs", "extract", "--ignore-crc", str(bad), str(tmp_path / "o"))
    assert code == 0 and (tmp_path / "o" / "hello.txt").read_bytes() == b"hello, cramfs\n"
    assert err == (f"mmlab cramfs extract: warning: {bad}: CRC mismatch ignored (--ignore-crc): "
                   "the image is damaged\n")


# --- usage -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "said"), [
    (["cramfs", "check"],
     "mmlab cramfs check: the following arguments are required: image; "
     "see 'mmlab cramfs check --help'"),
    (["cramfs", "extract", "img"],
     "mmlab cramfs extract: the following arguments are required: directory; "
     "see 'mmlab cramfs extract --help'"),
    (["cramfs", "extract", "--links", "follow", "img", "d"],
     "mmlab cramfs extract: argument --links: invalid choice: 'follow' (choose from 'keep', "
     "'skip-outside', 'refuse-outside'); see 'mmlab cramfs extract --help'"),
    (["cramfs", "ls", "img", "/", "extra"],
     "mmlab cramfs ls: unrecognized arguments: extra; see 'mmlab cramfs ls --help'"),
    (["cramfs", "frobnicate"],
     "mmlab cramfs: argument SUBCOMMAND: invalid choice: 'frobnicate' (choose from 'info', "
     "'ls', 'cat', 'extract', 'build', 'check'); see 'mmlab cramfs --help'"),
])
def test_usage_errors_are_one_line(capsys, argv, said):
    code, out, err = run(capsys, *argv)
    assert out == "" and err == said + "\n"
    assert code == (16 if argv[1] in ("check", "extract") else 2)


def test_every_message_names_its_command(capsys, image_factory, tmp_path):
    img = str(image_factory())
    junk = tmp_path / "junk"
    junk.write_bytes(b"x" * 1000)
    for argv in (["info", str(junk)], ["ls", img, "nope"], ["cat", img, "dir"],
                 ["extract", str(junk), str(tmp_path / "o")], ["check", str(junk)],
                 ["build", str(tmp_path / "none"), str(tmp_path / "i")], ["check", "-v", img]):
        _, _, err = run(capsys, "cramfs", *argv)
        for line in err.splitlines():
            assert line.startswith(f"mmlab cramfs {argv[0]}: "), (argv, line)
