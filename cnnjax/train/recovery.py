"""Telling a bad checkpoint from a bad machine, and moving a bad checkpoint aside (never deleting).

`environment_error` finds permission / space / I/O failures behind an exception (they say nothing
about the checkpoint and are raised as they are); `move_aside` renames an unreadable step
directory into `<directory>/unreadable/` and writes why beside it.
"""

import errno
import os

import jax

UNREADABLE = "unreadable"  # sub-directory the unreadable steps are moved to
# An OSError with one of these is the machine's fault, not the checkpoint's: raise it as it is.
ENVIRONMENT_ERRNOS = frozenset(
    {
        errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EIO,
        errno.ENOMEM, errno.EMFILE, errno.ENFILE, errno.ESTALE, errno.ETIMEDOUT, errno.EBUSY,
    }
)  # fmt: skip
# The same errors as TensorStore (Orbax's array reader) reports them, in a ValueError's text.
ENVIRONMENT_MESSAGES = (
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "UNAVAILABLE",
    "DEADLINE_EXCEEDED",
    "Permission denied",
    "No space left on device",
    "Disk quota exceeded",
    "Read-only file system",
    "Input/output error",
)


def environment_error(error: BaseException) -> BaseException | None:
    """The error of the environment behind `error` (itself, a cause or a grouped error), or None.

    Permission denied, no space left, an I/O error ... say nothing about the checkpoint, so such a
    failure must not get a step moved aside.
    """
    seen, todo = set(), [error]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno in ENVIRONMENT_ERRNOS:
            return e
        if not isinstance(e, OSError) and any(m in str(e) for m in ENVIRONMENT_MESSAGES):
            return e
        todo.extend([e.__cause__, e.__context__, *getattr(e, "exceptions", ())])
    return None


def first_line(error: BaseException) -> str:
    """`Type: first line of the message`, at most 300 characters."""
    text = f"{type(error).__name__}: {error}".strip()
    return text.splitlines()[0][:300]


def move_aside(directory: str, step: int, error: BaseException) -> str:
    """Moves step `step` of `directory` to `directory/unreadable/<step>` and records why.

    A name already taken (the same step moved before) gets a suffix: `<step>.1`, `<step>.2`, ...
    Only process 0 moves (the directory is shared); every process returns the destination.

    Args:
      directory: the checkpoint directory (holding `<step>/`).
      step: the step that could not be restored.
      error: why; written to `<destination>.reason.txt`.

    Returns:
      The path the step directory was moved to.
    """
    aside = os.path.join(directory, UNREADABLE)
    name = str(step)
    for n in range(1, 10_000):
        if not os.path.exists(os.path.join(aside, name)):
            break
        name = f"{step}.{n}"
    destination = os.path.join(aside, name)
    if jax.process_index() == 0:
        os.makedirs(aside, exist_ok=True)
        os.rename(os.path.join(directory, str(step)), destination)
        with open(destination + ".reason.txt", "w") as f:
            f.write(
                f"checkpoint step {step} could not be restored: {type(error).__name__}: {error}\n"
            )
    return destination
