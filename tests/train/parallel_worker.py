"""Subprocess helper of the parallel / multi-host tests (not collected by pytest).

    XLA_FLAGS=--xla_force_host_platform_device_count=8 \
        python tests/train/parallel_worker.py spec.json

`spec.json` holds `{"runs": [run, ...]}`; each run trains with the real entry point
`cnnjax.train.train_and_evaluate(config, workdir)`, the config being the quick start's
(`experiments/configs/quickstart.py`) with `run["config"]` applied on top. A run may carry

* `"resume_from": {"workdir": ..., "step": s}`: its workdir starts with a copy of that run's
  checkpoint `s`, so `train_and_evaluate` resumes from it (another device count / engine;
  single-process workers only);
* `"wait_for": path`: first wait (up to 10 min) until `path` exists, e.g. another worker's
  `result.json`; give up at once if the file `spec["partner_failed"]` appears;
* `"record_shardings": true`: the shardings of the state the loop trained last (every leaf's
  partition spec and the shape of one device's shard) go to `<workdir>/shardings.json`;
* `"expect_error": true`: the run must raise; the error, the seconds it took and the number of
  JAX traces / lowerings / compilations it started go to `<workdir>/error.json`.

Process 0 writes `<workdir>/result.json` (final evaluation) after each successful run; a worker
that fails writes `<spec>.failed`. The environment (`XLA_FLAGS`, `JAX_COORDINATOR_ADDRESS`, ...)
is set by the test; the decoded dataset is kept between the runs of one worker (a cache of the
test helper, not of cnnjax).
"""

import dataclasses
import functools
import json
import os
import shutil
import sys
import time
import traceback


def _config(overrides: dict):
    from experiments.configs import quickstart

    config = quickstart.get_config()
    for key, value in overrides.items():
        if isinstance(value, dict):
            for sub, sub_value in value.items():
                config[key][sub] = tuple(sub_value) if isinstance(sub_value, list) else sub_value
        else:
            config[key] = tuple(value) if isinstance(value, list) else value
    return config


def _seed_workdir(workdir: str, source: str, step: int) -> None:
    """Copies checkpoint `step` of `source` into a fresh `workdir` (single-process runs)."""
    shutil.rmtree(workdir, ignore_errors=True)
    shutil.copytree(
        os.path.join(source, "checkpoints", str(step)),
        os.path.join(workdir, "checkpoints", str(step)),
    )


def _wait_for(path: str, partner_failed: str | None, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if partner_failed and os.path.exists(partner_failed):
            raise RuntimeError(f"gave up waiting for {path}: {partner_failed} exists")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {timeout} s")
        time.sleep(0.2)


def _record_shardings(workdir: str):
    """Wraps the jit engine so the last state its train step returns is described on disk."""
    import jax

    from cnnjax.train import parallel

    make = parallel.ENGINES["jit"].make

    def describe(state) -> dict:
        flat = jax.tree_util.tree_flatten_with_path(state)[0]
        return {
            jax.tree_util.keystr(path): {
                "shape": list(x.shape),
                "spec": str(tuple(x.sharding.spec)),
                "shard_shape": list(x.sharding.shard_shape(x.shape)),
                "devices": len(x.sharding.device_set),
            }
            for path, x in flat
        }

    def wrapped(*args, **kwargs):
        engine = make(*args, **kwargs)
        last = {}

        def train_step(state, batch):
            state, metrics = engine.train_step(state, batch)
            last["state"] = state
            return state, metrics

        def write():
            with open(os.path.join(workdir, "shardings.json"), "w") as f:
                json.dump(describe(last["state"]), f)

        wrapped.write = write
        return dataclasses.replace(engine, train_step=train_step)

    return wrapped


def main(spec: dict) -> None:
    import jax

    import cnnjax.data
    from cnnjax.train import train_and_evaluate

    cnnjax.data.load_dataset = functools.lru_cache(cnnjax.data.load_dataset)
    compiles, cache_hits = [], []
    jax.monitoring.register_event_duration_secs_listener(
        lambda event, _secs, **kw: compiles.append(event) if "/core/compile/" in event else None
    )
    jax.monitoring.register_event_listener(
        lambda event, **kw: cache_hits.append(event) if event.endswith("/cache_hits") else None
    )
    for run in spec["runs"]:
        workdir, config = run["workdir"], _config(run.get("config", {}))
        if "wait_for" in run:
            _wait_for(run["wait_for"], spec.get("partner_failed"))
        if "resume_from" in run:
            _seed_workdir(workdir, run["resume_from"]["workdir"], run["resume_from"]["step"])
        start, cpu = time.time(), time.process_time()
        compiled, hits = len(compiles), len(cache_hits)
        recorder = None
        if run.get("record_shardings"):
            from cnnjax.train import parallel

            recorder = _record_shardings(workdir)
            original = parallel.ENGINES["jit"]
            parallel.ENGINES["jit"] = dataclasses.replace(original, make=recorder)
        try:
            result = train_and_evaluate(config, workdir)
        except Exception as e:
            if not run.get("expect_error"):
                raise
            os.makedirs(workdir, exist_ok=True)
            with open(os.path.join(workdir, "error.json"), "w") as f:
                error = {"type": type(e).__name__, "message": str(e)}
                error.update(seconds=time.time() - start, compiles=len(compiles) - compiled)
                json.dump(error, f)
            continue
        finally:
            if recorder is not None:
                parallel.ENGINES["jit"] = original
        if recorder is not None:
            recorder.write()
        if run.get("expect_error"):
            raise AssertionError(f"run {workdir} was expected to fail but finished")
        print(
            f"worker: {os.path.basename(workdir)}: {time.time() - start:.1f} s wall, "
            f"{time.process_time() - cpu:.1f} s cpu, "
            f"{sum('backend_compile' in e for e in compiles[compiled:])} compiled, "
            f"{len(cache_hits) - hits} from the persistent cache",
            flush=True,
        )
        if jax.process_index() == 0:
            summary = {k: float(result[k]) for k in ("loss", "accuracy", "step", "count")}
            with open(os.path.join(workdir, "result.json"), "w") as f:
                json.dump({**summary, "devices": jax.device_count()}, f)


if __name__ == "__main__":
    spec_path = sys.argv[1]
    with open(spec_path) as f:
        spec = json.load(f)
    try:
        main(spec)
    except BaseException:
        with open(spec_path + ".failed", "w") as f:
            f.write(traceback.format_exc())
        raise
    print(f"worker: total {time.process_time():.1f} s cpu", flush=True)
