"""Entry points run with glibc's huge-page malloc (`GLIBC_TUNABLES=glibc.malloc.hugetlb=1`).

XLA:CPU allocates each step's temporary buffer afresh (ResNet-20's train step: 325 MB) and
its Eigen convolutions allocate their packed operands per call (72 MB for a 16-channel 3x3
layer on 128x32x32). glibc serves allocations that large with a new `mmap` and unmaps them on
`free`, so the kernel faults in and zeroes every 4 KiB page again on every step: ResNet-20
training took 83,000 minor page faults a step, VGG-16 81,000. Where the kernel's transparent
huge pages are in `madvise` mode (as on the development machine, Linux 6.18), the glibc tunable
`glibc.malloc.hugetlb=1` (glibc >= 2.35) makes malloc ask for 2 MiB pages on those mappings:
a few hundred faults a step instead. Two cores, four alternating runs of
`python -m experiments.benchmark --models=lenet5,resnet20,vgg16_cifar` (img/s, with / without):
ResNet-20 train 400-421 / 332-349, VGG-16 train 111-118 / 99-105, LeNet-5 train 15.9-16.3k /
15.1-15.7k; whole command 17 % less wall time. Results are unchanged: only the page size is.

glibc reads its tunables when a process starts, so `import experiments` (every
`python -m experiments.<entry>`) replaces the process, before JAX is imported, by the same
command with the tunable added to `$GLIBC_TUNABLES` (`os.execve`: same PID, same arguments,
same streams) when all of these hold (`relaunch_environ`):

* the command is `python -m experiments.<entry>` (importing `experiments` from tests or your
  own code never relaunches anything);
* Linux with glibc >= 2.35, and `/sys/kernel/mm/transparent_hugepage/enabled` is `madvise`
  (under `always` large mappings get huge pages anyway; under `never` they cannot);
* `$GLIBC_TUNABLES` does not set `glibc.malloc.hugetlb` already (yours wins; this also stops
  a second relaunch);
* `$CNNJAX_FAST_CPU` is not `0`/`false`/`off`/`no` (the opt-out of cnnjax's CPU speed-ups).

Your own scripts get the same by starting Python with the variable set:
`GLIBC_TUNABLES=glibc.malloc.hugetlb=1 python my_script.py`.

`python -m experiments.page_faults` says what was done and counts the faults it saves.
"""

import os
import platform
import sys
from collections.abc import Mapping, Sequence

from experiments import allocator

TUNABLE_NAME = "glibc.malloc.hugetlb"
TUNABLE = f"{TUNABLE_NAME}=1"
THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"
MIN_GLIBC = (2, 35)
PACKAGE = "experiments"
OPT_OUT_ENV = "CNNJAX_FAST_CPU"  # read the same way as cnnjax.ops.dispatch, without importing JAX
OPT_OUT_VALUES = ("0", "false", "off", "no")
OPTIONS_WITH_VALUE = ("-X", "-W", "--check-hash-based-pycs")  # the interpreter's


def thp_mode(path: str = THP_ENABLED) -> str:
    """The kernel's transparent-huge-page mode (`always`, `madvise`, `never`); `""` if unknown."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return ""
    start, end = text.find("["), text.find("]")
    return text[start + 1 : end] if 0 <= start < end else ""


def glibc_version() -> tuple[int, ...]:
    """glibc's (major, minor), or `()` where the C library is not glibc."""
    name, version = platform.libc_ver()
    if name != "glibc" or not version:
        return ()
    return tuple(int(part) for part in version.split(".")[:2] if part.isdigit())


def entry_point(argv: Sequence[str]) -> str:
    """The module run by `python [options] -m <module> ...` (`sys.orig_argv`), or `""`."""
    args = iter(argv[1:])
    for arg in args:
        if arg == "-m":
            return next(args, "")
        if arg.startswith("-m"):
            return arg[2:]
        if arg == "-c" or not arg.startswith("-"):
            return ""  # a command string or a script, not a module
        if arg in OPTIONS_WITH_VALUE:
            next(args, None)
    return ""


def relaunch_environ(
    environ: Mapping[str, str], argv: Sequence[str], thp: str, glibc: tuple[int, ...]
) -> dict[str, str] | None:
    """The environment to relaunch `argv` with, or None when the module docstring's conditions fail.

    Args:
      environ: the process's environment.
      argv: the interpreter's command line (`sys.orig_argv`).
      thp: `thp_mode()`.
      glibc: `glibc_version()`.
    """
    if not entry_point(argv).startswith(PACKAGE + "."):
        return None
    if thp != "madvise" or not glibc or glibc < MIN_GLIBC:
        return None
    tunables = environ.get("GLIBC_TUNABLES", "")
    if TUNABLE_NAME in tunables:
        return None
    if environ.get(OPT_OUT_ENV, "").strip().lower() in OPT_OUT_VALUES:
        return None
    return {**environ, "GLIBC_TUNABLES": ":".join(filter(None, (tunables, TUNABLE)))}


def in_effect(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether this process was started with the tunable (by a relaunch or by you)."""
    return TUNABLE in environ.get("GLIBC_TUNABLES", "").split(":")


def status(environ: Mapping[str, str] = os.environ) -> str:
    """`on` or `off`: `in_effect`, as the entry points print it."""
    return "on" if in_effect(environ) else "off"


def relaunch_if_entry_point() -> None:
    """Replaces this process by the same command with the tunable if `relaunch_environ` says so,
    and with tcmalloc preloaded if `allocator.preload_environ` does (one relaunch for both)."""
    environ = relaunch_environ(os.environ, sys.orig_argv, thp_mode(), glibc_version())
    current = environ or os.environ
    if entry_point(sys.orig_argv).startswith(PACKAGE + ".") and allocator.wanted(current):
        environ = allocator.preload_environ(current, allocator.find_tcmalloc()) or environ
    if environ is None or not sys.executable:
        return
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], environ)
    except OSError:
        return  # the interpreter cannot be started again: run on, without huge pages
