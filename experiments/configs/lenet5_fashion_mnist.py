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

Recipe: 30 epochs of 468 steps (batch 128), Adam 3e-3 with the one-cycle schedule, label
smoothing 0.1, augmentation `pad_crop(2, 'edge')|flip_lr` (2-pixel random shifts, mirrored
garments), inputs normalised with the training set's mean/std. The epoch count fills the
15-minute budget on the 2-core machine with room to spare; the network is the benchmark's
"2 Conv+pooling" class, not a ResNet (a CIFAR ResNet-20 at 28x28 did not finish 60 steps in 10
minutes on the loaded machine).

Reached here (2-core CPU shared with two other jobs, load average 4-5): **91.26% test accuracy**
after 30 epochs (epochs 1-30: 75.73, 80.99, 83.11, 83.76, 85.98, 86.73, 87.62, 87.65, 87.36,
88.56, 88.55, 88.82, 89.58, 89.36, 89.57, 89.48, 89.93, 90.28, 90.19, 90.54, 90.49, 91.04, 90.82,
90.74, 91.22, 91.21, 91.15, 91.26, 91.28, 91.26%), 528.3 s of training (545 s wall, 403 s of CPU
time). The same recipe with 10 epochs: 90.28% in 158.8 s (load 4-5; 90.20% in 964 s at load
24-37 earlier). Only these two epoch counts were run on the test set (no other tuning on it).
That is 0.3 points under the 91.6% "2 Conv+pooling" anchor and 3.6 under ResNet18's 94.9%.
"""

from cnnjax.train.config import get_base_config


def get_config():
    config = get_base_config()
    config.model = "lenet5"
    config.dataset = "idx:/usr/share/datasets/fashion-mnist"
    config.num_epochs = 30
    config.batch_size = 128
    config.optimizer = "adam"
    config.learning_rate = 3e-3
    config.schedule.name = "onecycle"
    config.augment = "pad_crop(2, 'edge')|flip_lr"
    config.label_smoothing = 0.1
    config.log.write_pictures = False
    return config
