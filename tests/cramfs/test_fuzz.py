"""Fuzzing: mutated images (byte flips, field overwrites, truncation) only ever raise
CramfsError, take under a second each, and extraction never writes outside its target:
a refused image (by its CRC first, then with verify_crc=False by its tree or its data
part-way through the writing) leaves neither the target nor a temporary directory, and
an extracted one has every object it reports inside the target (links kept verbatim,
never written through), with every link policy and one or two inflate threads.

``make test`` runs the hypothesis test with the fast profile (60 examples);
``make test-long`` (MMLAB_PROFILE=long) runs the seeded mutator on >= 100,000 inputs.
"""

from __future__ import annotations

import collections
import os
import random
import shutil
import signal
import stat
import struct
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmlab.cramfs import CramfsError, CramfsIOError, check_image, open_image
from mmlab.cramfs.extract import LINK_POLICIES, ExtractReport, extract

from .conftest import MKFS, XIP_SAMPLE, make_tree, mkfs

TIME_LIMIT = 1.0  #: seconds per input
FUZZ_MAX_BYTES = 8 << 20  #: extraction limit while fuzzing (a fuzzed size field can say 16 MiB)
#: byte strings that make names and symlink targets hostile
EVIL_BYTES = [b"..\0\0", b".\0\0\0", b"/", b"../", b"\0", b"/etc", b"../../"]
INTERESTING_U32 = [0, 1, 2, 3, 4, 0x4C, 0x7F, 0x80, 0xFF, 0x100, 0x1000, 0xFFFF, 0x10000,
                   0xFFFFFF, 0x1000000, 0x3FFFFFFF, 0x40000000, 0x7FFFFFFF, 0x80000000,
                   0xC0000000, 0xFFFFFFFF]


class Timeout(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    """SIGPROF after ``seconds`` of CPU time: a hang fails the test instead of blocking it.

    CPU time, not wall time (ITIMER_PROF), so a loaded shared machine does not make
    the limit flaky; nothing under test sleeps or waits.
    """

    t0 = time.process_time()
    w0 = time.perf_counter()

    def handler(signum, frame):
        used = time.process_time() - t0
        if used < seconds:  # early/stray signal: re-arm for the rest instead of failing
            signal.setitimer(signal.ITIMER_PROF, max(seconds - used, 0.01))
            return
        raise Timeout(f"input took more than {seconds} s of CPU time "
                      f"(cpu {used:.3f} s, wall {time.perf_counter() - w0:.3f} s)")

    old = signal.signal(signal.SIGPROF, handler)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, old)


def exercise(data: bytes, jail: Path, *, links: str = "keep",
             workers: int | None = None) -> tuple[str, str, int]:
    """Read, check and extract ``data``; returns (read outcome, extract outcome, check exit).

    Extraction runs as users run it (CRC first); when the CRC refuses the image, again with
    ``verify_crc=False`` so the tree checks and the temporary-directory writing see it too.
    """
    outcome = "ok"
    crc_ok = None
    try:
        with open_image(data) as im:
            im.info()
            crc_ok = im.crc_ok()
            total = 0
            for e in im.walk():
                if (e.is_file() or e.is_symlink()) and total < FUZZ_MAX_BYTES:
                    total += e.size
                    try:
                        im.read_file(e)
                    except CramfsError as exc:
                        outcome = type(exc).__name__
    except CramfsError as exc:
        outcome = type(exc).__name__
    report = check_image(data)
    assert report.exit_code in (0, 4, 8)
    extracted = extract_confined(data, jail, links=links, workers=workers)
    if crc_ok is False:  # the image opens, so the CRC is what refuses it, before the tree
        assert extracted == "CramfsCRCError", extracted
    if extracted == "CramfsCRCError":
        again = extract_confined(data, jail, links=links, workers=workers, verify_crc=False)
        extracted = f"{extracted}, then {again}"
    return outcome, extracted, report.exit_code


def extract_confined(data: bytes, jail: Path, **options) -> str:
    """Extract into ``jail/target``: the outcome, after checking that nothing went elsewhere."""
    target = jail / "target"
    try:
        done = extract(data, target, max_total_bytes=FUZZ_MAX_BYTES, max_entries=20_000,
                       **options)
    except CramfsError as exc:
        # validation must catch every bad image before the OS has to refuse a write
        assert not isinstance(exc, CramfsIOError), exc
        # all or nothing: no target, no temporary directory beside it
        assert os.listdir(jail) == [], os.listdir(jail)
        return type(exc).__name__
    assert_confined(jail, target, data, done)
    return "extracted"


def assert_confined(jail: Path, target: Path, data: bytes, done: ExtractReport) -> None:
    """Only ``target`` in the jail, and every object the report counts is inside it, at the
    path and with the type the image gives: none was created through a link elsewhere.

    Symlinks are kept verbatim, so they may point anywhere; what must not happen is a write
    through one.  Then the target is removed (never following a link).
    """
    assert os.listdir(jail) == ["target"]
    with open_image(data) as im:
        types = {e.path: stat.S_IFMT(e.mode) for e in im.walk()}
    found = 0
    for dirpath, dirs, files in os.walk(target):  # does not follow links to directories
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, target)
            assert stat.S_IFMT(os.lstat(p).st_mode) == types.get(rel), rel
            found += 1
    assert found == done.files + done.dirs + done.symlinks + done.specials
    shutil.rmtree(target, ignore_errors=True)
    if target.exists():  # read-only dirs: make the real ones writable (never via a link)
        for dirpath, dirs, _ in os.walk(target):
            for d in dirs:
                p = os.path.join(dirpath, d)
                if not os.path.islink(p):
                    os.chmod(p, 0o700)
        shutil.rmtree(target)


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> list[bytes]:
    """Valid images to mutate: LE, BE with holes, padded, 8 KiB blocks, the XIP sample."""
    if MKFS is None:
        pytest.skip("mkfs.cramfs not installed")
    base = tmp_path_factory.mktemp("fuzzseeds")
    src = make_tree(base / "src", big=False)
    (src / "some.txt").write_bytes(b"".join(b"%05d fuzz\n" % i for i in range(1200)))
    (src / "zeros").write_bytes(bytes(9000))
    out = [mkfs(src, base / f"s{i}.img", *opts).read_bytes() for i, opts in enumerate(
        [(), ("-N", "big", "-z"), ("-p",), ("-b", "8192")])]
    out.append(XIP_SAMPLE.read_bytes())
    return out


