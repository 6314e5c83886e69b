"""VGG-16 with BatchNorm for 32x32 images (`vgg16_cifar`: one 512 → 10 classifier) on CIFAR-10.

    python -m experiments.train --config=experiments/configs/vgg16_cifar10.py \
        --workdir=runs/vgg16_cifar10

A few steps on the embedded digits:

    python -m experiments.train --config=experiments/configs/vgg16_cifar10.py \
        --config.dataset=mnist5k --config.data.input_shape="(32, 32, 1)" \
        --config.batch_size=16 --config.num_steps=3 --workdir=/tmp/vgg16_cifar_smoke

Reference: Simonyan & Zisserman report no CIFAR result; this network and recipe are those of
kuangliu/pytorch-cifar, which lists 92.64% test accuracy for it.

Recipe: SGD, momentum 0.9, weight decay 5e-4, batch 128, learning rate 0.1 for 150 epochs, 0.01
for 100, 0.001 for 100 (350 in all); random crops of the image padded by 4 and horizontal flips.
"""

from cnnjax.train.config import get_base_config


def get_config():
    config = get_base_config()
    config.model = "vgg16_cifar"
    config.dataset = "cifar10"
    config.augment = "pad_crop(4)|flip_lr"
    config.batch_size = 128
    config.num_epochs = 350
    config.optimizer = "momentum"
    config.optim.momentum = 0.9
    config.learning_rate = 0.1
    config.optim.weight_decay = 5e-4
    config.schedule.name = "piecewise"
    config.schedule.boundaries = (150, 250)
    config.schedule.scales = (0.1, 0.1)
    config.schedule.boundaries_unit = "epochs"
    return config
