"""cnnjax's C++ kernels for XLA:CPU, compiled on first use and registered as XLA FFI targets.

The kernels (`direct_conv.cc`) ship as source. The first process that needs them compiles
them with the machine's C++ compiler (`$CXX`, else `c++` or `g++`), for the machine's own
processor (`-march=native`), against the FFI headers of the installed jaxlib, as PyTorch's
`cpp_extension.load` and Triton do. The library is cached under `$CNNJAX_KERNEL_CACHE` (default
`$XDG_CACHE_HOME/cnnjax/kernels`, else `~/.cache/cnnjax/kernels`) in a file named by a hash of
the source, the command, jaxlib's version and the processor's feature flags, so a cache shared
between different machines never hands one a binary built for another. Concurrent processes
(pytest-xdist) each write a private file and rename it into place.

Without a compiler, or when the compile or the load fails (which also warns once),
`available()` is False, `STATUS` says why, and cnnjax runs the XLA forms of
`cnnjax.ops.cpu_conv` instead: the kernels change speed, not results (fp32 summation order
aside). `$CNNJAX_CPP_KERNELS=0` (also `false`, `off`, `no`) turns them off alone,
`$CNNJAX_FAST_CPU=0` with the other CPU forms. They are built by default only on x86-64
processors with AVX-512, where they were measured (`measured_processor`); `$CNNJAX_CPP_KERNELS=1`
builds them on any other (8-lane vectors). `$CNNJAX_CPP_KERNELS` is read once, at the first
call of `available()`.
"""

import ctypes
import hashlib
import os
import pathlib
import platform
import shutil
import subprocess
import tempfile
import threading
import warnings

from cnnjax.ops import dispatch

SOURCE = pathlib.Path(__file__).with_name("direct_conv.cc")
TARGETS = ("cnnjax_direct_conv", "cnnjax_direct_conv_kernel_grad")
CACHE_ENV = "CNNJAX_KERNEL_CACHE"
ENV_VAR = "CNNJAX_CPP_KERNELS"
_ON = ("1", "true", "on", "yes")
COMPILE_TIMEOUT_S = 300

STATUS = "not loaded yet"
_lock = threading.Lock()
_loaded: bool | None = None


def cache_dir() -> pathlib.Path:
    """Where compiled kernel libraries are kept (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return pathlib.Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "cnnjax" / "kernels"


def compiler() -> str | None:
    """The C++ compiler to use: `$CXX`, else the first of `c++`, `g++` on `$PATH`."""
    if os.environ.get("CXX"):
        return shutil.which(os.environ["CXX"])
    return shutil.which("c++") or shutil.which("g++")


def _cpu_features() -> str:
    try:
        text = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return line
    return platform.processor()


def compile_command(cxx: str, output: str, march: str = "native") -> list[str]:
    """The compiler command that builds the kernel library into `output` for `-march`."""
    import jax.ffi

    return [
        cxx,
        "-O3",
        f"-march={march}",
        "-std=c++17",
        "-shared",
        "-fPIC",
        "-w",
        f"-I{jax.ffi.include_dir()}",
        str(SOURCE),
        "-o",
        output,
    ]


def library_path(cxx: str) -> pathlib.Path:
    """The cached library's path for this source, compiler command, jaxlib and processor."""
    import jaxlib.version

    key = hashlib.sha256()
    key.update(SOURCE.read_bytes())
    key.update(" ".join(compile_command(cxx, "OUT")).encode())
    key.update(jaxlib.version.__version__.encode())
    key.update(platform.machine().encode())
    key.update(_cpu_features().encode())
    return cache_dir() / f"direct_conv-{key.hexdigest()[:16]}.so"


def _build(cxx: str, path: pathlib.Path, march: str = "native") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".so.tmp")
    os.close(fd)
    try:
        command = compile_command(cxx, tmp, march)
        result = subprocess.run(command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_S)
        if result.returncode != 0:
            raise RuntimeError(f"{cxx} exited {result.returncode}: {result.stderr.strip()[-2000:]}")
        os.replace(tmp, path)  # atomic: a concurrent process sees the old name or a whole file
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def ensure_built(cxx: str) -> tuple[pathlib.Path, bool]:
    """The cached library for `cxx`, compiled first when missing; and whether it was compiled.

    Raises:
      RuntimeError: the compiler failed (its last output lines are in the message).
    """
    path = library_path(cxx)
    if path.exists():
        return path, False
    _build(cxx, path)
    return path, True


def _register(path: pathlib.Path) -> None:
    import jax.ffi

    library = ctypes.cdll.LoadLibrary(str(path))
    for name in TARGETS:
        jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(getattr(library, name)), platform="cpu")


def measured_processor() -> bool:
    """Whether this is an x86-64 processor with AVX-512, where the kernels were tuned and timed.

    Built elsewhere (8-lane vectors: AVX2, or NEON as pairs of registers) they compute the same
    results (tests) but their speed against XLA's there is unmeasured; a build for AVX2 ran at
    half the AVX-512 build's speed on this machine (16-channel forward: 6.9 vs 3.3 ms).
    """
    x86 = platform.machine().lower() in ("x86_64", "amd64")
    return x86 and "avx512f" in _cpu_features().split()


def _load() -> tuple[bool, str]:
    wanted = os.environ.get(ENV_VAR, "").strip().lower()
    if dispatch.is_off(wanted):
        return False, f"turned off by ${ENV_VAR}={os.environ[ENV_VAR]}: the XLA forms run"
    if wanted not in _ON and not measured_processor():
        return False, (
            "measured on AVX-512 processors only, and this one has no avx512f: the XLA forms "
            f"run (${ENV_VAR}=1 builds the kernels anyway)"
        )
    cxx = compiler()
    if cxx is None:
        return False, "no C++ compiler found ($CXX, c++, g++): the XLA forms run instead"
    try:
        path, built = ensure_built(cxx)
        _register(path)
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        status = f"the kernels could not be built or loaded ({error}): the XLA forms run"
        warnings.warn(f"cnnjax: {status}", RuntimeWarning, stacklevel=3)
        return False, status
    return True, f"{'compiled into' if built else 'loaded from'} {path}"


def available() -> bool:
    """True once the kernels are compiled (or found in the cache) and registered with XLA.

    The first call does the work (a C++ compile of ~2 s when the cache is cold); later calls
    return what it found. `STATUS` says what happened.
    """
    global _loaded, STATUS
    if _loaded is None:
        with _lock:
            if _loaded is None:
                _loaded, STATUS = _load()
    return _loaded
