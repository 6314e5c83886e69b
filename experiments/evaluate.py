"""Evaluate a saved checkpoint of a run on any split: top-1, top-5, loss, per-class, confusion.

    python -m experiments.evaluate --workdir=runs/quickstart                 # newest step
    python -m experiments.evaluate --workdir=runs/quickstart --step=310 --split=train

Uses the same `--config` as training (default: the quick start). Writes
`<workdir>/eval/<split>_step<N>.json` and `<workdir>/eval/<split>_step<N>_confusion.png`, and
prints `accuracy=<value>` last.
"""

import json
import os

import jax
import numpy as np
from absl import flags, logging

from cnnjax.train import config as config_lib
from cnnjax.train import distributed, evaluation, experiment, restore
from experiments import cli, compile_cache

DEFAULT_CONFIG = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "configs", "quickstart.py"
)

_CONFIG = cli.define_config("config", DEFAULT_CONFIG, "The run's config file.")
_WORKDIR = flags.DEFINE_string("workdir", "runs/quickstart", "The run directory to evaluate.")
_STEP = flags.DEFINE_integer("step", -1, "Checkpoint step to evaluate (-1: the newest).")
_SPLIT = flags.DEFINE_string("split", "", "Split to evaluate (empty: the held-out split).")
_CACHE = compile_cache.define_flag()


def evaluate_checkpoint(config, workdir: str, step: int = -1, split: str = "") -> dict:
    """Restores `step` of `workdir` onto this machine's devices and evaluates `split`.

    Returns:
      `evaluation.evaluate`'s metrics plus `step`, `split` and `class_names`; also written
      to `<workdir>/eval/`.
    """
    config_lib.validate(config)  # every key, name and number; JAX is not started yet
    distributed.initialize(**config.multihost)  # multi-host: must precede every other JAX call
    devices = jax.devices()
    exp = experiment.build(config, devices)
    split = split or exp.eval_split
    if split not in exp.dataset.splits:
        raise ValueError(
            f"dataset {exp.dataset.name!r} has no split {split!r}; it has "
            f"{', '.join(exp.dataset.splits)}"
        )
    state, step, engine = restore.restore_step(config, exp, workdir, step, devices)
    batch = experiment.eval_batch_size(config.eval.batch_size, devices)
    metrics = evaluation.evaluate(
        engine, engine.place_state(state), exp.dataset.splits[split], batch
    )
    metrics.update(step=step, split=split, class_names=list(exp.dataset.class_names))
    if jax.process_index() == 0:
        _write(workdir, metrics)
    return metrics


def _write(workdir: str, metrics: dict) -> None:
    from cnnjax.interpret import plots

    class_names = metrics["class_names"]
    out = os.path.join(workdir, "eval")
    os.makedirs(out, exist_ok=True)
    stem = os.path.join(out, f"{metrics['split']}_step{metrics['step']}")
    plots.confusion_matrix(metrics["confusion"], list(class_names), stem + "_confusion.png")
    per_class = {
        name: (None if np.isnan(a) else float(a))
        for name, a in zip(class_names, metrics["per_class_accuracy"], strict=True)
    }
    row = {k: metrics[k] for k in ("step", "split", "loss", "accuracy", "top5_accuracy", "count")}
    row.update(per_class_accuracy=per_class, confusion=metrics["confusion"].tolist())
    with open(stem + ".json", "w") as f:
        json.dump(row, f, indent=1)


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    compile_cache.configure(_CACHE.value)
    m = evaluate_checkpoint(_CONFIG.value, _WORKDIR.value, _STEP.value, _SPLIT.value)
    print(f"step={m['step']} split={m['split']} loss={m['loss']:.4f} top5={m['top5_accuracy']:.4f}")
    for name, accuracy in zip(m["class_names"], m["per_class_accuracy"], strict=True):
        print(f"  class {name}: {accuracy:.4f}")
    print(f"accuracy={m['accuracy']:.4f}", flush=True)


if __name__ == "__main__":
    cli.run(main)
