"""The training runs the parallel, multi-host and restore tests compare (not collected by pytest).

Every run is a real `train_and_evaluate` of LeNet-5 (or a one-block BatchNorm ResNet) on
MNIST-5k in a subprocess (`parallel_worker.py`), so the device count can be forced with
`XLA_FLAGS=--xla_force_host_platform_device_count=N` before JAX starts. The subprocesses start
together, once per test session (by the first test that asks), and serve all three modules:

    single       1 device:  jit LeNet (the reference), jit BN-ResNet, then jit LeNet resumed
                 from the 8-device pmap checkpoint of step 3
    eight        8 devices: pmap and jit LeNet, jit LeNet with `shard.params` (its state's
                 shardings recorded), pmap and jit BN-ResNet, a batch of 36, then pmap LeNet
                 resumed from the 1-device checkpoint of step 3
    two          2 processes x 4 devices (jax.distributed over loopback): jit and pmap LeNet
    unreachable  the CLI pointed at a coordinator nobody serves

A shared persistent compilation cache lets a resumed run reuse the compiled steps of the run
that saved the checkpoint.
"""

import atexit
import json
import os
import socket
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "parallel_worker.py")
STEPS = 6  # LeNet runs: checkpoints at 3 and 6
BN_STEPS = 4
BATCH = 32

# Momentum SGD, not the quick-start's Adam: Adam divides by sqrt(v), so a gradient entry near
# zero turns float32 summation-order noise into lr-sized steps and the comparison tests noise.
COMMON = {
    "optimizer": "momentum",
    "learning_rate": 0.05,
    "label_smoothing": 0.0,
    "batch_size": BATCH,
    "log": {"every_steps": 1, "write_pictures": False, "progress_bar": False},
    "eval": {"batch_size": 512},
}
LENET = {**COMMON, "num_steps": STEPS, "checkpoint": {"every_steps": 3}}
# FSDP: LeNet's arrays of >= 1024 entries (conv2, fc1, fc2 kernels) split over the 8 devices.
FSDP = {**LENET, "shard": {"params": True, "min_size": 1024}}
BN_RESNET = {
    **COMMON,
    "model": "resnet20",
    "model_kwargs": {"stage_sizes": [1], "widths": [4]},  # stem + one block: 3 BatchNorms
    "num_steps": BN_STEPS,
}

_live: list[subprocess.Popen] = []


@atexit.register
def _kill_leftovers() -> None:
    for proc in _live:
        if proc.poll() is None:
            proc.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env(devices: int, cache_dir: str, **extra: str) -> dict:
    """The environment of a worker: CPU only, `devices` forced host devices, repo importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    env.update(
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=os.pathsep.join([ROOT, env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        JAX_COMPILATION_CACHE_DIR=cache_dir,
        JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
        JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="0",
    )
    env.update(extra)
    return env


class Job:
    """One subprocess; `wait()` returns its output and raises with the output on failure."""

    def __init__(self, name: str, argv: list[str], env: dict, logdir: str, check: bool = True):
        self.name, self.check = name, check
        self.log_path = os.path.join(logdir, f"{name}.log")
        self.start = time.time()
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                argv, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        _live.append(self.proc)
        self.seconds: float | None = None

    def wait(self, timeout: float = 600) -> str:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        self.seconds = self.seconds or time.time() - self.start
        with open(self.log_path) as f:
            output = f.read()
        if self.check and self.proc.returncode != 0:
            raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n{output[-6000:]}")
        return output


class Runs:
    """Starts every group at once and hands out their results (`get`)."""

    def __init__(self, tmp: str):
        self.tmp = tmp
        self.cache = os.path.join(tmp, "jax-cache")
        self.logs = os.path.join(tmp, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.dir = lambda name: os.path.join(tmp, name)
        self.spec = lambda name: os.path.join(tmp, f"{name}.json")
        d = self.dir
        pmap = {**LENET, "parallel": "pmap"}
        self.jobs = {
            # The 1-device and 8-device workers resume from each other's step-3 checkpoint.
            "single": [
                self._worker(
                    "single",
                    [
                        {"workdir": d("jit1"), "config": LENET},
                        {"workdir": d("bn_jit1"), "config": BN_RESNET},
                        {
                            "workdir": d("resume_pmap8_to_1"),
                            "config": LENET,
                            "wait_for": os.path.join(d("pmap8"), "result.json"),
                            "resume_from": {"workdir": d("pmap8"), "step": 3},
                        },
                    ],
                    devices=1,
                    partner="eight",
                )
            ],
            "eight": [
                self._worker(
                    "eight",
                    [
                        {"workdir": d("pmap8"), "config": pmap},
                        {"workdir": d("jit8"), "config": LENET},
                        {"workdir": d("fsdp8"), "config": FSDP, "record_shardings": True},
                        {"workdir": d("bn_pmap8"), "config": {**BN_RESNET, "parallel": "pmap"}},
                        {"workdir": d("bn_jit8"), "config": BN_RESNET},
                        {
                            "workdir": d("batch36"),
                            "config": {**LENET, "batch_size": 36},
                            "expect_error": True,
                        },
                        {
                            "workdir": d("resume_1_to_pmap8"),
                            "config": pmap,
                            "wait_for": os.path.join(d("jit1"), "result.json"),
                            "resume_from": {"workdir": d("jit1"), "step": 3},
                        },
                    ],
                    devices=8,
                    partner="single",
                )
            ],
        }
        port = free_port()
        self.jobs["two"] = [
            self._worker(
                f"two_p{i}",
                [
                    {"workdir": d("dist_jit"), "config": LENET},
                    {"workdir": d("dist_pmap"), "config": pmap},
                ],
                devices=4,
                JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                JAX_NUM_PROCESSES="2",
                JAX_PROCESS_ID=str(i),
            )
            for i in range(2)
        ]
        self.unreachable_socket = socket.socket()  # bound, never listening: connections refused
        self.unreachable_socket.bind(("127.0.0.1", 0))
        self.unreachable_address = f"127.0.0.1:{self.unreachable_socket.getsockname()[1]}"
        argv = [
            sys.executable,
            "-m",
            "experiments.train",
            f"--config.multihost.coordinator_address={self.unreachable_address}",
            "--config.multihost.num_processes=2",
            "--config.multihost.process_id=1",
            "--config.multihost.initialization_timeout=3",
            f"--workdir={d('unreachable')}",
        ]
        self.jobs["unreachable"] = [
            Job("unreachable", argv, subprocess_env(1, self.cache), self.logs, check=False)
        ]

    def _worker(self, name: str, runs: list[dict], devices: int, partner=None, **env) -> Job:
        spec = {"runs": runs}
        if partner:
            spec["partner_failed"] = self.spec(partner) + ".failed"
        with open(self.spec(name), "w") as f:
            json.dump(spec, f)
        argv = [sys.executable, WORKER, self.spec(name)]
        return Job(name, argv, subprocess_env(devices, self.cache, **env), self.logs)

    def get(self, name: str) -> list[str]:
        """Waits for group `name` (`single`, `eight`, `two`, `unreachable`); its outputs."""
        return [job.wait() for job in self.jobs[name]]


_RUNS: dict[str, Runs] = {}


def runs(tmp_path_factory) -> Runs:
    """The session's `Runs` (started by the first test that asks)."""
    if "runs" not in _RUNS:
        _prepare_data()
        _RUNS["runs"] = Runs(str(tmp_path_factory.mktemp("parallel")))
    return _RUNS["runs"]


