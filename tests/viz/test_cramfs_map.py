"""mmlab.viz.cramfs_map: every byte of an image in one region, explained; explorer; drill."""

import json
import pathlib
import re
import stat
import struct
import zlib

import pytest

from mmlab.cramfs.elf import PF_R, PF_W, PF_X, make_elf
from mmlab.cramfs.layout import (
    CRAMFS_BLK_FLAG_DIRECT_PTR,
    CRAMFS_BLK_FLAG_UNCOMPRESSED,
    CRAMFS_MAGIC,
    CRAMFS_SIGNATURE,
)
from mmlab.cramfs.reader import open_image
from mmlab.cramfs.tree import Device, Dir, File, Symlink
from mmlab.cramfs.writer import build_image
from mmlab.scenarios import scenario_image
from mmlab.viz.cramfs_map import (
    MARKS,
    REGION_KINDS,
    REGION_STYLES,
    ImageMapExplorer,
    ImageOffsetDrill,
    block_pointer_kind,
    check_block_pointer_kind,
    compare_layouts,
    explain_byte,
    image_regions,
    layout_table,
    region_at,
)
from tests.viz.drawn import look

DATA = pathlib.Path(__file__).parent.parent.parent / "data"


def odd_tree():
    """Shared contents, an empty file and directory, a device, a symlink, a zero block."""
    return Dir({
        "a": File(b"same" * 2000),
        "b": File(b"same" * 2000),
        "empty": File(b""),
        "nothing": Dir({}),
        "tty": Device("c", 0x0501),
        "sparse": File(bytes(9000) + b"x"),
        "bin": Dir({"exe": File(make_elf([(PF_R | PF_X, 0, 6000)], 6000), mode=0o755)}),
        "link": Symlink("bin/exe"),
    })


def tiny_tree():
    return Dir({
        "bin": Dir({"hello": File(make_elf([(PF_R | PF_X, 0, 8192), (PF_R | PF_W, 8192, 900)],
                                           9092), mode=0o755)}),
        "etc": Dir({"motd": File(b"hello, flash!\n" * 300)}),
        "sh": Symlink("bin/hello"),
    })


IMAGES = {
    "scenario": scenario_image,
    "xip-sample": lambda: (DATA / "xip-sample.cramfs").read_bytes(),
    "classic": lambda: (DATA / "classic.cramfs").read_bytes(),
    "classic-be": lambda: (DATA / "classic-be.cramfs").read_bytes(),
    "classic-16k": lambda: (DATA / "classic-16k.cramfs").read_bytes(),
    "holes": lambda: (DATA / "holes.cramfs").read_bytes(),
    "xip-mkcramfs": lambda: (DATA / "xip.cramfs").read_bytes(),
    "pad-insert": lambda: build_image(odd_tree(), pad=True, insert_file=b"boot code " * 50),
    "holes-odd": lambda: build_image(odd_tree(), holes=True, endian="big"),
    "xip-odd": lambda: build_image(odd_tree(), xip=("*",)),
    "tiny-xip": lambda: build_image(tiny_tree(), xip=("bin/*",)),
}


@pytest.fixture(scope="module", params=sorted(IMAGES))
def image(request):
    return IMAGES[request.param]()


def test_every_byte_belongs_to_exactly_one_region(image):
    regions = image_regions(image)
    assert regions[0].start == 0 and regions[-1].end == len(image)
    for before, after in zip(regions, regions[1:], strict=False):
        assert before.end == after.start, (before, after)
    assert all(r.size > 0 and r.kind in REGION_KINDS for r in regions)
    assert not [r for r in regions if r.kind == "unreferenced"]
    # the byte-by-byte view agrees: each offset falls in the region that spans it
    owners = bytearray(len(image))
    for i, r in enumerate(regions):
        owners[r.start:r.end] = bytes([i % 251]) * r.size
    for offset in range(0, len(image), 97):
        assert regions.index(region_at(regions, offset)) % 251 == owners[offset]


