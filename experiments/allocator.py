"""Entry points run with tcmalloc where it is installed (`LD_PRELOAD=libtcmalloc_minimal.so.4`).

XLA:CPU allocates each train step's temporary buffer afresh (ResNet-20's: about 200 MB) and
frees it at the end of the step. glibc serves a block that large with a new `mmap` and unmaps it
on `free` (its thresholds cap at 32 MiB; its per-thread arenas cannot hold a block over 64 MiB),
so every step the kernel faults in and zeroes the whole buffer again, 2 MiB at a time even with
huge pages (`experiments/huge_pages.py`): in ResNet-20's profile the forward convolutions, which
write the step's fresh buffers first, took 3.8 ms against 2.8 ms for the same convolution on a
reused buffer. tcmalloc keeps freed memory for the next allocation, as Intel's PyTorch launcher
arranges for PyTorch (`--enable_tcmalloc`). Results are unchanged: only where memory comes from.

Measured (two sittings of 2 rounds, img/s with / without): ResNet-20 train 712-743 / 580-623
(+16 to +27 %), VGG-16 154-158 / 144-149, LeNet-5 unchanged; details in docs/speed.md.

`import experiments` (every `python -m experiments.<entry>`) adds the library to `$LD_PRELOAD`
in the same relaunch as the huge-page tunable (`huge_pages.relaunch_if_entry_point`) when:

* the command is `python -m experiments.<entry>`;
* the dynamic linker knows `libtcmalloc_minimal.so.4` or `libtcmalloc.so.4` (Debian/Ubuntu:
  `apt-get install libtcmalloc-minimal4`; nothing is downloaded, and without it nothing changes);
* `$LD_PRELOAD` does not name an allocator already (yours wins; this also stops a second
  relaunch);
* neither `$CNNJAX_TCMALLOC` nor `$CNNJAX_FAST_CPU` is `0`/`false`/`off`/`no`.

Your own scripts get the same by starting Python with it: `LD_PRELOAD=libtcmalloc_minimal.so.4
python my_script.py`.
"""

import ctypes.util
import os
from collections.abc import Callable, Mapping

LIBRARIES = ("tcmalloc_minimal", "tcmalloc")  # gperftools' sonames, lightest first
ALLOCATORS = ("tcmalloc", "jemalloc", "mimalloc")  # names that mean "an allocator is preloaded"
OPT_OUT_ENVS = ("CNNJAX_TCMALLOC", "CNNJAX_FAST_CPU")
OPT_OUT_VALUES = ("0", "false", "off", "no")


def find_tcmalloc(find_library: Callable[[str], str | None] = ctypes.util.find_library) -> str:
    """The soname of an installed tcmalloc (e.g. `libtcmalloc_minimal.so.4`), or `""`."""
    for name in LIBRARIES:
        found = find_library(name)
        if found:
            return found
    return ""


def preload_environ(environ: Mapping[str, str], library: str) -> dict[str, str] | None:
    """`environ` with `library` added to `$LD_PRELOAD`, or None when the module docstring's
    conditions (other than the entry point's) fail.

    Args:
      environ: the process's environment.
      library: `find_tcmalloc()`.
    """
    if not library or not wanted(environ):
        return None
    preload = environ.get("LD_PRELOAD", "")
    return {**environ, "LD_PRELOAD": ":".join(filter(None, (library, preload)))}


def wanted(environ: Mapping[str, str]) -> bool:
    """Whether `environ` leaves room for tcmalloc: no allocator preloaded, no opt-out. Cheap,
    so that the library lookup (`find_tcmalloc`: 10-20 ms per name where it is missing) runs
    only when it can matter."""
    if any(name in environ.get("LD_PRELOAD", "") for name in ALLOCATORS):
        return False
    return all(environ.get(env, "").strip().lower() not in OPT_OUT_VALUES for env in OPT_OUT_ENVS)


def status(environ: Mapping[str, str] = os.environ) -> str:
    """`tcmalloc` when this process was started with it preloaded, else `default`."""
    return "tcmalloc" if "tcmalloc" in environ.get("LD_PRELOAD", "") else "default"
