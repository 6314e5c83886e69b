"""Modern LeNet-5 (two conv + max-pool layers, 61,706 parameters) on Fashion-MNIST, full size.

    python -m experiments.train --config=experiments/configs/lenet5_fashion_mnist.py \
        --workdir=runs/lenet5_fashion_mnist

The default dataset is `idx:/usr/share/datasets/fashion-mnist`, where Debian's
`dataset-fashion-mnist` package puts the four IDX files (train-* and t10k-*: 60,000 training and
10,000 test images); point `--config.dataset=idx:<dir>` elsewhere for another copy. A few steps on
the embedded digits (no download):

    python -m experiments.train --config=experiments/configs/lenet5_fashion_mnist.py \
        --config.dataset=mnist5k --config.num_steps=20 --workdir=/tmp/lenet5_fashion_smoke

Reference: the Fashion-MNIST benchmark table (Xiao et al. 2017, arXiv:1708.07747;
github.com/zalandoresearch/fashion-mnist): "2 Conv+pooling" 87.6% and 91.6% test accuracy, "2 Conv
<100K parameters" 92.5%, ResNet18 94.9%, WRN-28-10 95.9%.

Recipe: 10 epochs of 468 steps (batch 128), Adam 3e-3 with the one-cycle schedule, label
smoothing 0.1, augmentation `pad_crop(2, 'edge')|flip_lr` (2-pixel random shifts, mirrored
garments), inputs normalised with the training set's mean/std. The epoch count is sized to a
15-minute budget on the loaded 2-core machine this was measured on; the network is the
benchmark's "2 Conv+pooling" class, not a ResNet (a CIFAR ResNet-20 at 28x28 did not finish 60
steps in 10 minutes there).

Reached here (2-core CPU shared with ~6 other jobs, load average 24-37): **90.20% test accuracy**
(epochs 1-10: 77.95, 83.80, 85.83, 86.58, 87.81, 88.83, 89.19, 89.47, 90.15, 90.20%), 964 s of
training (just over the 15 minutes; `--config.num_epochs=5` gave 88.58% in 546 s). That is 1.4
points under the 91.6% "2 Conv+pooling" anchor and 4.7 under ResNet18's 94.9%.
"""

from cnnjax.train.config import get_base_config


def get_config():
    config = get_base_config()
    config.model = "lenet5"
    config.dataset = "idx:/usr/share/datasets/fashion-mnist"
    config.num_epochs = 10
    config.batch_size = 128
    config.optimizer = "adam"
    config.learning_rate = 3e-3
    config.schedule.name = "onecycle"
    config.augment = "pad_crop(2, 'edge')|flip_lr"
    config.label_smoothing = 0.1
    config.log.write_pictures = False
    return config
