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

Recipe: 24 epochs of 390 steps (batch 128), `adamw` (Loshchilov & Hutter 2019) 3e-3 with the
one-cycle schedule (Smith & Topin 2017), decoupled weight decay 0.2 on the weights only (not the
biases), label smoothing 0.1, augmentation `pad_crop(2, 'edge')` (random shifts of up to 2 pixels,
the border repeated), inputs normalised with the training digits' mean/std; pictures off.

Reached here, on the validation split (the last 10,000 training digits; trained on the first
50,000), on the quiet 2-core machine (nothing else running, load average 1.4-2.1), one run at a
time:
- seed 0 (the default): **99.42%** after 24 epochs (58 errors), **130.6 s of training**; epochs
  1-24: 94.75, 97.00, 97.97, 98.49, 98.52, 98.75, 98.88, 98.94, 99.00, 98.98, 99.12, 99.07, 99.19,
  99.18, 99.17, 99.40, 99.37, 99.32, 99.31, 99.42, 99.42, 99.43, 99.43, 99.42.
- seed 1 (`--config.seed=1`): **99.35%**, 134.8 s; epochs 1-24: 94.88, 97.07, 97.90, 98.41,
  98.57, 98.54, 98.86, 98.98, 98.97, 99.02, 98.76, 98.93, 98.93, 99.12, 99.09, 99.30, 99.19,
  99.27, 99.24, 99.33, 99.35, 99.35, 99.35, 99.35.
So the 99.4% target within 3 minutes is met by the config as shipped (seed 0), and missed by
0.05 points on seed 1: the recipe's seed spread is ~0.1 point. The same recipe with an EMA of the
parameters (`--config.optim.ema_decay=0.999`) gave 99.42% / 99.37% in 145 s; with 18 epochs (the
previous version of this config) 99.40% / 99.31% (seed 0: 118.4 s on the quiet machine).
Earlier trials (weight decay 0.05: 99.39%; Adam without decay: 99.36%; 15 epochs with rotations:
99.35%) and their numbers: the issue-15 tuning notes.
"""

from cnnjax.train.config import get_base_config


def get_config():
    config = get_base_config()
    config.model = "lenet5"
    config.dataset = "mnist"
    config.num_epochs = 24
    config.batch_size = 128
    config.optimizer = "adamw"
    config.learning_rate = 3e-3
    config.optim.weight_decay = 0.2  # decoupled, on kernels only (optim.decay_mask)
    config.schedule.name = "onecycle"
    config.augment = "pad_crop(2, 'edge')"
    config.label_smoothing = 0.1
    config.log.write_pictures = False
    return config
