"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012) on ImageNet ILSVRC-2012.

    python -m experiments.train --config=experiments/configs/alexnet_imagenet.py \
        --workdir=runs/alexnet_imagenet

`imagenet2012` must be prepared with tfds in the data dir (see `cnnjax.data`). A few steps on
the embedded digits, at the smallest input AlexNet takes:

    python -m experiments.train --config=experiments/configs/alexnet_imagenet.py \
        --config.dataset=mnist5k --config.data.input_shape="(67, 67, 3)" --config.augment=flip_lr \
        --config.batch_size=16 --config.num_steps=3 --workdir=/tmp/alexnet_smoke

Paper: 40.7% top-1 / 18.2% top-5 error on the validation set for one CNN (Table 2; 37.5% /
17.0% on the test set with 10-patch averaging, Table 1).

Recipe (§5): SGD, momentum 0.9, weight decay 5e-4, batch 128, learning rate 0.01 divided by 10
three times when the validation error stopped improving (here at epochs 30, 60 and 80), about
90 epochs; images rescaled to 256, random crops and horizontal flips, PCA colour noise with
sigma 0.1 (§4.1). The random 224-of-256 crop is approximated by shifts of up to 16 pixels of the
centre 227 crop. Dropout 0.5 in fc6 and fc7 is part of the model.
"""

from cnnjax.train.config import get_base_config


def get_config():
    config = get_base_config()
    config.model = "alexnet"
    config.dataset = "imagenet2012?size=256"
    config.data.input_shape = (227, 227, 3)
    config.augment = "translate(16)|flip_lr|pca_lighting(0.1)"
    config.batch_size = 128
    config.num_epochs = 90
    config.optimizer = "momentum"
    config.optim.momentum = 0.9
    config.learning_rate = 0.01
    config.optim.weight_decay = 5e-4
    config.schedule.name = "piecewise"
    config.schedule.boundaries = (30, 60, 80)
    config.schedule.scales = (0.1, 0.1, 0.1)
    config.schedule.boundaries_unit = "epochs"
    return config
