"""Train a model from a config file; re-running the same command resumes it.

    python -m experiments.train                      # the quick start: LeNet-5 on MNIST-5k
    python -m experiments.train --config=experiments/configs/quickstart.py \
        --config.num_epochs=3 --workdir=runs/quickstart

Flags: `--config` (an ml_collections config file; `--config.<key>=<value>` overrides a key),
`--workdir` (checkpoints, metrics.jsonl, TensorBoard events and pictures go there) and
`--compilation_cache` (the persistent XLA compilation cache's directory, empty for none:
`experiments/compile_cache.py`).
"""

import os

from absl import flags, logging

from cnnjax.train import train_and_evaluate
from experiments import cli, compile_cache

DEFAULT_CONFIG = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "configs", "quickstart.py"
)

_CONFIG = cli.define_config(
    "config", DEFAULT_CONFIG, "Training configuration file.", lock_config=True
)
_WORKDIR = flags.DEFINE_string("workdir", "runs/quickstart", "Directory for the run's outputs.")
_CACHE = compile_cache.define_flag()


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    compile_cache.configure(_CACHE.value)
    train_and_evaluate(_CONFIG.value, _WORKDIR.value)


if __name__ == "__main__":
    cli.run(main)