def _prepare_data() -> None:
    """Prepares MNIST-5k once here, so that concurrent workers only read it."""
    from cnnjax.data import datasets
    from cnnjax.data.builders import mnist5k
    from cnnjax.data.builders.prepare import prepare

    root = datasets.resolve_data_dir(None)
    prepare(mnist5k.Mnist5k(data_dir=root, file_format="array_record"), root)


# ---------------------------------------------------------------------------- reading results


def load_state(workdir: str, step: int) -> dict:
    """The saved `TrainState` of checkpoint `step` as numpy arrays (whatever layout saved it)."""
    import jax
    import orbax.checkpoint as ocp

    path = os.path.join(workdir, "checkpoints", str(step), "state")
    tree = ocp.StandardCheckpointer().metadata(path).item_metadata.tree
    restore_args = jax.tree.map(lambda _: ocp.RestoreArgs(restore_type=np.ndarray), tree)
    with ocp.PyTreeCheckpointer() as checkpointer:
        return checkpointer.restore(path, args=ocp.args.PyTreeRestore(restore_args=restore_args))


def read_jsonl(path: str) -> list[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def train_losses(workdir: str) -> dict[int, float]:
    """{step: train loss} from `metrics.jsonl`."""
    rows = read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    return {r["step"]: r["loss"] for r in rows if r["split"] == "train"}


def read_json(workdir: str, name: str) -> dict:
    with open(os.path.join(workdir, name)) as f:
        return json.load(f)


def result(workdir: str) -> dict:
    """The worker's `result.json`: final eval `loss`, `accuracy`, `step`, `count`, `devices`."""
    return read_json(workdir, "result.json")


def max_abs_diff(a, b) -> float:
    """Largest |a - b| over matching leaves of two trees (structures must match)."""
    import jax

    diffs = jax.tree.map(lambda x, y: float(np.max(np.abs(np.asarray(x) - np.asarray(y)))), a, b)
    return max(jax.tree.leaves(diffs), default=0.0)


def assert_trees_close(a, b, rtol: float = 1e-5, atol: float = 1e-5) -> None:
    # atol 1e-5: float32 summation order moves BatchNorm gradients near zero by ~1e-6, while
    # the steps compared move parameters by ~1e-3 and a real fault (per-device BatchNorm
    # statistics under pmap) by ~4e-3.
    import jax

    paths_a = jax.tree_util.tree_flatten_with_path(a)[0]
    leaves_b, _ = jax.tree.flatten(b)
    assert len(paths_a) == len(leaves_b), "different tree structures"
    for (path, x), y in zip(paths_a, leaves_b, strict=True):
        np.testing.assert_allclose(
            np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, err_msg=jax.tree_util.keystr(path)
        )
