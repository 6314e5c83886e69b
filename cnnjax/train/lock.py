"""A workdir lock: one run writes into a workdir at a time.

The lock file holds the owner's host name and PID. A lock left by a process that no longer
exists on this host (a killed run) is taken over; a live owner makes a second run fail at once.
"""

import contextlib
import json
import os
import socket

LOCK_NAME = "train.lock"


class WorkdirLockedError(RuntimeError):
    """Another live run holds the workdir's lock (a user error: wait, or use another workdir)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _read(path: str) -> dict:
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def acquire(workdir: str) -> str:
    """Creates `<workdir>/train.lock` for this process; returns its path.

    Raises:
      WorkdirLockedError: when a live process (on this host, or any process on another host)
        holds it.
    """
    path = os.path.join(workdir, LOCK_NAME)
    me = {"host": socket.gethostname(), "pid": os.getpid()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read(path)
            if owner == me:
                return path
            same_host = owner.get("host") == me["host"]
            if same_host and isinstance(owner.get("pid"), int) and not _alive(owner["pid"]):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path)  # stale: its owner is dead
                continue
            raise WorkdirLockedError(
                f"workdir {workdir!r} is locked by another run (pid {owner.get('pid')} on host "
                f"{owner.get('host')!r}, lock file {path}); wait for it to finish, use another "
                f"--workdir, or delete the lock file if that run is gone"
            ) from None
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        return path
    raise RuntimeError(f"could not take the lock {path}")


def release(path: str) -> None:
    """Removes the lock file if this process still owns it."""
    if _read(path) == {"host": socket.gethostname(), "pid": os.getpid()}:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)
