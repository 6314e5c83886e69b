"""VGG-16, configuration D of Simonyan & Zisserman (2015), on ImageNet ILSVRC-2012.

    python -m experiments.train --config=experiments/configs/vgg16_imagenet.py \
        --workdir=runs/vgg16_imagenet

A few steps on the embedded digits, at the smallest input VGG takes:

    python -m experiments.train --config=experiments/configs/vgg16_imagenet.py \
        --config.dataset=mnist5k --config.data.input_shape="(32, 32, 3)" --config.augment=flip_lr \
        --config.batch_size=16 --config.num_steps=3 --workdir=/tmp/vgg16_smoke

Paper: 27.0% top-1 / 8.8% top-5 validation error for D trained and tested at the single scale
S = Q = 256 (Table 3; 25.6% / 8.1% with scale jittering S in [256, 512], Q = 384).

Recipe (§3.1): SGD, momentum 0.9, weight decay 5e-4, batch 256, learning rate 0.01 divided by 10
when the validation accuracy stopped improving (three times; here at epochs 30, 50 and 65),
74 epochs (370K iterations); random 224 crops of images rescaled to S = 256, horizontal flips,
RGB colour shift. Dropout 0.5 in fc6 and fc7 is part of the model. The paper initialises D from
a trained configuration A; here it starts from scratch.
"""

from cnnjax.train.config import get_base_config


def get_config():
    config = get_base_config()
    config.model = "vgg16"
    config.dataset = "imagenet2012?size=256"
    config.data.input_shape = (224, 224, 3)
    config.augment = "translate(16)|flip_lr|pca_lighting(0.1)"
    config.batch_size = 256
    config.num_epochs = 74
    config.optimizer = "momentum"
    config.optim.momentum = 0.9
    config.learning_rate = 0.01
    config.optim.weight_decay = 5e-4
    config.schedule.name = "piecewise"
    config.schedule.boundaries = (30, 50, 65)
    config.schedule.scales = (0.1, 0.1, 0.1)
    config.schedule.boundaries_unit = "epochs"
    return config
