"""GoogLeNet (Szegedy et al., 2015, "Going deeper with convolutions") on ImageNet ILSVRC-2012.

    python -m experiments.train --config=experiments/configs/googlenet_imagenet.py \
        --workdir=runs/googlenet_imagenet

A few steps on the embedded digits, at the smallest input GoogLeNet takes with its auxiliary
classifiers:

    python -m experiments.train --config=experiments/configs/googlenet_imagenet.py \
        --config.dataset=mnist5k --config.data.input_shape="(65, 65, 3)" --config.augment=flip_lr \
        --config.batch_size=16 --config.num_steps=3 --workdir=/tmp/googlenet_smoke

Paper: 10.07% top-5 validation error for one model evaluated on one crop (Table 5); 6.67% for
the 7-model, 144-crop ensemble that won ILSVRC 2014.

Recipe (§6): SGD with momentum 0.9, the learning rate decreased by 4% every 8 epochs (here a
smooth exponential decay), the two auxiliary losses weighted 0.3 (the model's
`aux_loss_weight`), dropout 0.4 before the classifier and 0.7 in the auxiliary heads;
random-resized crops of 8%-100% of the image area with aspect ratios in [3/4, 4/3] and
photometric distortions. The paper trains asynchronously on many machines and gives no batch
size, base learning rate or length: batch 256, learning rate 0.04 (half the linear scaling of
Caffe's bvlc_googlenet, 0.01 at batch 32), weight decay 2e-4 (bvlc_googlenet) and 90 epochs are
our choices.
"""

from cnnjax.train.config import get_base_config


def get_config():
    config = get_base_config()
    config.model = "googlenet"
    config.dataset = "imagenet2012?size=256"
    config.data.input_shape = (224, 224, 3)
    config.augment = "inception_crop(0.08, 1.0)|flip_lr|brightness(0.125)|contrast(0.5, 1.5)"
    config.batch_size = 256
    config.num_epochs = 90
    config.optimizer = "momentum"
    config.optim.momentum = 0.9
    config.learning_rate = 0.04
    config.optim.weight_decay = 2e-4
    config.schedule.name = "exponential"
    config.schedule.decay_rate = 0.96
    config.schedule.decay_epochs = 8.0
    return config
