"""Modern LeNet-5 (the quick-start's network: ReLU, max-pooling, 61,706 parameters) on full MNIST.

    python -m experiments.train --config=experiments/configs/lenet5_modern_mnist.py \
        --config.dataset='idx:<dir>?validation=10000' --workdir=runs/lenet5_modern_mnist

(`<dir>` holds the MNIST IDX files; without `?validation=...` it trains on all training digits
and evaluates on the t10k test files.)

A few steps on the embedded digits (no download):

    python -m experiments.train --config=experiments/configs/lenet5_modern_mnist.py \
        --config.dataset=mnist5k --config.num_steps=20 --workdir=/tmp/lenet5_modern_smoke

Reference: LeCun et al. (1998) report 0.95% test error (99.05%) for the original LeNet-5 without
distortions; this config's target is >= 99.4% in <= 3 minutes of training on 2 CPU cores.

Recipe: 15 epochs of 390 steps (batch 128), Adam 3e-3 with the one-cycle schedule, label
smoothing 0.1, augmentation `pad_crop(2, 'edge')|rotate(10)` (random shifts of up to 2 pixels
with the black border repeated, rotations of up to 10 degrees), inputs normalised with the
training digits' mean/std; pictures off.

Reached here, on the validation split (the last 10,000 training digits; trained on the first
50,000), on a 2-core CPU shared with ~6 other jobs (load average 8-37): **99.35%** after 15 epochs
(epochs 1-15: 95.57, 96.84, 98.25, 98.69, 98.86, 98.89, 98.99, 98.98, 99.19, 99.11, 98.92, 99.27,
99.29, 99.34, 99.35%) — *short of the 99.4% target*. Without the rotations and with 12 epochs it
also reached 99.35% (572 s), and so did this recipe with `--config.optim.ema_decay=0.999` (443 s at
load 8-14). Time: 171.9 s of training (181 s wall with data loading and
compilation) in a rerun at 16:43 UTC when the load had fallen to 5 → 3, with per-epoch accuracies
identical to the first run's (2,200 s at load 17-37, interrupted at epoch 7 and resumed from its
checkpoint) — deterministic, and within the 3-minute budget.
"""

from cnnjax.train.config import get_base_config


def get_config():
    config = get_base_config()
    config.model = "lenet5"
    config.dataset = "mnist"
    config.num_epochs = 15
    config.batch_size = 128
    config.optimizer = "adam"
    config.learning_rate = 3e-3
    config.schedule.name = "onecycle"
    config.augment = "pad_crop(2, 'edge')|rotate(10)"
    config.label_smoothing = 0.1
    config.log.write_pictures = False
    return config