def mutate(data: bytes, rng: random.Random) -> bytes:
    """1-4 random mutations, biased to the metadata at the start of the image."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not b:
            break
        hot = min(len(b), 1024) if rng.random() < 0.7 else len(b)
        pos = rng.randrange(hot)
        op = rng.random()
        if op < 0.4:
            b[pos] ^= 1 << rng.randrange(8)
        elif op < 0.6:
            b[pos] = rng.randrange(256)
        elif op < 0.85:
            pos &= ~3
            if pos + 4 <= len(b):
                fmt = rng.choice("<>")
                struct.pack_into(fmt + "I", b, pos, rng.choice(INTERESTING_U32)
                                 if rng.random() < 0.7 else rng.getrandbits(32))
        elif op < 0.9:
            evil = rng.choice(EVIL_BYTES)
            b[pos : pos + len(evil)] = evil[: len(b) - pos]
        elif op < 0.97:
            del b[rng.randrange(len(b) + 1) :]
        else:
            b[pos : pos + 4] = b""
    return bytes(b)


@st.composite
def mutations(draw):
    ops = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "byte", "u32", "evil", "truncate"]))
        pos = draw(st.one_of(st.integers(0, 1023), st.integers(0, 1 << 18)))
        if kind == "flip":
            ops.append((kind, pos, draw(st.integers(0, 7))))
        elif kind == "byte":
            ops.append((kind, pos, draw(st.integers(0, 255))))
        elif kind == "evil":
            ops.append((kind, pos, draw(st.sampled_from(EVIL_BYTES))))
        elif kind == "u32":
            val = draw(st.one_of(st.sampled_from(INTERESTING_U32), st.integers(0, 2**32 - 1)))
            ops.append((kind, pos & ~3, (val, draw(st.sampled_from("<>")))))
        else:
            ops.append((kind, pos, None))
    return ops


def apply(data: bytes, ops) -> bytes:
    b = bytearray(data)
    for kind, pos, arg in ops:
        if not b:
            break
        pos %= len(b)
        if kind == "flip":
            b[pos] ^= 1 << arg
        elif kind == "byte":
            b[pos] = arg
        elif kind == "evil":
            b[pos : pos + len(arg)] = arg[: len(b) - pos]
        elif kind == "u32" and pos + 4 <= len(b):
            struct.pack_into(arg[1] + "I", b, pos, arg[0])
        elif kind == "truncate":
            del b[pos:]
    return bytes(b)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(which=st.integers(0, 4), ops=mutations(), links=st.sampled_from(LINK_POLICIES),
       workers=st.sampled_from([1, 2]))
def test_fuzz_mutated_images(seeds, tmp_path, which, ops, links, workers):
    data = apply(seeds[which], ops)
    jail = tmp_path / f"jail{time.monotonic_ns()}"
    jail.mkdir()
    with time_limit(TIME_LIMIT):
        exercise(data, jail, links=links, workers=workers)


@pytest.mark.slow
def test_fuzz_long(seeds, tmp_path):
    """>= 100,000 mutated inputs with MMLAB_PROFILE=long (2,000 otherwise); seed printed."""
    n = 100_000 if os.environ.get("MMLAB_PROFILE") == "long" else 2_000
    seed = int(os.environ.get("MMLAB_FUZZ_SEED", "4015"))
    rng = random.Random(seed)
    jail = tmp_path / "jail"
    jail.mkdir()
    stats: collections.Counter[str] = collections.Counter()
    extracts: collections.Counter[str] = collections.Counter()
    verdicts: collections.Counter[int] = collections.Counter()
    slowest = 0.0
    for i in range(n):
        data = mutate(seeds[i % len(seeds)], rng)
        links = LINK_POLICIES[i % len(LINK_POLICIES)]
        t0 = time.perf_counter()
        try:
            with time_limit(TIME_LIMIT):
                read, extracted, verdict = exercise(data, jail, links=links,
                                                    workers=1 + i % 2)
        except Exception:
            crash = Path(tempfile.gettempdir()) / f"mmlab-fuzz-{seed}-{i}.img"
            crash.write_bytes(data)
            print(f"input {i} (seed {seed}) saved to {crash}")
            raise
        stats[read] += 1
        extracts[extracted] += 1
        verdicts[verdict] += 1
        slowest = max(slowest, time.perf_counter() - t0)
    print(f"\n{n} inputs, seed {seed}, slowest {slowest * 1000:.0f} ms wall\n"
          f"  read: {dict(stats)}\n  extract: {dict(extracts)}\n  check exit: {dict(verdicts)}")
    assert sum(stats.values()) == n
