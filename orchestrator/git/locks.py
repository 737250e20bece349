"""The repo-wide lock that serialises worktree bookkeeping and merges.

Concurrent ``git worktree add`` calls race on ``.git/config.lock`` and on the names under
``.git/worktrees/``; a merge reads the base tip and then moves it. One flock on a file in the
repository's common git dir covers every worktree and every process (two daemons, a CLI
command next to a daemon), and the kernel drops it when its holder dies.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path
from types import TracebackType

from orchestrator.domain.errors import GitError

REPO_LOCK_NAME = "orchestrator-worktree.lock"
DEFAULT_LOCK_TIMEOUT_S = 120.0
_POLL_S = 0.02


class _Held(threading.local):
    def __init__(self) -> None:
        # lock path -> (fd, depth): re-entry by the same thread must not wait for itself.
        self.locks: dict[str, tuple[int, int]] = {}


_held = _Held()


class RepoLock:
    """An exclusive flock with a bounded wait, re-entrant within one thread.

    flock conflicts between separate open file descriptions even inside one process, so
    threads of one daemon exclude each other as two processes do.
    """

    def __init__(self, path: Path, timeout_s: float = DEFAULT_LOCK_TIMEOUT_S) -> None:
        self.path = path
        self.timeout_s = timeout_s

    def acquire(self) -> None:
        key = str(self.path)
        held = _held.locks.get(key)
        if held is not None:
            _held.locks[key] = (held[0], held[1] + 1)
            return
        # The file is never deleted: unlinking it while another process waits on its inode
        # would let a third process lock a fresh file and run alongside the second.
        # O_CLOEXEC: a git child that outlives the call (auto gc detaches) must not inherit it.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise GitError(
                        f"timed out after {self.timeout_s:g}s waiting for the repository lock "
                        f"{self.path}"
                    ) from None
                time.sleep(_POLL_S)
            except OSError:
                os.close(fd)
                raise
        _held.locks[key] = (fd, 1)

    def release(self) -> None:
        key = str(self.path)
        fd, depth = _held.locks[key]
        if depth > 1:
            _held.locks[key] = (fd, depth - 1)
            return
        del _held.locks[key]
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> RepoLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
