"""Multi-host runs on JAX's own distributed runtime (`jax.distributed`).

`initialize(**config.multihost)` must run before anything else touches JAX (`train_and_evaluate`
calls it first). Where the three values come from, in order:

1. the config group `multihost.*`: `coordinator_address` ("host:port" of process 0),
   `num_processes`, `process_id`;
2. the environment: `JAX_COORDINATOR_ADDRESS` (read by JAX itself), `JAX_NUM_PROCESSES`,
   `JAX_PROCESS_ID` (read here);
3. a cluster manager JAX auto-detects (jax 0.10, `jax/_src/clusters`): SLURM inside an `srun`
   step (`SLURM_JOB_ID`, `SLURM_STEP_NODELIST`, `SLURM_NTASKS`, `SLURM_PROCID`,
   `SLURM_LOCALID`), Open MPI's `mpirun` (`OMPI_MCA_orte_hnp_uri`, `OMPI_COMM_WORLD_SIZE`,
   `OMPI_COMM_WORLD_RANK`), and Kubernetes Indexed Jobs / JobSets (`KUBERNETES_SERVICE_HOST`,
   `JOB_COMPLETION_INDEX`; needs the `kubernetes` package, `pip install jax[k8s]`). JAX also
   detects Cloud TPU VMs and, on request only, mpi4py; pass the values explicitly there.

With none of them (or `num_processes=1`) the run is a single process and nothing happens.
On CPU the cross-process collectives are gloo's (TCP). A coordinator that cannot be reached
raises one `TimeoutError` naming the address after `initialization_timeout` seconds, instead of
the abort the runtime would end the process with.
"""

import dataclasses
import errno
import importlib.util
import logging
import os
import socket
import time
from collections.abc import Mapping

import jax

log = logging.getLogger(__name__)

ENV_ADDRESS = "JAX_COORDINATOR_ADDRESS"
ENV_NUM_PROCESSES = "JAX_NUM_PROCESSES"
ENV_PROCESS_ID = "JAX_PROCESS_ID"
_SLURM = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID")


@dataclasses.dataclass(frozen=True)
class Settings:
    """How this process joins the run.

    Attributes:
      coordinator_address: "host:port" of process 0, or None (the cluster manager says).
      num_processes, process_id: the process layout, or None (the cluster manager says).
      timeout: seconds to wait for the coordinator and the other processes.
      cluster: the detected cluster manager (`slurm`, `ompi`, `k8s`) or None.
    """

    coordinator_address: str | None
    num_processes: int | None
    process_id: int | None
    timeout: int
    cluster: str | None = None


def detect_cluster(environ: Mapping[str, str]) -> str | None:
    """The cluster manager JAX would read a multi-process layout from, or None.

    Mirrors the `is_env_present` checks of jax 0.10's `SlurmCluster`, `OmpiCluster` and
    `K8sCluster`; a job of one task counts as no cluster (single process).

    Raises:
      ValueError: a Kubernetes Indexed Job without the `kubernetes` package JAX needs.
    """
    if "OMPI_MCA_orte_hnp_uri" in environ:  # checked first, as JAX does
        return "ompi" if int(environ.get("OMPI_COMM_WORLD_SIZE", "1")) > 1 else None
    if all(k in environ for k in _SLURM):
        return "slurm" if int(environ["SLURM_NTASKS"]) > 1 else None
    if "KUBERNETES_SERVICE_HOST" in environ and "JOB_COMPLETION_INDEX" in environ:
        if importlib.util.find_spec("kubernetes") is None:
            raise ValueError(
                "this looks like a Kubernetes Indexed Job, but JAX needs the `kubernetes` "
                "package to read its layout: pip install 'jax[k8s]', or set coordinator_address, "
                "num_processes and process_id (flags or JAX_* environment variables)"
            )
        return "k8s"
    return None


def _env_int(environ: Mapping[str, str], name: str) -> int | None:
    value = environ.get(name, "").strip()
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"${name}={value!r} is not an integer") from None


def split_address(address: str) -> tuple[str, int]:
    """'host:port' (or '[v6]:port') → (host, port); raises a ValueError naming a bad address."""
    host, sep, port = address.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"coordinator_address {address!r} is not 'host:port' with a port in 1..65535 "
            f"(e.g. 'node0:1234', the address of process 0)"
        )
    return host, int(port)


def resolve(
    environ: Mapping[str, str] | None = None,
    *,
    coordinator_address: str = "",
    num_processes: int = 0,
    process_id: int = -1,
    initialization_timeout: int = 300,
):
    """The `Settings` of this process from config, environment and cluster; None: single process.

    Args:
      environ: the environment (default `os.environ`).
      coordinator_address, num_processes, process_id, initialization_timeout: the config group
        `multihost.*` ("" / 0 / -1: unset, taken from the environment or the cluster).

    Raises:
      ValueError: a partial or inconsistent layout, naming what is missing or wrong.
    """
    environ = os.environ if environ is None else environ
    address = coordinator_address or environ.get(ENV_ADDRESS, "").strip() or None
    num = num_processes if num_processes != 0 else None  # 0: unset
    num = num if num is not None else _env_int(environ, ENV_NUM_PROCESSES)
    pid = process_id if process_id != -1 else None  # -1: unset
    pid = pid if pid is not None else _env_int(environ, ENV_PROCESS_ID)
    timeout = int(initialization_timeout)
    if num is not None and num < 1:
        raise ValueError(f"num_processes must be >= 1, got {num}")
    if num == 1:
        return None
    cluster = detect_cluster(environ)
    if address is None and num is None and pid is None and cluster is None:
        return None
    if address is not None:
        split_address(address)
    if cluster is None:
        missing = [
            f"{key} (--config.multihost.{key} or ${env})"
            for key, env, value in (
                ("coordinator_address", ENV_ADDRESS, address),
                ("num_processes", ENV_NUM_PROCESSES, num),
                ("process_id", ENV_PROCESS_ID, pid),
            )
            if value is None
        ]
        if missing:
            raise ValueError(
                f"a multi-process run needs coordinator_address, num_processes and process_id; "
                f"missing: {', '.join(missing)} (no SLURM / Open MPI / Kubernetes job detected "
                f"to fill them in). See docs/multi_host.md"
            )
    if pid is not None and not 0 <= pid < (num or pid + 1):
        raise ValueError(f"process_id must be in [0, num_processes={num}), got {pid}")
    return Settings(address, num, pid, timeout, cluster)


