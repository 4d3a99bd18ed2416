"""The VMA container: lookups and the top-down gap search against brute force."""

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from mmlab import vmatree


@dataclass(eq=False)
class R:
    vm_start: int
    vm_end: int


def brute_find(ranges, addr):
    return next((r for r in sorted(ranges, key=lambda r: r.vm_start) if r.vm_end > addr), None)


def brute_gap(ranges, length, low, high):
    for a in range(high - length, low - 1, -1):
        if all(r.vm_end <= a or r.vm_start >= a + length for r in ranges):
            return a
    return None


ops = st.lists(
    st.tuples(st.sampled_from(["add", "del", "move"]), st.integers(0, 60), st.integers(1, 6)),
    max_size=60,
)


@given(ops, st.integers(1, 8), st.integers(0, 30), st.integers(30, 70))
def test_tree_matches_brute_force(script, length, low, high):
    old = vmatree.CHUNK
    vmatree.CHUNK = 4  # small chunks, so splits and skips happen
    try:
        tree, ranges = vmatree.VmaTree(), []
        for kind, a, n in script:
            if kind == "add" and all(r.vm_end <= a or r.vm_start >= a + n for r in ranges):
                r = R(a, a + n)
                tree.insert(r)
                ranges.append(r)
            elif kind == "del" and ranges:
                r = ranges.pop(a % len(ranges))
                tree.remove(r)
            elif kind == "move" and ranges:
                r = ranges[a % len(ranges)]
                new_end = r.vm_end + (n - 3)
                others = [o for o in ranges if o is not r]
                if new_end > r.vm_start and all(
                    o.vm_end <= r.vm_start or o.vm_start >= new_end for o in others
                ):
                    tree.set_bounds(r, r.vm_start, new_end)
            tree.check()
        for addr in range(0, 70):
            assert tree.find(addr) is brute_find(ranges, addr)
        assert tree.find_gap_topdown(length, low, high) == brute_gap(ranges, length, low, high)
    finally:
        vmatree.CHUNK = old
