"""Worker processes that take a crash of native code (a geometry kernel) without taking the caller down.

Each worker is a fresh ``python -m ingest._ifc_pool`` process (so nothing of the caller's ``__main__``
is re-imported, as multiprocessing's spawn would do in a script without a main guard) connected by a
``multiprocessing.connection`` socket. A worker runs one job at a time; when it dies, the job it was
running fails alone with :class:`WorkerDied` and a fresh worker takes the next job.
"""

from __future__ import annotations

import atexit
import importlib
import os
import secrets
import subprocess
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Client, Connection, Listener, wait
from typing import Any

__all__ = ["Pool", "WorkerDied", "shared_pool"]

# A worker has this long to start and connect (interpreter start-up on a loaded machine).
_CONNECT_TIMEOUT_S = 120.0


class WorkerDied(RuntimeError):
    """The worker running a job exited without answering (segfault, abort, killed, out of memory)."""

    def __init__(self, returncode: int | None, reason: str = ""):
        self.returncode = returncode
        self.reason = reason
        super().__init__(reason or f"worker process died (exit status {returncode})")

    def __reduce__(self):
        return (WorkerDied, (self.returncode, self.reason))


@dataclass
class _Worker:
    proc: subprocess.Popen
    conn: Connection
    job: tuple[Hashable, float] | None = None  # (key, start time)
    deadline: float | None = None


@dataclass
class _Job:
    key: Hashable
    func: str
    args: tuple
    timeout: float | None = None


@dataclass
class Pool:
    """A small pool of isolated worker processes.

    Parameters
    ----------
    workers
        Most processes running at once.
    """

    workers: int = 2
    #: Modules each worker imports as it starts, so that a job's time is the job's own.
    preload: tuple[str, ...] = ()
    _idle: list[_Worker] = field(default_factory=list)
    _busy: list[_Worker] = field(default_factory=list)
    _queue: deque = field(default_factory=deque)
    _listener: Listener | None = None
    _authkey: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def submit(self, key: Hashable, func: str, *args: Any, timeout: float | None = None) -> None:
        """Queue ``module:function(*args)``; its outcome comes out of :meth:`as_completed` under ``key``."""
        self._queue.append(_Job(key, func, args, timeout))

    def as_completed(
        self, on_dispatch: Callable[[Hashable], None] | None = None
    ) -> Iterator[tuple[Hashable, bool, Any]]:
        """Run the queued jobs, yielding ``(key, ok, result_or_exception)`` as each finishes.

        Jobs submitted while iterating are run too. A job whose worker died yields
        ``(key, False, WorkerDied)``; one past its timeout has its worker killed and yields the same.
        ``on_dispatch(key)`` is called once a job has been handed to its worker.
        """
        while self._queue or self._busy:
            self._dispatch(on_dispatch)
            if not self._busy:
                continue
            now = time.monotonic()
            deadlines = [w.deadline for w in self._busy if w.deadline is not None]
            wait_s = max(0.0, min(deadlines) - now) if deadlines else None
            ready = wait([w.conn for w in self._busy], timeout=wait_s)
            for worker in list(self._busy):
                if worker.conn in ready:
                    yield self._collect(worker)
                elif worker.deadline is not None and time.monotonic() >= worker.deadline:
                    key = worker.job[0]
                    limit = worker.deadline - worker.job[1]
                    self._discard(worker, kill=True)
                    yield key, False, WorkerDied(None, f"killed after the time limit of {limit:g} s")

    def close(self) -> None:
        """Stop every worker (idle ones are asked to exit, then killed if they linger)."""
        for worker in [*self._idle, *self._busy]:
            try:
                worker.conn.send(None)
            except OSError:
                pass
            self._discard(worker, kill=False)
        self._idle.clear()
        self._busy.clear()
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def reset(self) -> None:
        """Forget queued jobs and kill the workers running any (after a caller gave up midway)."""
        self._queue.clear()
        for worker in list(self._busy):
            self._discard(worker, kill=True)

    def pids(self) -> list[int]:
        """Process ids of the live workers."""
        return [w.proc.pid for w in [*self._idle, *self._busy]]

    # ---------------------------------------------------------------------------------------------
    def _dispatch(self, on_dispatch: Callable[[Hashable], None] | None) -> None:
        while self._queue and len(self._busy) < self.workers:
            job = self._queue.popleft()
            worker = self._take_worker()
            try:
                worker.conn.send((job.func, job.args))
            except OSError:
                # Died while idle (killed from outside): not the job's fault; give it a fresh worker.
                self._discard(worker, kill=True)
                self._queue.appendleft(job)
                continue
            start = time.monotonic()
            worker.job = (job.key, start)
            worker.deadline = None if job.timeout is None else start + job.timeout
            self._busy.append(worker)
            if on_dispatch is not None:
                on_dispatch(job.key)

    def _take_worker(self) -> _Worker:
        while self._idle:
            worker = self._idle.pop()
            if worker.proc.poll() is None:
                return worker
            self._discard(worker, kill=False)
        return self._spawn()

    def _spawn(self) -> _Worker:
        if self._listener is None:
            self._listener = Listener(family="AF_UNIX" if hasattr(os, "fork") else "AF_PIPE", authkey=self._authkey)
        env = dict(os.environ)
        # The worker must import this very checkout of the package, whatever the caller's cwd.
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        proc = subprocess.Popen(
            [sys.executable, "-m", "ingest._ifc_pool"],
            stdin=subprocess.PIPE,
            env=env,
            stdout=subprocess.DEVNULL,
            close_fds=True,
        )
        assert proc.stdin is not None
        proc.stdin.write(f"{self._listener.address}\n{self._authkey.hex()}\n{','.join(self.preload)}\n".encode())
        proc.stdin.close()
        conn = _accept(self._listener, proc)
        return _Worker(proc, conn)

    def _collect(self, worker: _Worker) -> tuple[Hashable, bool, Any]:
        key = worker.job[0]
        try:
            ok, value = worker.conn.recv()
        except (EOFError, OSError):
            code = worker.proc.wait()
            self._discard(worker, kill=False)
            return key, False, WorkerDied(code, f"worker process died (exit status {code}{_signal_name(code)})")
        self._busy.remove(worker)
        worker.job, worker.deadline = None, None
        self._idle.append(worker)
        return key, ok, value

    def _discard(self, worker: _Worker, *, kill: bool) -> None:
        for pool in (self._busy, self._idle):
            if worker in pool:
                pool.remove(worker)
        if kill and worker.proc.poll() is None:
            worker.proc.kill()
        try:
            worker.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            worker.proc.kill()
            worker.proc.wait()
        worker.conn.close()