def wait_for_coordinator(address: str, timeout: float) -> None:
    """Waits until something accepts TCP connections at `address`, for at most `timeout` s.

    Raises:
      TimeoutError: naming the address and the last connection error.
    """
    host, port = split_address(address)
    deadline = time.monotonic() + timeout
    error: OSError | None = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            with socket.create_connection((host, port), timeout=min(left, 2.0)):
                return
        except OSError as e:  # refused, unresolvable, unreachable: it may be starting up
            error = e
            time.sleep(min(0.25, max(deadline - time.monotonic(), 0)))
    raise TimeoutError(
        f"could not reach the JAX coordinator at {address} within initialization_timeout="
        f"{timeout:g}s ({type(error).__name__}: {error}). Start process 0 with the same "
        f"coordinator_address and num_processes, check that {host}:{port} is reachable from "
        f"this host (address, port, firewall, *_proxy variables), or raise "
        f"--config.multihost.initialization_timeout"
    )


def check_port_free(address: str) -> None:
    """Raises an OSError if process 0 could not serve the coordinator on `address`'s port.

    JAX's coordinator listens on every interface (`[::]:port`). The probe sets SO_REUSEADDR, as
    servers do, so a port left in TIME_WAIT by a previous run counts as free; only a port that
    something listens on is reported (other bind failures are left to JAX).
    """
    _, port = split_address(address)
    for family, host in ((socket.AF_INET6, "::"), (socket.AF_INET, "")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((host, port))
            return
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                raise OSError(
                    e.errno,
                    f"process 0 cannot start the JAX coordinator on port {port} of {address}: "
                    f"{e.strerror}; pick a free port for coordinator_address",
                ) from None
            # no IPv6 on this host: try IPv4


def _backends_started() -> bool:
    from jax._src import xla_bridge  # no public API says whether a backend already exists

    return bool(getattr(xla_bridge, "backends_are_initialized", lambda: False)())


def initialize(
    environ: Mapping[str, str] | None = None,
    *,
    coordinator_address: str = "",
    num_processes: int = 0,
    process_id: int = -1,
    initialization_timeout: int = 300,
    peer_timeout: float = 60.0,
) -> bool:
    """Joins the multi-process run described by config / environment / cluster, if any.

    Idempotent: a second call in an initialised process does nothing. Called as
    `initialize(**config.multihost)` before anything else touches JAX.

    Args:
      environ: the environment (default `os.environ`).
      coordinator_address, num_processes, process_id, initialization_timeout: see `resolve`.
      peer_timeout: seconds after which cnnjax's own watch (`peers.PeerWatch`) counts a silent
        process as lost; the runtime's heartbeat timeout is set well above it.

    Returns:
      True when this process is part of a multi-process run, False for a single process.

    Raises:
      ValueError: a partial or inconsistent layout (before anything is started).
      RuntimeError: JAX was already used in this process (initialise first).
      TimeoutError: the coordinator could not be reached within `initialization_timeout`.
      OSError: process 0 cannot bind the coordinator's port.
    """
    settings = resolve(
        environ,
        coordinator_address=coordinator_address,
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=initialization_timeout,
    )
    if settings is None:
        return jax.distributed.is_initialized()
    if jax.distributed.is_initialized():
        return True
    if _backends_started():
        raise RuntimeError(
            "a multi-process run must join jax.distributed before any other JAX call, but this "
            "process already used JAX; call cnnjax.train.distributed.initialize(...) first"
        )
    if jax.config.jax_cpu_collectives_implementation != "mpi":
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    timeout = settings.timeout
    if settings.coordinator_address is not None and settings.process_id == 0:
        check_port_free(settings.coordinator_address)
    if settings.coordinator_address is not None and settings.process_id not in (0, None):
        start = time.monotonic()
        wait_for_coordinator(settings.coordinator_address, timeout)
        timeout = max(int(timeout - (time.monotonic() - start)), 1)
    log.info(
        "joining jax.distributed: coordinator %s, process %s of %s (%s); waiting up to %ds "
        "for every process",
        settings.coordinator_address or "(auto)",
        settings.process_id if settings.process_id is not None else "(auto)",
        settings.num_processes or "(auto)",
        settings.cluster or "explicit",
        timeout,
    )
    jax.distributed.initialize(
        coordinator_address=settings.coordinator_address,
        num_processes=settings.num_processes,
        process_id=settings.process_id,
        initialization_timeout=timeout,
        # The runtime aborts a process whose peer missed heartbeats for this long; cnnjax's own
        # watch (`peers.PeerWatch`, `peer_timeout`) must be the first to notice and exit cleanly.
        heartbeat_timeout_seconds=max(100, int(2 * peer_timeout) + 10),
    )
    return True


__all__ = [
    "Settings",
    "check_port_free",
    "detect_cluster",
    "initialize",
    "resolve",
    "wait_for_coordinator",
]
