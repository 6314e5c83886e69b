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

Recipe: 18 epochs of 390 steps (batch 128), `adamw` (Loshchilov & Hutter 2019) 3e-3 with the
one-cycle schedule (Smith & Topin 2017), decoupled weight decay 0.2 on the weights only (not the
biases), label smoothing 0.1, augmentation `pad_crop(2, 'edge')` (random shifts of up to 2 pixels,
the border repeated), inputs normalised with the training digits' mean/std; pictures off.

Reached here, on the validation split (the last 10,000 training digits; trained on the first
50,000), on a 2-core CPU shared with other jobs (load average 5.4-7.9): **99.40%** after 18
epochs (60 errors; epochs 1-18: 95.37, 97.41, 98.21, 98.64, 98.49, 98.91, 98.92, 98.94, 99.16,
99.05, 99.21, 99.22, 99.28, 99.32, 99.37, 99.36, 99.40, 99.40%) — the 99.4% target, with no
margin: the same recipe with `--config.seed=1` reached 99.31% (393 s at load 6-8), so this is
the lucky end of a ~0.1-point seed spread. Time: **118.4 s of training** (127 s wall with data
loading and compilation) in a rerun on the quiet 2-core machine (load average 2.3; the same
per-epoch accuracies, to the digit), within the 3-minute budget; 261.5 s at load 5-8.
With weight decay 0.05: 99.39% (best 99.40% at epoch 16); without (Adam): 99.36%; the previous
recipe (15 epochs, `pad_crop(2, 'edge')|rotate(10)`, Adam) 99.35% in 171.9 s at load 3-5. Every
trial and its numbers: the issue-15 tuning note.
"""

from cnnjax.train.config import get_base_config


def get_config():
    config = get_base_config()
    config.model = "lenet5"
    config.dataset = "mnist"
    config.num_epochs = 18
    config.batch_size = 128
    config.optimizer = "adamw"
    config.learning_rate = 3e-3
    config.optim.weight_decay = 0.2  # decoupled, on kernels only (optim.decay_mask)
    config.schedule.name = "onecycle"
    config.augment = "pad_crop(2, 'edge')"
    config.label_smoothing = 0.1
    config.log.write_pictures = False
    return config
