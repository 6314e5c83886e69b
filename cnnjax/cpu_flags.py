"""The one XLA:CPU compiler flag cnnjax sets, before JAX creates its CPU backend.

`--xla_cpu_experimental_ynn_fusion_type=-individual_convolution` stops XLA:CPU from handing
single convolutions to YNNPACK's fusion path; its own convolution emitter then runs 3x3 layers
with large spatial extent about 2x faster, and their kernel gradient about 3x faster (measured
per layer in ../shared/bench/README.md, whole networks in `experiments/benchmark.py`). It makes
convolutions on inputs smaller than the kernel pathological, which is why `cnnjax.ops.cpu_conv`
runs those as matmuls. Results are unchanged (fp32 rounding only).

XLA reads `$XLA_FLAGS` once, when JAX creates its first backend. `import cnnjax` therefore
appends the flag to `$XLA_FLAGS` if, and only if:

* `$CNNJAX_FAST_CPU` is not `0`/`false`/`off`/`no` (the opt-out, which also turns off the CPU
  forms of `cnnjax.ops.dispatch`);
* `$XLA_FLAGS` does not set `xla_cpu_experimental_ynn_fusion_type` already (the user's wins);
* `$JAX_PLATFORMS` is unset or names `cpu` (it is a flag of XLA:CPU's compiler; the GPU and TPU
  compilers never read it);
* the installed jaxlib is one the flag was measured with (`TESTED_JAXLIB`): XLA aborts on
  flags it does not know, so a newer jaxlib is left alone until measured;
* no JAX backend exists yet. Importing `jax` first is fine; calling `jax.devices()` or running
  any computation before `import cnnjax` is too late: cnnjax then leaves `$XLA_FLAGS` alone,
  warns once, and runs at XLA's default speed (set the flag in the shell to get it anyway).

Forward-only programs (evaluation) are compiled with YNNPACK's fusions turned off altogether
(`eval_compiler_options`, a per-compile option the jit engine passes for its eval step): there
YNNPACK pulls whole chains of convolutions, BatchNorm and ReLU into one fusion that runs well
below XLA's own emitters (one core, same process: VGG-16 eval 151 → 211 img/s, LeNet-5
~9,000 → 40,000; docs/speed.md). Training keeps YNNPACK for its reductions (turning it off
there made BatchNorm several times slower). The state's initialisation, which runs once, is
compiled at LLVM -O1 (`init_compiler_options`): same values, a fraction of the compile time.
"""

import os
import warnings

from cnnjax.ops import dispatch

FLAG_NAME = "xla_cpu_experimental_ynn_fusion_type"
FLAG = f"--{FLAG_NAME}=-individual_convolution"
OPT_LEVEL_NAME = "xla_backend_optimization_level"
TESTED_JAXLIB = ((0, 10),)  # (major, minor) versions of jaxlib the flag was measured with


def _jaxlib_version() -> tuple[int, int]:
    import jaxlib.version

    major, minor = jaxlib.version.__version__.split(".")[:2]
    return int(major), int(minor)


def _backends_exist() -> bool:
    try:
        from jax._src import xla_bridge
    except ImportError:  # pragma: no cover - jax moved it: assume the worst
        return True
    return bool(getattr(xla_bridge, "_backends", True))


def configure() -> str:
    """Appends the flag to `$XLA_FLAGS` when the module docstring's conditions hold.

    Returns:
      What was done: `set`, `already set` (by cnnjax or the user), `opted out`, `not cpu`,
      `untested jaxlib` or `too late` (a backend existed: nothing changed).
    """
    if not dispatch.fast_cpu_enabled():
        return "opted out"
    flags = os.environ.get("XLA_FLAGS", "")
    if FLAG_NAME in flags:
        return "already set"
    platforms = os.environ.get("JAX_PLATFORMS", "").strip()
    if platforms and "cpu" not in platforms.lower().split(","):
        return "not cpu"
    if _jaxlib_version() not in TESTED_JAXLIB:
        return "untested jaxlib"
    if _backends_exist():
        warnings.warn(
            f"cnnjax was imported after JAX created its backends, so the XLA:CPU flag {FLAG} "
            f"could not be set and CPU convolutions run at XLA's default speed; import cnnjax "
            f"before running any JAX computation, or set XLA_FLAGS={FLAG} in the environment "
            f"(${dispatch.ENV_VAR}=0 silences this)",
            RuntimeWarning,
            stacklevel=3,
        )
        return "too late"
    os.environ["XLA_FLAGS"] = f"{flags} {FLAG}".strip()
    return "set"


def _tuned_cpu_compile(platform: str) -> bool:
    """Whether per-compile options of cnnjax apply: CPU, the fast path on, a tested jaxlib."""
    return platform == "cpu" and dispatch.fast_cpu_enabled() and _jaxlib_version() in TESTED_JAXLIB


def init_compiler_options(platform: str) -> dict[str, int]:
    """XLA compile options for a program that runs once (the state's initialisation).

    LLVM -O1 instead of XLA's default level 3: the initialisation's ~300 random-number
    kernels compile ~4x faster (ResNet-20: 9.5 -> 2.2 s of CPU on one core) and give
    bit-identical values (checked on the reference networks); it runs once, in milliseconds.
    -O0 changes the values, so it is not used.

    Args:
      platform: the devices' platform (`cpu`, `gpu`, `tpu`).

    Returns:
      `{xla_backend_optimization_level: 1}` on CPU with the fast path on, a tested jaxlib and no
      `xla_backend_optimization_level` of the user's own in `$XLA_FLAGS`; otherwise `{}`.
    """
    if not _tuned_cpu_compile(platform):
        return {}
    if OPT_LEVEL_NAME in os.environ.get("XLA_FLAGS", ""):
        return {}  # the user chose a level of their own
    return {OPT_LEVEL_NAME: 1}


def eval_compiler_options(platform: str) -> dict[str, str]:
    """XLA compile options for a forward-only (evaluation) program on `platform`.

    Args:
      platform: the devices' platform (`cpu`, `gpu`, `tpu`).

    Returns:
      `{xla_cpu_experimental_ynn_fusion_type: ""}` (no YNNPACK fusions) on CPU with the fast path
      on, a tested jaxlib and no value of the user's own in `$XLA_FLAGS`; otherwise `{}`.
    """
    if not _tuned_cpu_compile(platform):
        return {}
    flags = os.environ.get("XLA_FLAGS", "")
    if FLAG_NAME in flags and FLAG not in flags:
        return {}  # the user chose a value of their own
    return {FLAG_NAME: ""}


STATUS = configure()