def test_regions_hold_what_their_kind_says(image):
    """Checked from the raw bytes, not through the reader's block list."""
    img = open_image(image)
    regions = image_regions(img)
    base = img.superblock.base
    fields = {r.label: bytes(image[r.start:r.end]) for r in regions if r.kind == "superblock"}
    order = "<" if img.endian == "little" else ">"
    assert struct.unpack(order + "I", fields["magic"])[0] == CRAMFS_MAGIC
    assert fields["signature"] == CRAMFS_SIGNATURE
    assert sum(r.size for r in regions if r.kind == "superblock") + 12 == 76
    assert region_at(regions, base + 0x40).label == "root inode"
    bs = img.blocksize
    for entry in img.walk():
        inode = region_at(regions, entry.inode_offset)
        assert (inode.kind, inode.owner, inode.size) == ("inode", entry.path, 12)
        name = region_at(regions, entry.inode_offset + 12)
        assert name.kind == "name" and image[name.start:name.end].rstrip(b"\0") == entry.name
        if not (entry.is_file() or entry.is_symlink()) or entry.size == 0:
            continue
        word2 = struct.unpack_from(order + "I", image, entry.inode_offset + 8)[0]
        offset_field = word2 >> 6 if img.endian == "little" else word2 & ((1 << 26) - 1)
        pointers = region_at(regions, offset_field * 4)
        nblocks = -(-entry.size // bs)
        assert pointers.kind == "pointers" and pointers.size == 4 * nblocks
        content = img.read_file(entry)
        for r in regions:
            if r.owner != pointers.owner or r.index < 0:
                continue
            want = content[r.index * bs:(r.index + 1) * bs]
            raw = bytes(image[r.start:r.end])
            if r.kind == "compressed":
                assert zlib.decompress(raw) == want
            elif r.kind == "direct-compressed":
                assert zlib.decompress(raw[2:]) == want
            else:
                assert raw == want and r.kind in ("uncompressed", "direct")
            if r.kind == "direct":
                assert r.start % bs == 0  # an XIP page starts on a page


def test_xip_scenario_image_has_the_direct_pages_the_scenarios_describe():
    image = scenario_image()
    regions = image_regions(image)
    direct = {}
    for r in regions:
        if r.kind == "direct":
            direct.setdefault(r.owner, []).append(r.index)
    assert direct == {"bin/xipexe": [0, 1, 2, 3], "lib/gappy.so": [0, 2, 3],
                      "lib/ld-tail.so": [0, 1, 2], "lib/libc.so.6": [0, 1, 2]}
    # ld-tail's last page is partial: the next file's pointers share its flash page
    tail = next(r for r in regions if r.owner == "lib/ld-tail.so" and r.index == 2)
    after = region_at(regions, tail.end)
    assert (after.kind, after.owner, tail.size) == ("pointers", "lib/libc.so.6", 100)


def test_padding_says_whether_it_is_zero(image):
    for r in image_regions(image):
        if r.kind in ("padding", "boot-pad"):
            assert any(image[r.start:r.end]) == ("not zeroed" in r.label), r


def test_padding_is_zero_in_images_mmlab_writes_but_after_a_stored_block():
    for make in ("scenario", "pad-insert", "xip-odd", "tiny-xip"):
        image = IMAGES[make]()
        regions = image_regions(image)
        for before, r in zip(regions, regions[1:], strict=False):
            if r.kind in ("padding", "boot-pad") and before.kind != "uncompressed":
                assert not any(image[r.start:r.end]), (make, r)
    kinds = {r.kind for r in image_regions(IMAGES["pad-insert"]())}
    assert {"boot-pad", "inserted"} <= kinds


def test_explain_byte_names_the_field():
    image = scenario_image()
    regions = image_regions(image)
    assert "field magic" in explain_byte(image, regions, 0)
    assert "field offset" in explain_byte(image, regions, 0x4A)  # the root inode's offset
    img = open_image(image)
    exe = img.lookup("bin/xipexe")
    line = explain_byte(image, regions, exe.inode_offset + 10)
    assert "inode of bin/xipexe" in line and f"byte 0x{exe.data_offset:x}" in line
    assert "field mode" in explain_byte(image, regions, exe.inode_offset)
    assert "field size" in explain_byte(image, regions, exe.inode_offset + 5)
    line = explain_byte(image, regions, exe.data_offset + 4)
    assert "block pointer 1 of bin/xipexe" in line and "direct, starts at 0x2000" in line
    assert "XIP page" in explain_byte(image, regions, 0x2345)
    assert "name of bin/xipexe" in explain_byte(image, regions, exe.inode_offset + 12)
    assert "padding" in explain_byte(image, regions, len(image) - 1)
    with pytest.raises(IndexError):
        region_at(regions, len(image))


def test_big_endian_inode_bytes_name_their_fields():
    image = IMAGES["holes-odd"]()
    regions = image_regions(image)
    img = open_image(image)
    a = img.lookup("a")
    # big-endian bitfields: mode is the high half of word 0, namelen the top 6 bits of word 2
    assert "field mode" in explain_byte(image, regions, a.inode_offset)
    assert "field namelen and offset" in explain_byte(image, regions, a.inode_offset + 8)
    assert "field offset" in explain_byte(image, regions, a.inode_offset + 11)


def test_explorer_file_highlights_inode_pointers_and_blocks():
    image = scenario_image()
    e = ImageMapExplorer(image)
    e.widget()
    first = e.png()
    e.set(file="lib/gappy.so")
    img = open_image(image)
    gappy = img.lookup("lib/gappy.so")
    kinds = [r.kind for r in e.file_regions()]
    assert kinds.count("direct") == 3 and kinds.count("compressed") == 1
    assert {"inode", "name", "pointers"} <= set(kinds)
    text = e.text
    assert f"offset 0x{gappy.inode.offset:x} (byte 0x{gappy.data_offset:x})" in text
    assert "block 1: pointer 0x00007025 -> compressed" in text
    assert "block 0: pointer 0xc0001800 -> direct" in text
    assert e.png() != first
    e.set(file="etc")
    assert "motd.txt" in e.text and "entries at" in e.text
    motd = img.lookup("etc/motd.txt")
    assert {(r.kind, r.owner) for r in e.file_regions()} == {
        ("inode", "etc"), ("name", "etc"), ("inode", "etc/motd.txt"), ("name", "etc/motd.txt")}
    assert motd.inode_offset in {r.start for r in e.file_regions()}
    e.set(file="/")
    assert "in the superblock" in e.text
    assert e.update_times and all(t < 1.0 for t in e.update_times)
    bundle = e._repr_mimebundle_()
    assert "image/png" in bundle and bundle["text/plain"] == e.text


def test_explorer_shared_data_is_highlighted_for_both_files():
    e = ImageMapExplorer(build_image(odd_tree()))
    a = {(r.start, r.end) for r in e.file_regions("a") if r.kind not in ("inode", "name")}
    b = {(r.start, r.end) for r in e.file_regions("b") if r.kind not in ("inode", "name")}
    assert a and a == b


def test_explorer_byte_and_region_stepping():
    image = scenario_image()
    regions = image_regions(image)
    e = ImageMapExplorer(image)
    e.set(byte="0x4a")
    assert "root inode" in e.text and "field offset" in e.text
    before = e.png()
    e.set(byte=str(0x1000))
    assert e.region.kind == "direct" and "block 0 of bin/xipexe" in e.text
    assert e.png() != before
    e.press("next")
    assert e.byte == region_at(regions, 0x1000).end == 0x2000
    e.press("prev")
    assert e.byte == 0x1000 and e.controls["byte"].value == "0x1000"
    e.set(byte="0x4a")  # the box still drives the explorer after a press updated it
    assert e.byte == 0x4A and "root inode" in e.text
    assert e.controls["byte"]._trait_notifiers["comm"]["change"]  # the widget's own observer
    e.set(byte="0x4c")  # then a file: the text follows the control set last
    e.set(file="bin/xipexe")
    assert "4 block pointer(s)" in e.text
    e.set(byte="zzz")
    assert "type an offset" in e.text
    e.set(byte=hex(len(image)))
    assert "outside the image" in e.text
    e2 = ImageMapExplorer(image)
    for _ in range(len(regions) + 2):
        e2.press("next")
    assert e2.byte == regions[-1].start


def test_drill_is_seeded_and_checks_answers():
    d1, d2 = ImageOffsetDrill(7), ImageOffsetDrill(7)
    assert d1.image == d2.image and d1.problem() == d2.problem()
    assert ImageOffsetDrill(8).image != d1.image
    img = open_image(d1.image)
    regions = image_regions(d1.image)
    seen = set()
    for _ in range(9):
        text, answer = d1.problem(), d1.answer()
        seen.add(type(answer))
        if "block pointers of" in text:
            path = text.split("block pointers of ")[1].split(" start?")[0]
            inode_at = int(text.split("inode is at ")[1].rstrip(")"), 16)
            word2 = struct.unpack_from("<I", d1.image, inode_at + 8)[0]
            assert img.lookup(path).inode_offset == inode_at
            assert answer == (word2 >> 6) * 4
            assert d1.check(hex(answer)) and d1.check(answer) and not d1.check(answer + 4)
            # hex without 0x, as the map writes offsets (a trial learner's "1ed4" was refused)
            assert d1.check(f"{answer:x}") and d1.check(f" 0X{answer:X} ")
            assert not d1.check(True) and not d1.check(f"{answer + 4:x}")
        elif "what kind of region" in text:
            offset = int(text.split("byte ")[1].split("?")[0], 16)
            assert answer == region_at(regions, offset).kind
            assert d1.check(answer.upper()) and not d1.check("padding") and not d1.check(3)
        else:
            assert region_at(regions, answer).start == answer
            assert not d1.check("not a number")
        d1.next()
    assert seen == {int, str}


def test_block_pointer_kind_and_its_check():
    assert block_pointer_kind(0x1234) == "compressed"
    assert block_pointer_kind(CRAMFS_BLK_FLAG_UNCOMPRESSED | 0x1234) == "uncompressed"
    assert block_pointer_kind(CRAMFS_BLK_FLAG_DIRECT_PTR | 0x400) == "direct-compressed"
    assert block_pointer_kind(CRAMFS_BLK_FLAG_DIRECT_PTR | CRAMFS_BLK_FLAG_UNCOMPRESSED) == \
        "direct"

    def right(ptr):
        if ptr >> 30 == 3:
            return "direct"
        return {0: "compressed", 1: "direct-compressed", 2: "uncompressed"}[ptr >> 30]

    def todo(ptr):
        raise NotImplementedError

    assert check_block_pointer_kind(right).ok
    assert not check_block_pointer_kind(lambda p: "compressed").ok
    assert check_block_pointer_kind(todo).not_done


def test_layout_tables():
    tree = tiny_tree()
    classic, xip = build_image(tree), build_image(tree, xip=("bin/*",))
    assert "bin/hello" in layout_table(classic) and " ccc" in layout_table(classic)
    text = compare_layouts(classic, xip)
    assert "XXu" in text or "XXc" in text
    assert "EXT_BLOCK_POINTERS" in text.splitlines()[1]


def test_device_has_no_data_and_says_so():
    e = ImageMapExplorer(build_image(odd_tree()))
    e.set(file="tty")
    assert "no data" in e.text
    assert stat.S_ISCHR(open_image(e.image.data).lookup("tty").mode)


@pytest.mark.parametrize("capture", ["xip-scenarios", "xip-sample"])
def test_in_place_pages_agrees_with_the_real_kernel(capture):
    """The count cramfs logged ("mapped f[pgoff] ... (n/m pages)") or its bail-out reason."""
    from mmlab import xip
    from mmlab.viz.cramfs_map import in_place_pages

    record = json.loads((DATA / "kernel-captures" / f"{capture}.json").read_text())
    image = scenario_image() if capture == "xip-scenarios" else \
        (DATA / "xip-sample.cramfs").read_bytes()
    sb = xip.mount(image, None, "mixedmap")
    checked = 0
    for s in record["scenarios"]:
        if s["open_errno"] or s["mmap_errno"] or s["prot"] & 2:  # PROT_WRITE: no direct map
            continue
        inode = sb.open(s["path"]).f_inode
        pages, why = in_place_pages(inode, s["offset"] // 4096, -(-s["length"] // 4096))
        log = " ".join(s["kernel_log"])
        mapped = re.search(r"mapped \S+ at \S+ \((\d+)/\d+ pages\)", log)
        assert pages == (int(mapped.group(1)) if mapped else 0), s["name"]
        if not mapped:
            assert f"direct mmap impossible: {why}" in log, s["name"]
        checked += 1
    assert checked >= 8


def test_row_width_control():
    small = build_image(tiny_tree())
    e = ImageMapExplorer(small)
    assert e.row_bytes == 256 and e.rows == len(small) // 256
    assert e.controls["row"].options == (("4096 bytes/row", 4096), ("1024 bytes/row", 1024),
                                         ("256 bytes/row", 256))
    before = e.png()
    e.set(row=4096)
    assert e.rows == 1 and e.png() != before
    big = ImageMapExplorer((DATA / "xip-sample.cramfs").read_bytes())
    assert big.row_bytes == 4096 and big.row_choices == (4096,)  # 256 or 1024 B: too many rows
    with pytest.raises(ValueError, match="row_bytes"):
        ImageMapExplorer(scenario_image(), row_bytes=256)


# --- the picture ---------------------------------------------------------------------------------
def _luminance(colour: str) -> float:
    """Relative luminance (WCAG) of a #rrggbb colour."""
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def test_region_kinds_differ_by_more_than_colour():
    assert set(REGION_STYLES) == set(REGION_KINDS)
    styles = list(REGION_STYLES.values())
    for i, a in enumerate(styles):
        for b in styles[i + 1:]:
            # the same hatch (or none): told apart by lightness, in greyscale too
            if a.hatch == b.hatch:
                assert abs(_luminance(a.face) - _luminance(b.face)) >= 0.2, (a.key, b.key)


def _data_file(e):
    return next(p for p in e.paths if e.image.lookup(p).is_file() and e.image.lookup(p).size)


def test_map_legend_lists_every_kind_drawn_at_every_row_width(image):
    e = ImageMapExplorer(image)
    present = {r.kind for r in e.regions}
    for rb in e.row_choices:
        e.set(row=rb)
        e.set(file=_data_file(e))
        e.set(byte=str(e.length // 2))
        pic = look(e)
        assert pic.problems == [], (rb, pic.problems)
        region_kinds = pic.used - set(MARKS)
        assert region_kinds == present  # every kind in the image is drawn, nothing else
        assert pic.legend == present | set(MARKS)
        assert pic.used >= set(MARKS)  # a file and a byte chosen: both marks drawn
        assert pic.smallest_font >= 7


@pytest.mark.parametrize("which", ["classic", "xip", "scenario", "drill"])
def test_map_reads_right_as_a_learner_walks_it(which):
    """Chapter 3's cells: every file at the first row width, region by region at the
    narrowest, one look at each other width."""
    image = {"classic": lambda: build_image(tiny_tree(), endian="little"),
             "xip": lambda: build_image(tiny_tree(), endian="little", xip=("bin/*",)),
             "scenario": scenario_image,
             "drill": lambda: ImageOffsetDrill().image}[which]()
    e = ImageMapExplorer(image, byte=0)
    assert look(e).problems == []
    for path in ("", "/", *e.paths):
        e.set(file=path)
        assert look(e).problems == [], path
    e.set(row=e.row_choices[-1])
    for _ in range(12):
        e.press("next")
        assert look(e).problems == [], hex(e.byte)
    for rb in e.row_choices[:-1]:
        e.set(row=rb)
        assert look(e).problems == [], rb
    e.set(byte="-3")
    assert look(e).problems == []


def test_map_row_offsets_are_in_order_at_the_left_of_their_rows():
    e = ImageMapExplorer(ImageOffsetDrill().image)
    for rb in e.row_choices:
        e.set(row=rb)
        pic = look(e)
        offsets = [lab for lab in pic.box_labels if lab.text.startswith("0x")]
        offsets.sort(key=lambda lab: -lab.centre[1])  # top first
        values = [int(lab.text, 16) for lab in offsets]
        assert values[0] == 0 and values == sorted(values)
        step = values[1] - values[0]
        assert step % rb == 0 and values == list(range(0, values[-1] + 1, step))
        assert all(lab.box[2] < 0.1 for lab in offsets)  # in the gutter, left of the map
        heights = [lab.box[3] - lab.box[1] for lab in offsets]
        assert max(heights) - min(heights) < 1e-3  # each label's box is one row high


def test_map_block_numbers_sit_on_their_blocks():
    image = scenario_image()
    e = ImageMapExplorer(image, file="lib/libc.so.6")
    pic = look(e)
    ax = e._figure.axes[0]
    to_figure = ax.transData + e._figure.transFigure.inverted()
    img = open_image(image)
    blocks = img.blocks(img.lookup("lib/libc.so.6"))
    numbers = {lab.text: lab for lab in pic.box_labels if not lab.text.startswith("0x")}
    assert {"block 0", "block 1", "block 2"} <= set(numbers)  # the three XIP pages
    for b in blocks:
        label = next(v for k, v in numbers.items() if k in (f"block {b.index}", f"b{b.index}",
                                                             str(b.index)))
        x0, y0, x1, y1 = e._rects(b.start, b.end)[0]
        cx, cy = to_figure.transform(((x0 + x1) / 2, (y0 + y1) / 2))
        bx0, by0, bx1, by1 = label.box
        assert bx0 <= cx <= bx1 and by0 <= cy <= by1, b.index
    assert "lib/libc.so.6's regions outlined" in e.alt_text()


def test_map_arrows_stay_in_the_picture():
    from matplotlib.patches import FancyArrowPatch

    classic = build_image(tiny_tree(), endian="little")
    for image, path in ((classic, "etc/motd"), (classic, "bin/hello"),
                        (scenario_image(), "lib/libc.so.6"), (scenario_image(), "lib/gappy.so")):
        e = ImageMapExplorer(image, file=path)
        for rb in e.row_choices:
            e.set(row=rb)
            look(e)
            fig = e._figure
            renderer = fig.canvas.get_renderer()
            arrows = fig.findobj(FancyArrowPatch)
            assert arrows, (path, rb)
            for arrow in arrows:
                box = arrow.get_window_extent(renderer)
                assert box.y0 >= 0 and box.y1 <= fig.bbox.height, (path, rb)
                assert box.x0 >= 0 and box.x1 <= fig.bbox.width, (path, rb)


# --- what two learner trials of chapter 3 ran into ------------------------------------------------
def test_every_row_width_offered_keeps_rows_readable(image):
    e = ImageMapExplorer(image)
    for rb in e.row_choices:
        e.set(row=rb)
        if rb != 4096:
            assert e.rows <= 32 and e.row_height >= 11
        if e.rows <= 32:
            assert e.row_height >= 11
    # the chapter's XIP image (four pages): 256 bytes/row would be 64 rows of 4 pt
    xip = ImageMapExplorer(build_image(tiny_tree(), endian="little", xip=("bin/*",)),
                           file="bin/hello")
    assert xip.row_choices == (4096, 1024)
    xip.set(row=1024)
    pic = look(xip)
    assert pic.problems == [] and {"block 0", "block 1"} <= {lab.text for lab in pic.box_labels}


def test_every_row_is_labelled_up_to_32_rows_and_the_chosen_files_rows_past_that():
    e = ImageMapExplorer(scenario_image(), file="lib/libc.so.6")
    assert e.rows == 18
    offsets = [lab.text for lab in look(e).box_labels if lab.text.startswith("0x")]
    assert offsets == [f"0x{r * 4096:05x}" for r in range(18)]
    assert "0x0d000" in offsets  # the row of ld-tail.so's shared last page, 0xd064
    big = ImageMapExplorer((DATA / "xip-sample.cramfs").read_bytes())
    assert big.rows > 32
    plain = {lab.text for lab in look(big).box_labels if lab.text.startswith("0x")}
    path = next(p for p in big.paths if p.startswith("c_"))  # its blocks: rows 22-26
    big.set(file=path)
    pic = look(big)
    assert pic.problems == []
    labelled = {lab.text for lab in pic.box_labels if lab.text.startswith("0x")}
    rows = {f"0x{(r.start // 4096) * 4096:05x}" for r in big.file_regions()}
    assert plain < labelled and (rows - plain) & labelled


def test_region_stepping_from_past_the_end_goes_to_the_last_region():
    image = build_image(tiny_tree(), endian="little")
    regions = image_regions(image)
    e = ImageMapExplorer(image)
    e.set(byte="0x99999")
    e.press("prev")
    assert e.byte == regions[-1].start
    e.set(byte=hex(len(image)))
    e.press("next")
    assert e.byte == regions[-1].start
    e.set(byte="-3")
    e.press("next")
    assert e.byte == 0
    e.set(byte="")
    e.press("prev")
    assert e.byte == 0


def test_choosing_the_root_names_its_inode_and_its_entries():
    image = build_image(tiny_tree(), endian="little")
    e = ImageMapExplorer(image, file="/")
    pic = look(e)
    assert pic.problems == []
    ax = e._figure.axes[0]
    to_figure = ax.transData + e._figure.transFigure.inverted()
    inodes = {r.owner: r for r in e.file_regions() if r.kind == "inode"}
    assert inodes["/"].start == 0x40 and set(inodes) == {"/", "bin", "etc", "sh"}
    named = {lab.text: lab for lab in pic.box_labels if not lab.text.startswith("0x")}
    for owner, text in (("/", "root"), ("bin", "bin"), ("etc", "etc"), ("sh", "sh")):
        label = next(v for k, v in named.items() if k == text or k == "root inode" and
                     text == "root")
        x0, y0, x1, y1 = e._rects(inodes[owner].start, inodes[owner].end)[0]
        cx, cy = to_figure.transform(((x0 + x1) / 2, (y0 + y1) / 2))
        bx0, by0, bx1, by1 = label.box
        assert bx0 <= cx <= bx1 and by0 <= cy <= by1, owner
    e.set(file="bin/hello")
    assert "inode" in {lab.text for lab in look(e).box_labels}


def test_the_legend_says_what_a_classic_pointer_holds():
    label = MARKS["chosen-file"].label
    assert "pointer → the block it describes" in label and "classic pointer holds the " \
        "block's end" in label
    e = ImageMapExplorer(build_image(tiny_tree(), endian="little"), file="bin/hello")
    assert label in [t.get_text() for t in look(e).texts]


# --- what the cold trial of part 1 ran into -------------------------------------------------
def test_a_small_image_opens_at_the_closest_row_width_offered():
    # the 16 KiB XIP image at 4096 bytes/row crowded its arrows and "b2" at the left edge
    xip = ImageMapExplorer(build_image(tiny_tree(), endian="little", xip=("bin/*",)))
    assert xip.row_choices == (4096, 1024) and xip.row_bytes == 1024
    assert ImageMapExplorer(build_image(tiny_tree(), endian="little")).row_bytes == 256
    assert ImageMapExplorer(scenario_image()).row_bytes == 4096  # 18 pages: 1024 is 72 rows


def _arrows(e):
    from matplotlib.patches import FancyArrowPatch

    look(e)
    return e._figure.findobj(FancyArrowPatch)


def test_arrows_to_blocks_stacked_at_the_left_edge_fan_into_the_map():
    # libc's pointers at 0xd064 point at blocks that start each row at x = 0: the arrows ran
    # together over the row offsets and the numbers "3 4"
    e = ImageMapExplorer(scenario_image(), file="lib/libc.so.6")
    arrows = _arrows(e)
    assert len(arrows) == 5
    rads = [float(str(a.get_connectionstyle().rad)) for a in arrows]
    assert all(r != 0 for r in rads)
    assert [abs(r) for r in rads] == sorted(abs(r) for r in rads)  # each bulges more
    assert len({round(abs(r), 3) for r in rads}) == len(rads)
    ax = e._figure.axes[0]
    for arrow, rad in zip(arrows, rads, strict=True):
        # arc3's control point, rad * (dy, -dx) from the middle in display coordinates, lies
        # right of the straight line: the arrow bends into the map, not over the row offsets
        (x0, y0), (x1, y1) = ax.transData.transform(arrow._posA_posB)
        assert rad * (y1 - y0) > 0
    # each head ends on the top edge of its block's box, above the block's number
    img = open_image(scenario_image())
    for arrow, block in zip(arrows, img.blocks(img.lookup("lib/libc.so.6")), strict=True):
        x0, y0, _x1, _y1 = e._rects(block.start, block.end)[0]
        hx, hy = arrow._posA_posB[1]
        assert hx == pytest.approx(x0) and hy == pytest.approx(y0, abs=0.2 * e.row_height)


def test_byte_order_hint_names_the_big_endian_order_and_the_number_itself():
    from mmlab.viz.cramfs_map import byte_order_hint

    stored = bytes([0x00, 0x10, 0x00, 0x00])
    for guess in ([0, 0, 0x10, 0], (0, 0, 16, 0), "00 00 10 00"):
        assert "big-endian order" in byte_order_hint(guess, stored)
    for guess in (0x1000, "0x1000"):
        assert "the number itself (0x1000)" in byte_order_hint(guess, stored)
    for guess in ([0, 0x10, 0, 0], [0x10, 0, 0, 0], ..., None, [0, 0, 0x10]):
        assert byte_order_hint(guess, stored) == ""
