"""ResNet-50 (He et al., 2016) on ImageNet ILSVRC-2012, in torchvision's layout.

    python -m experiments.train --config=experiments/configs/resnet50_imagenet.py \
        --workdir=runs/resnet50_imagenet

A few steps on the embedded digits, at the smallest input ResNet takes:

    python -m experiments.train --config=experiments/configs/resnet50_imagenet.py \
        --config.dataset=mnist5k --config.data.input_shape="(32, 32, 3)" --config.augment=flip_lr \
        --config.batch_size=16 --config.num_steps=3 --workdir=/tmp/resnet50_smoke

Paper: 22.85% top-1 / 6.71% top-5 validation error with 10-crop testing (Table 3). The
torchvision reference training of this layout (stride in the 3x3 convolutions) with this
recipe reaches 76.13% top-1 with a single centre crop.

Recipe (§3.4): SGD, momentum 0.9, weight decay 1e-4, batch 256, learning rate 0.1 divided by
10 when the error plateaus (here at epochs 30 and 60, the torchvision schedule), 90 epochs
(the paper: 600K iterations, about 120 epochs); random-resized crops and horizontal flips
(the paper: scale augmentation with the shorter side in [256, 480], 224 crops, colour noise).
"""

from cnnjax.train.config import get_base_config


def get_config():
    config = get_base_config()
    config.model = "resnet50"
    config.dataset = "imagenet2012?size=256"
    config.data.input_shape = (224, 224, 3)
    config.augment = "inception_crop|flip_lr"
    config.batch_size = 256
    config.num_epochs = 90
    config.optimizer = "momentum"
    config.optim.momentum = 0.9
    config.learning_rate = 0.1
    config.optim.weight_decay = 1e-4
    config.schedule.name = "piecewise"
    config.schedule.boundaries = (30, 60)
    config.schedule.scales = (0.1, 0.1)
    config.schedule.boundaries_unit = "epochs"
    return config
