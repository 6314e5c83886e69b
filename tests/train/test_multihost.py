"""Multi-host training on `jax.distributed`: two local processes, gloo collectives, loopback.

Two processes with 4 forced CPU devices each (their layout from `JAX_COORDINATOR_ADDRESS`,
`JAX_NUM_PROCESSES`, `JAX_PROCESS_ID`) train LeNet-5 with the `jit` and the `pmap` engine; each
reads its own half of every global batch. They must reproduce the 1-process, 1-device run;
only process 0 may write logs; both must take part in every Orbax save. The layout logic
(`distributed.resolve`) and the bounded wait for a coordinator are checked in-process.
"""

import os
import socket
import time

import numpy as np
import parallel_runs as pr
import pytest

from cnnjax.train import distributed


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    r = pr.runs(tmp_path_factory)
    r.get("single")
    return r


@pytest.fixture(scope="module")
def outputs(runs):
    return runs.get("two")


@pytest.mark.parametrize("name", ["dist_jit", "dist_pmap"])
def test_two_processes_reproduce_one_process(runs, outputs, name):
    reference = runs.dir("jit1")
    workdir = runs.dir(name)
    assert pr.result(workdir)["devices"] == 8
    losses, reference_losses = pr.train_losses(workdir), pr.train_losses(reference)
    assert sorted(losses) == sorted(reference_losses) == list(range(1, pr.STEPS + 1))
    np.testing.assert_allclose(
        [losses[s] for s in sorted(losses)], [reference_losses[s] for s in sorted(losses)], 1e-5
    )
    for step in (3, pr.STEPS):
        state, expected = pr.load_state(workdir, step), pr.load_state(reference, step)
        for part in ("params", "opt_state"):
            pr.assert_trees_close(state[part], expected[part], rtol=1e-5, atol=1e-6)
    final, expected = pr.result(workdir), pr.result(reference)
    assert final["count"] == expected["count"]  # each eval example counted once over processes
    np.testing.assert_allclose(final["accuracy"], expected["accuracy"], atol=1e-6)
    np.testing.assert_allclose(final["loss"], expected["loss"], rtol=1e-5)


@pytest.mark.parametrize("name", ["dist_jit", "dist_pmap"])
def test_only_process_zero_writes_logs(runs, outputs, name):
    workdir = runs.dir(name)
    rows = pr.read_jsonl(os.path.join(workdir, "metrics.jsonl"))
    train_steps = [r["step"] for r in rows if r["split"] == "train"]
    assert train_steps == list(range(1, pr.STEPS + 1))  # once each: process 1 wrote none
    assert [r["step"] for r in rows if r["split"] == "eval"] == [pr.STEPS]
    assert len(os.listdir(os.path.join(workdir, "tensorboard"))) == 1
    process0, process1 = outputs
    assert process0.count("test_accuracy=") == 2 and "test_accuracy=" not in process1


@pytest.mark.parametrize("name", ["dist_jit", "dist_pmap"])
def test_every_process_takes_part_in_saves(runs, outputs, name):
    for step in (3, pr.STEPS):
        checkpoint = os.path.join(runs.dir(name), "checkpoints", str(step))
        for process in (0, 1):
            assert os.path.isfile(os.path.join(checkpoint, "data", f"process_{process}-of-2.json"))
            assert os.path.isdir(os.path.join(checkpoint, "state", f"ocdbt.process_{process}"))


def test_unreachable_coordinator_fails_with_one_clear_error(runs):
    (output,) = runs.get("unreachable")
    job = runs.jobs["unreachable"][0]
    assert job.proc.returncode == 1, output[-3000:]  # a Python error, not the runtime's abort
    assert f"TimeoutError: could not reach the JAX coordinator at {runs.unreachable_address}" in (
        output
    )
    assert "initialization_timeout=3s" in output
    assert output.count("Traceback") == 0  # one line (experiments.cli)


# ------------------------------------------------------------------------ in-process checks


def _config(**overrides):
    """The `multihost.*` group as keyword arguments of `distributed.resolve` / `initialize`."""
    return {
        "coordinator_address": "",
        "num_processes": 0,
        "process_id": -1,
        "initialization_timeout": 300,
        **overrides,
    }


def test_single_process_when_nothing_is_given():
    assert distributed.resolve(environ={}, **_config()) is None
    assert distributed.resolve(environ={}, **_config(num_processes=1, process_id=0)) is None
    assert distributed.initialize(environ={}, **_config()) is False


def test_layout_from_config_wins_over_environment():
    env = {
        "JAX_COORDINATOR_ADDRESS": "node9:99",
        "JAX_NUM_PROCESSES": "4",
        "JAX_PROCESS_ID": "3",
    }
    settings = distributed.resolve(environ=env, **_config())
    assert (settings.coordinator_address, settings.num_processes, settings.process_id) == (
        "node9:99",
        4,
        3,
    )
    config = _config(coordinator_address="127.0.0.1:1234", num_processes=2, process_id=1)
    settings = distributed.resolve(environ=env, **config)
    assert (settings.coordinator_address, settings.num_processes, settings.process_id) == (
        "127.0.0.1:1234",
        2,
        1,
    )
    assert settings.cluster is None and settings.timeout == 300


SLURM = {
    "SLURM_JOB_ID": "77",
    "SLURM_STEP_NODELIST": "node[001-004]",
    "SLURM_NTASKS": "4",
    "SLURM_PROCID": "2",
    "SLURM_LOCALID": "0",
}


