"""Training engine: state, optimizers, losses, pure steps, parallel engines, checkpoints, loop.

from cnnjax.train import train_and_evaluate
metrics = train_and_evaluate(config, workdir)
"""

from cnnjax.train.loop import NonFiniteLossError, train_and_evaluate
from cnnjax.train.run_identity import CheckpointMismatchError
from cnnjax.train.state import TrainState, create_train_state

__all__ = [
    "CheckpointMismatchError",
    "NonFiniteLossError",
    "TrainState",
    "create_train_state",
    "train_and_evaluate",
]
