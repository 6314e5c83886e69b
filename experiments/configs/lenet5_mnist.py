"""LeNet-5 as in LeCun et al. (1998) on MNIST: 32x32 inputs (the 28x28 digits padded), scaled
tanh, trainable subsampling, C3's partial connection table.

    python -m experiments.train --config=experiments/configs/lenet5_mnist.py \
        --workdir=runs/lenet5_mnist

A few steps on the embedded digits (no download):

    python -m experiments.train --config=experiments/configs/lenet5_mnist.py \
        --config.dataset=mnist5k --config.num_steps=20 --workdir=/tmp/lenet5_smoke

Paper: 0.95% test error without distortions (0.8% with them), after 20 passes over the 60,000
training digits (§III-C, Figure 14).

Recipe: the paper's network, initialisation (uniform in ±2.4/F_i, F_i the fan-in; Appendix A, in
`cnnjax/models/lenet.py`) and input scaling (background -0.1, ink 1.175, so that the mean is about 0
and the variance about 1; §III-A, `config.data.input_range`); 20 epochs with the paper's global
learning-rate schedule (1: 0.4: 0.2: 0.1: 0.02 after 2, 5, 8 and 12 passes), here from 1e-3 for Adam
on mini-batches of 32. Differences from the paper: it trains online (batch 1) with stochastic
diagonal Levenberg-Marquardt, a per-parameter step size from a Gauss-Newton estimate of the
curvature; Adam's per-parameter step size from gradient moments is the closest optax optimizer. Its
output layer is 10 Euclidean RBF units with fixed 7x12-bitmap centres and a MAP-style loss; this has
a trainable dense layer and softmax cross-entropy. Tuning split: the last 10,000 of the 60,000
training digits, trained on the first 50,000 (the paper trains on all 60,000):

    python -m experiments.train --config=experiments/configs/lenet5_mnist.py \
        --config.dataset='idx:<dir>?validation=10000' --workdir=runs/lenet5_mnist

Reached here (2-core CPU shared with ~6 other jobs, load 8-18): 98.66% validation accuracy
(1.34% error) at epoch 12, 98.61% at epoch 15 (of 20; the run was stopped there, the rate being
0.02x from epoch 12 and the accuracy flat since epoch 10), 1,033 s of training for 15 epochs.
This is *short of the paper's 99.05%*: the training digits are fitted exactly (training accuracy
100%, loss 0.002, from epoch ~10), i.e. the network over-fits where the paper's (training error
0.35%) did not. SGD with momentum 0.9 from 0.05 (the previous recipe) stood at 96.6% after 2
epochs, behind Adam's 97.9%, and the issue's measurement of it on the test set was 98.65%.
"""

from cnnjax.train.config import get_base_config


def get_config():
    config = get_base_config()
    config.model = "lenet5_classic"
    config.dataset = "mnist"
    config.data.input_shape = (32, 32, 1)
    config.data.resize = "pad"
    config.data.input_range = (-0.1, 1.175)  # background, ink: LeCun et al. 1998 §III-A
    config.batch_size = 32
    config.num_epochs = 20
    config.optimizer = "adam"
    config.learning_rate = 1e-3
    config.schedule.name = "piecewise"
    config.schedule.boundaries = (2, 5, 8, 12)
    config.schedule.scales = (0.4, 0.5, 0.5, 0.2)
    config.schedule.boundaries_unit = "epochs"
    return config
