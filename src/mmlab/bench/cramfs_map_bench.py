"""How fast the cramfs image map redraws: ImageMapExplorer driven through 50 changes per image.

Each change is what a learner does (choose a file, type a byte offset, step to the next region);
the time of one update is the model step and the redraw together (goal: well under 50 ms).
Also: the cost of cutting an image into regions, paid once per explorer.
"""

from __future__ import annotations

import pathlib
import statistics
import time

from mmlab.cramfs.elf import PF_R, PF_W, PF_X, make_elf
from mmlab.cramfs.tree import Dir, File, Symlink
from mmlab.cramfs.writer import build_image
from mmlab.scenarios import scenario_image
from mmlab.viz.cramfs_map import ImageMapExplorer, ImageOffsetDrill, image_regions

DATA = pathlib.Path(__file__).resolve().parents[3] / "data"


def percentiles(times: list[float]) -> tuple[float, float]:
    """p50 and p95 of ``times`` in milliseconds."""
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1e3, p95 * 1e3


def drive(explorer: ImageMapExplorer, changes: int = 50) -> tuple[list[float], list[float]]:
    """Change the explorer's controls ``changes`` times, in a learner's mix.

    Returns the wall-clock update times the explorer recorded and the CPU time of each change
    (the second is what the code costs when other processes share the cores).
    """
    explorer.widget()
    paths = ["/", *explorer.paths]
    length = explorer.length
    cpu = []
    for i in range(changes):
        t0 = time.process_time()
        step = i % 3
        if step == 0:
            explorer.set(file=paths[i % len(paths)])
        elif step == 1:
            explorer.set(byte=hex((i * 7919) % length))
        else:
            explorer.press("next")
        cpu.append(time.process_time() - t0)
    return explorer.update_times[-changes:], cpu


def main() -> None:
    hello = make_elf([(PF_R | PF_X, 0, 8192), (PF_R | PF_W, 8192, 900)], 9092)
    tiny = Dir({"bin": Dir({"hello": File(hello, mode=0o755)}),
                "etc": Dir({"motd": File(b"hello, flash!\n" * 300)}), "sh": Symlink("bin/hello")})
    images = {"chapter 3's classic": build_image(tiny),  # one page: drawn at 256 bytes a row
              "scenario image": scenario_image(), "drill image": ImageOffsetDrill(2017).image}
    sample = DATA / "xip-sample.cramfs"
    if sample.exists():
        images["xip-sample.cramfs"] = sample.read_bytes()
    for name, image in images.items():
        t0 = time.perf_counter()
        regions = image_regions(image)
        cut = time.perf_counter() - t0
        times, cpu = drive(ImageMapExplorer(image))
        p50, p95 = percentiles(times)
        c50, c95 = percentiles(cpu)
        print(f"ImageMapExplorer, {name:20} ({len(image) // 1024:3} KiB, {len(regions):3} "
              f"regions, cut in {cut * 1e3:.1f} ms): update p50 {p50:5.1f} ms, p95 {p95:5.1f} ms "
              f"(CPU p50 {c50:5.1f}, p95 {c95:5.1f}) over {len(times)} changes (goal < 50 ms)")

if __name__ == "__main__":
    main()
