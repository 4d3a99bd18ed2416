"""Random sequences of mmap/munmap/mprotect/faults keep the model consistent.

After every step: VMAs sorted, non-overlapping and page aligned; PTEs only inside VMAs; page
reference counts equal to what maps and caches hold; the mmap lock free. `make test` runs the
fast profile; `make test-long` runs 10,000 sequences (MMLAB_PROFILE=long).
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmlab import fault, memory
from mmlab.fs import FMODE_READ, FMODE_WRITE, file_from_bytes
from mmlab.mm import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    MM,
    PAGE_MASK,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    System,
)

pytestmark = pytest.mark.profile

BASE = 0x40000000
PAGES = 48
prots = st.sampled_from([PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE, PROT_READ | PROT_EXEC])
page = st.integers(0, PAGES - 1)
npages = st.floats(0, 8).map(lambda x: round(x * 4) / 4)  # sometimes not whole pages, or 0

op = st.one_of(
    st.tuples(st.just("anon"), page, npages, prots, st.sampled_from([MAP_PRIVATE, MAP_SHARED])),
    st.tuples(st.just("file"), page, npages, prots, st.sampled_from([MAP_PRIVATE, MAP_SHARED]),
              st.integers(0, 6), st.booleans()),
    st.tuples(st.just("munmap"), page, npages),
    st.tuples(st.just("mprotect"), page, npages, prots),
    st.tuples(st.just("fault"), page, st.booleans()),
    st.tuples(st.just("nonfixed"), npages, prots),
)


def check(mm, files):
    vmas = mm.vmas
    for v in vmas:
        assert v.vm_start < v.vm_end and not v.vm_start & ~PAGE_MASK and not v.vm_end & ~PAGE_MASK
        assert v.vm_mm is mm
    for a, b in zip(vmas, vmas[1:], strict=False):
        assert a.vm_end <= b.vm_start
    mm.mm_rb.check()
    problems = memory.check_mm_invariants(mm)
    assert not problems, problems
    assert not mm.mmap_sem.is_locked


@given(st.lists(op, max_size=25))
def test_random_sequences_keep_the_model_consistent(ops):
    mm = MM(System())  # its own machine: the pages of earlier examples' mms are not its own
    files = [
        file_from_bytes(bytes(range(256)) * 16 * 5, "/data/a", mode=FMODE_READ | FMODE_WRITE),
        file_from_bytes(b"ro" * 2048 * 3 + b"tail", "/data/b", mode=FMODE_READ),
    ]
    for o in ops:
        kind = o[0]
        addr = BASE + o[1] * PAGE_SIZE if kind != "nonfixed" else 0
        try:
            if kind == "anon":
                mm.mmap(addr, int(o[2] * PAGE_SIZE), o[3], o[4] | MAP_ANONYMOUS | MAP_FIXED)
            elif kind == "file":
                f = files[o[6]]
                mm.mmap(addr, int(o[2] * PAGE_SIZE), o[3], o[4] | MAP_FIXED, f, o[5] * PAGE_SIZE)
            elif kind == "munmap":
                mm.munmap(addr, int(o[2] * PAGE_SIZE))
            elif kind == "mprotect":
                mm.mprotect(addr, int(o[2] * PAGE_SIZE), o[3])
            elif kind == "nonfixed":
                mm.mmap(0, int(o[1] * PAGE_SIZE), o[2], MAP_PRIVATE | MAP_ANONYMOUS)
            else:
                result = fault.do_page_fault(mm, addr + 123, write=o[2])
                assert result.signal in (None, "SIGSEGV", "SIGBUS")
        except OSError as e:
            assert e.errno in (12, 13, 22, 75), e  # ENOMEM, EACCES, EINVAL, EOVERFLOW
        check(mm, files)
