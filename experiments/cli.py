"""Clean errors for the entry points: a user error is one line and a non-zero exit code.

    python -m experiments.train --config.learning_rate=-1
    ValueError: learning_rate must be > 0, got -1.0

User errors are the ones the user can fix: bad config values and keys, data, workdir, lock,
checkpoint mismatch or failed save (ValueError, OSError and their subclasses), a non-finite
loss, and interruptions (SIGTERM / SIGINT save a checkpoint first and exit 128 + signal). They
print `<Type>: <message>` (the last line of what would have been the traceback) and exit 1.
Anything else is a bug and keeps its full traceback, as does every error when
`CNNJAX_DEBUG=1` is set or `--verbosity` is 1 or more.
"""

import logging
import os
import sys
from collections.abc import Callable

from absl import app
from ml_collections import config_flags

from cnnjax.train import NonFiniteLossError
from cnnjax.train import config as config_lib
from cnnjax.train.lock import WorkdirLockedError
from cnnjax.train.preemption import Preempted

DEBUG_ENV = "CNNJAX_DEBUG"
EXIT_USER_ERROR = 1
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as the shell reports Ctrl-C
USER_ERRORS = (ValueError, OSError, NonFiniteLossError, WorkdirLockedError)


def debug_requested(argv: list[str] | None = None) -> bool:
    """`CNNJAX_DEBUG` set to 1/true/yes, or `--verbosity` (`-v`) of 1 or more on the command line.

    Read from argv itself: flag errors happen before absl has parsed anything.
    """
    if os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes"):
        return True
    argv = sys.argv if argv is None else argv
    for i, arg in enumerate(argv):
        for name in ("--verbosity", "-v", "--v"):
            if arg == name and i + 1 < len(argv):
                arg = f"{name}={argv[i + 1]}"
            if arg.startswith(name + "="):
                try:
                    return int(arg.split("=", 1)[1]) >= 1
                except ValueError:
                    return False
    return False


def _chain(error: BaseException) -> list[BaseException]:
    """`error` and its causes, outermost first."""
    chain = [error]
    while chain[-1].__cause__ is not None or chain[-1].__context__ is not None:
        chain.append(chain[-1].__cause__ or chain[-1].__context__)
    return chain


def describe(error: BaseException) -> str:
    """One line: `<Type>: <message>` (messages spanning lines are joined with '; ')."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return f"{type(error).__name__}: {'; '.join(lines)}"


def exit_with(message: str, code: int) -> None:
    """Prints `message` on stderr and exits with `code` (skipping nothing: locks are released
    by the `finally` blocks that already ran)."""
    sys.stdout.flush()
    print(message, file=sys.stderr, flush=True)
    sys.exit(code)


def check_overrides(name: str, argv: list[str]) -> None:
    """Exits with one line when a `--<name>.<key>=...` flag names no config key.

    Checked against the library's schema (`cnnjax.train.config.lookup`) before ml_collections
    applies anything, so a misspelled key at any depth gets a suggestion and an old flat name
    its new one, whether the config is the default or `--<name>=<file>`.
    """
    prefix = f"--{name}."
    for arg in argv[1:]:
        if not arg.startswith(prefix):
            continue
        path = arg[len(prefix) :].split("=", 1)[0]
        try:
            if isinstance(config_lib.lookup(path), dict):
                raise ValueError(f"config key {path!r} is a group; set one of its keys")
        except ValueError as e:
            if debug_requested(argv):
                raise
            exit_with(f"ValueError: bad --{name} flag {arg}: {e}", EXIT_USER_ERROR)


def define_config(name: str, default: str, help_string: str, **kwargs):
    """`config_flags.DEFINE_config_file`, with a bad `--config.<key>` override as one line.

    Keys are checked first (`check_overrides`); what ml_collections still refuses (a key inside
    `model_kwargs` the config does not set, a value it cannot parse) raises three chained
    tracebacks of its internals at import time; here it is one line and exit 1.
    """
    argv = kwargs.get("sys_argv") or sys.argv
    check_overrides(name, argv)
    try:
        return config_flags.DEFINE_config_file(name, default, help_string, **kwargs)
    except (AttributeError, KeyError, ValueError, TypeError, OSError) as e:
        if debug_requested():
            raise
        texts = [str(c.args[0]) if c.args else str(c) for c in reversed(_chain(e))]
        text = next((t for t in texts if "Did you mean" in t), texts[0])
        key, _, hint = text.strip("'\"").partition("\n")
        key = key.strip("'\"")
        bad = [a for a in argv[1:] if a.startswith(f"--{name}") and key in a]
        exit_with(
            f"ValueError: bad --{name} flag {bad[0] if bad else ''}: {key!r} "
            f"{'is not a config key' if hint or bad else 'cannot be used'}"
            f"{'; ' + hint.strip() if hint else ''}",
            EXIT_USER_ERROR,
        )


class _QuietLibraries(logging.Filter):
    """Drops library log records that a user error already reports, once and better: Orbax's
    tracebacks of a failed save (cnnjax raises `CheckpointSaveError` naming the cause) and
    tfds's advice to install OpenCV."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and f"{os.sep}orbax{os.sep}" in record.pathname:
            return False
        return "OpenCV is not installed" not in str(record.msg)


def run(main: Callable[[list[str]], None]) -> None:
    """`absl.app.run(main)`, printing user errors as one line (see the module docstring)."""
    debug = debug_requested()
    if not debug:
        logging.getLogger("absl").addFilter(_QuietLibraries())
    try:
        app.run(main)
    except Preempted as e:
        exit_with(str(e), e.exit_code)
    except KeyboardInterrupt:
        if debug:
            raise
        exit_with("interrupted (SIGINT): nothing was saved", EXIT_INTERRUPTED)
    except USER_ERRORS as e:
        if debug:
            raise
        exit_with(describe(e), EXIT_USER_ERROR)


__all__ = ["check_overrides", "debug_requested", "define_config", "describe", "run"]