def _accept(listener: Listener, proc: subprocess.Popen) -> Connection:
    """Accept the new worker's connection, failing if it dies or hangs before connecting."""
    result: dict[str, Any] = {}

    def accept() -> None:
        try:
            result["conn"] = listener.accept()
        except Exception as exc:  # noqa: BLE001 - reported below
            result["error"] = exc

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    deadline = time.monotonic() + _CONNECT_TIMEOUT_S
    while thread.is_alive() and proc.poll() is None and time.monotonic() < deadline:
        thread.join(0.05)
    if "conn" in result:
        return result["conn"]
    proc.kill()
    proc.wait()
    # Unblock the accept thread by connecting to ourselves, so the listener stays usable.
    if thread.is_alive():
        try:
            Client(listener.address, authkey=None).close()
        except Exception:  # noqa: BLE001 - the authentication failure is expected
            pass
    raise WorkerDied(
        proc.returncode,
        f"worker process failed to start (exit status {proc.returncode}); "
        f"check that `{sys.executable} -m ingest._ifc_pool` runs in this environment",
    )


def _signal_name(code: int | None) -> str:
    if code is None or code >= 0:
        return ""
    import signal

    try:
        return f", {signal.Signals(-code).name}"
    except ValueError:
        return ""


# ------------------------------------------------------------------------------ one per process

_SHARED: Pool | None = None
_SHARED_LOCK = threading.Lock()


def shared_pool(workers: int, preload: tuple[str, ...] = ()) -> tuple[Pool, threading.Lock]:
    """The process-wide pool (kept warm between calls) and the lock to hold while using it."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = Pool(workers, preload)
            atexit.register(_SHARED.close)
        _SHARED.workers = max(1, workers)
        return _SHARED, _USE_LOCK


_USE_LOCK = threading.Lock()


# ---------------------------------------------------------------------------------- worker side


def _serve(conn: Connection) -> None:
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        func, args = msg
        try:
            module, name = func.split(":")
            result = (True, getattr(importlib.import_module(module), name)(*args))
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the caller
            result = (False, _portable(exc))
        try:
            conn.send(result)
        except Exception as exc:  # noqa: BLE001 - an unpicklable result
            conn.send((False, RuntimeError(f"{func} returned something that cannot be sent back: {exc}")))


def _portable(exc: BaseException) -> BaseException:
    """The exception itself if it survives pickling, else a RuntimeError carrying its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(exc))
        return exc
    except Exception:  # noqa: BLE001
        text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return RuntimeError(text)


def _main() -> None:
    import signal

    # Ctrl-C (or a Jupyter kernel's interrupt/shutdown) goes to the whole process group; the parent
    # decides what happens to its jobs, so a worker must not die mid-job printing a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    address = sys.stdin.readline().strip()
    authkey = bytes.fromhex(sys.stdin.readline().strip())
    preload = [m for m in sys.stdin.readline().strip().split(",") if m]
    conn = Client(address, authkey=authkey)
    for module in preload:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - the job that needs it reports the failure
            pass
    _serve(conn)


if __name__ == "__main__":
    _main()