@pytest.mark.parametrize(
    "environ, cluster",
    [
        (SLURM, "slurm"),
        ({**SLURM, "SLURM_NTASKS": "1"}, None),  # a one-task job is a single process
        ({k: v for k, v in SLURM.items() if k != "SLURM_STEP_NODELIST"}, None),  # no srun step
        (
            {"OMPI_MCA_orte_hnp_uri": "1.2.3.4;tcp://node1:5", "OMPI_COMM_WORLD_SIZE": "2"},
            "ompi",
        ),
        ({"KUBERNETES_SERVICE_HOST": "kube-api"}, None),  # a pod, not an indexed job
    ],
)
def test_cluster_detection(environ, cluster):
    assert distributed.detect_cluster(environ) == cluster
    settings = distributed.resolve(environ=environ, **_config())
    assert (settings.cluster if settings else None) == cluster
    if settings is not None:  # JAX fills in the layout itself
        assert settings.coordinator_address is None and settings.num_processes is None


@pytest.mark.parametrize(
    "overrides, environ, message",
    [
        ({"num_processes": 2, "process_id": 0}, {}, "missing: coordinator_address"),
        ({"coordinator_address": "127.0.0.1:5"}, {}, "missing: num_processes .*, process_id"),
        ({"num_processes": 2}, {"JAX_COORDINATOR_ADDRESS": "h:1"}, "missing: process_id"),
        ({"coordinator_address": "nohost", "num_processes": 2, "process_id": 0}, {}, "'host:port'"),
        ({"coordinator_address": "h:70000", "num_processes": 2, "process_id": 0}, {}, "1..65535"),
        ({"coordinator_address": "h:1", "num_processes": 2, "process_id": 2}, {}, r"\[0, num_pro"),
        ({"num_processes": -3}, {}, "num_processes must be >= 1"),
        ({}, {"JAX_NUM_PROCESSES": "two"}, r"\$JAX_NUM_PROCESSES='two' is not an integer"),
    ],
)
def test_bad_layout_raises_one_clear_error(overrides, environ, message):
    with pytest.raises(ValueError, match=message):
        distributed.resolve(environ=environ, **_config(**overrides))


def test_kubernetes_job_without_the_kubernetes_package_says_so():
    environ = {"KUBERNETES_SERVICE_HOST": "kube-api", "JOB_COMPLETION_INDEX": "0"}
    try:
        import kubernetes  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match=r"jax\[k8s\]"):
            distributed.detect_cluster(environ)
    else:
        assert distributed.detect_cluster(environ) == "k8s"


def test_waiting_for_an_unreachable_coordinator_is_bounded():
    with socket.socket() as s:  # bound but not listening: connections are refused
        s.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{s.getsockname()[1]}"
        start = time.monotonic()
        with pytest.raises(TimeoutError, match=f"coordinator at {address} within"):
            distributed.wait_for_coordinator(address, timeout=1.5)
        elapsed = time.monotonic() - start
    assert 1.5 <= elapsed < 1.5 + 5.0  # the deadline, plus one retry pause and a loaded CPU


def test_waiting_returns_once_the_coordinator_listens():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        start = time.monotonic()
        distributed.wait_for_coordinator(f"127.0.0.1:{s.getsockname()[1]}", timeout=30)
        assert time.monotonic() - start < 5


def test_process_zero_reports_a_taken_port():
    with socket.socket(socket.AF_INET6 if socket.has_ipv6 else socket.AF_INET) as s:
        s.bind(("::" if socket.has_ipv6 else "", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(OSError, match=f"cannot start the JAX coordinator on port {port}"):
            distributed.check_port_free(f"127.0.0.1:{port}")


# ------------------------------------------------------------------------------ a lost peer


def test_killing_process_1_ends_process_0_with_one_message_within_the_timeout(tmp_path):
    """2 processes on loopback; kill -9 of process 1 → process 0 exits 75, no abort."""
    import subprocess
    import sys

    from cnnjax.train import peers

    pr._prepare_data()
    timeout = 4
    port = pr.free_port()
    argv = [
        sys.executable,
        "-m",
        "experiments.train",
        f"--workdir={tmp_path / 'run'}",
        "--config.batch_size=32",
        "--config.num_steps=100000",  # runs until the kill
        "--config.log.every_steps=5",
        "--config.log.progress_bar=False",
        "--config.log.write_pictures=False",
        f"--config.multihost.peer_timeout={timeout}",
    ]
    procs = []
    for i in range(2):
        env = pr.subprocess_env(
            1,
            str(tmp_path / "cache"),
            JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
            JAX_NUM_PROCESSES="2",
            JAX_PROCESS_ID=str(i),
        )
        procs.append(
            subprocess.Popen(
                argv,
                cwd=pr.ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    pr._live.extend(procs)
    survivor, victim = procs
    for line in survivor.stdout:  # both processes are training
        if line.startswith("step "):
            break
    victim.kill()
    killed = time.monotonic()
    _, err = survivor.communicate(timeout=120)
    seconds = time.monotonic() - killed
    victim.communicate()
    assert survivor.returncode == peers.EXIT_PEER_LOST, err[-3000:]
    assert seconds < timeout + 10  # the timeout, one heartbeat, a loaded CPU
    (line,) = [x for x in err.splitlines() if " is lost " in x]
    assert line.startswith("process 1 of 2 is lost") and "Restart every process" in line
    assert "Traceback" not in err and "Fatal Python error" not in err and "Aborted" not in err
