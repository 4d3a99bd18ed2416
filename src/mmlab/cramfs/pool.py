"""A small thread pool for the inflate and compress work of ``check``, ``extract`` and ``build``.

``concurrent.futures`` would do, but importing it loads ``logging`` (about 8 ms of a
command that takes 150 ms here); the commands need only this: run calls on a few threads in
the order they were submitted, get each result (or its exception) back, cancel what has not
started, and let the thread that waits for a result run queued calls meanwhile
(:meth:`Pool.help_until`).  zlib releases the GIL while it inflates, so two threads use two
cores.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from queue import Empty, SimpleQueue

__all__ = ["Job", "Pool"]


class Job:
    """One submitted call: :meth:`result` waits for it and returns its value or raises its
    exception; :meth:`cancel` stops it if it has not started.

    Model helper: no kernel counterpart.
    """

    __slots__ = ("_fn", "_args", "_guard", "_done", "_value", "_error", "_state")

    def __init__(self, fn: Callable[..., object], args: tuple, guard: threading.Lock) -> None:
        self._fn, self._args = fn, args
        self._guard = guard  # the pool's: makes "pending -> running/cancelled" one step
        self._done = threading.Lock()
        self._done.acquire()  # released when the call has run (or was cancelled)
        self._value: object = None
        self._error: BaseException | None = None
        self._state = "pending"  # -> "running" -> "done", or -> "cancelled"

    def _run(self) -> None:
        with self._guard:
            if self._state != "pending":  # cancelled before a thread took it
                return
            self._state = "running"
        try:
            self._value = self._fn(*self._args)
        except BaseException as exc:  # handed to whoever asks for the result
            self._error = exc
        finally:
            self._fn = self._args = None  # type: ignore[assignment]
            self._state = "done"
            self._done.release()

    def cancel(self) -> bool:
        """Stop the call if no thread has started it; True if it will not run."""
        with self._guard:
            if self._state == "pending":
                self._state = "cancelled"
                self._done.release()
            return self._state == "cancelled"

    def done(self) -> bool:
        """True once the call has run (or was cancelled)."""
        return self._state in ("done", "cancelled")

    def result(self):
        """The call's value (waiting for it); raises its exception, or RuntimeError if it
        was cancelled."""
        with self._done:
            pass
        if self._state == "cancelled":
            raise RuntimeError("the job was cancelled")
        if self._error is not None:
            raise self._error
        return self._value


class Pool:
    """``threads`` worker threads running submitted jobs first come, first served.

    Use as a context manager: leaving it cancels the jobs not started and waits for the
    running ones.

    Model helper: no kernel counterpart.
    """

    def __init__(self, threads: int, name: str = "cramfs") -> None:
        self._queue: SimpleQueue[Job | None] = SimpleQueue()
        self._guard = threading.Lock()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True)
                         for i in range(max(1, threads))]
        for t in self._threads:
            t.start()

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            job._run()

    def submit(self, fn: Callable[..., object], *args: object) -> Job:
        """Queue ``fn(*args)``; its :class:`Job`."""
        job = Job(fn, args, self._guard)
        self._queue.put(job)  # the pool keeps no other reference: results go with the job
        return job

    def help_until(self, job: Job):
        """``job.result()``, running the queued jobs no worker has started on this thread
        while ``job`` is not done (``job`` itself first, when it is still queued).

        For a caller that would otherwise sleep until a worker hands it a result: on a
        machine of two CPUs, "one worker + the caller" inflates faster than "two workers
        + a sleeping caller" (measured: a 12 MiB check 67 -> 53 ms in a fresh process),
        where every wake-up of a sleeping thread costs.
        """
        while not job.done():
            try:
                other = self._queue.get_nowait()
            except Empty:
                break
            if other is None:  # a shutdown marker: leave it for a worker
                self._queue.put(None)
                break
            other._run()
        return job.result()

    def shutdown(self) -> None:
        """Cancel the jobs not started, wait for the running ones, stop the threads."""
        while True:  # the jobs no thread has taken yet
            try:
                job = self._queue.get_nowait()
            except Empty:
                break
            if job is not None:
                job.cancel()
        for _ in self._threads:
            self._queue.put(None)
        for t in self._threads:
            t.join()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
