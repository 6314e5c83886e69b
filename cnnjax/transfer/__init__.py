"""Transfer learning: partial restore, freezing, per-group rates, bottleneck features.

    python -m experiments.train --config.transfer.mode=finetune_top \
        --config.transfer.init_from=runs/quickstart --workdir=runs/transfer

`setup.check` validates the transfer options at the door (from `cnnjax.train.config.validate`);
`setup.build` gives the training engine the restored weights, the frozen groups, the per-group
learning rates or the cached bottleneck features (see docs/training.md, "Transfer learning").
"""

from cnnjax.transfer import bottleneck, freeze, restore, source
from cnnjax.transfer.setup import KEYS, MODES, Options, Setup, build, check, check_workdir

__all__ = [
    "KEYS",
    "MODES",
    "Options",
    "Setup",
    "bottleneck",
    "build",
    "check",
    "check_workdir",
    "freeze",
    "restore",
    "source",
]
