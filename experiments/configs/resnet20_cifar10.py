"""ResNet-20 (He et al., 2016, §4.2) on CIFAR-10, with the paper's option A shortcuts.

    python -m experiments.train --config=experiments/configs/resnet20_cifar10.py \
        --workdir=runs/resnet20_cifar10

A few steps on the embedded digits:

    python -m experiments.train --config=experiments/configs/resnet20_cifar10.py \
        --config.dataset=mnist5k --config.batch_size=16 --config.num_steps=3 \
        --workdir=/tmp/resnet20_smoke

Paper: 8.75% test error (Table 6), 0.27M parameters.

Recipe (§4.2): SGD, momentum 0.9, weight decay 1e-4, batch 128, learning rate 0.1 divided by 10
at 32k and 48k iterations, 64k iterations in all; 4-pixel padding with random 32x32 crops and
horizontal flips. The paper trains on a 45k/5k split of the training set; this uses all 50k.
Weight decay skips biases and BatchNorm parameters (the engine masks them). `--config.model_
kwargs.shortcut=B` gives the projection-shortcut network of the benchmark (272,474 params).
"""

from cnnjax.train.config import get_base_config


def get_config():
    config = get_base_config()
    config.model = "resnet20"
    config.dataset = "cifar10"
    config.augment = "pad_crop(4)|flip_lr"
    config.batch_size = 128
    config.num_steps = 64_000
    config.optimizer = "momentum"
    config.optim.momentum = 0.9
    config.learning_rate = 0.1
    config.optim.weight_decay = 1e-4
    config.schedule.name = "piecewise"
    config.schedule.boundaries = (32_000, 48_000)
    config.schedule.scales = (0.1, 0.1)
    config.schedule.boundaries_unit = "steps"
    return config
