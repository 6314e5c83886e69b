"""LeNet-5 as in LeCun et al. (1998) on MNIST: 32x32 inputs (the 28x28 digits padded), scaled
tanh, trainable subsampling, C3's partial connection table.

    python -m experiments.train --config=experiments/configs/lenet5_mnist.py \
        --workdir=runs/lenet5_mnist

A few steps on the embedded digits (no download):

    python -m experiments.train --config=experiments/configs/lenet5_mnist.py \
        --config.dataset=mnist5k --config.num_steps=20 --workdir=/tmp/lenet5_smoke

Paper: 0.95% test error without distortions (0.8% with them), after 20 passes over the 60,000
training digits (§III-B, Fig. 5 and 9).

What is the paper's here (`cnnjax/models/lenet.py`, unchanged): the network (§II-B: C1-S2-C3-S4-
C5-F6, C3's connection table, Table I), the squashing function 1.7159 tanh(2a/3) and the
initialisation uniform in ±2.4/F_i, F_i the unit's fan-in (Appendix A), trainable subsampling
(sum of each 2x2 window times a trainable coefficient plus a bias); the input scaling, background
-0.1 and ink 1.175 so that the mean is about 0 and the variance about 1 (§II-B,
`config.input_range`; the 2-pixel border to 32x32 is background too); 20 passes; the global
learning-rate schedule's ratios 1 : 0.4 : 0.2 : 0.1 : 0.02 after 2, 5, 8 and 12 passes (§III-B).
Where cnnjax differs: the paper trains online (batch 1) with stochastic diagonal Levenberg-
Marquardt (Appendix C: a per-parameter step η / (μ + h_kk) from a running Gauss-Newton estimate of
the curvature); here Adam's per-parameter step from gradient moments, the closest optax
optimizer, on mini-batches of 32. The paper's output layer is 10 Euclidean RBF units with fixed
7x12-bitmap centres and a MAP-style loss, which bound what the output can say; here a trainable
dense layer and softmax cross-entropy, so the regularisation below stands in for that bound.

Recipe (optax): `adamw` (Loshchilov & Hutter 2019) from 1e-3 with the paper's schedule above,
decoupled weight decay 0.05 on the weights only (kernels, C3's connections; not the biases nor the
subsampling coefficients: `optim.decay_mask`), label smoothing 0.1, parameters evaluated as their
EMA (decay 0.999, ~0.6 epoch), batch 32. No distortions. Tuning split: the last 10,000 of the
60,000 training digits, trained on the first 50,000 (the paper trains on all 60,000):

    python -m experiments.train --config=experiments/configs/lenet5_mnist.py \
        --config.dataset='idx:<dir>?validation=10000' --workdir=runs/lenet5_mnist

Reached here (2-core CPU shared with other jobs, load average 2 → 12 during the run), validation
accuracy per epoch 1-14: 95.91, 98.05, 98.39, 98.62, 98.81, 98.83, 98.86, 98.90, 98.90, 98.91,
98.93, 98.94, 98.96, **98.96%** (1.04% error; the run was stopped after epoch 14 of 20, the rate
being 0.02x from epoch 12 and the accuracy moving by 0.01 per epoch); 485 s wall for the 14
epochs (~32 s each, data preparation included). *Still short of the paper's 99.05%*, by 0.09
points. The previous recipe (Adam 1e-3, no decay, no smoothing, no EMA) reached 98.66% and
fitted the training digits exactly (training loss 0.002) from epoch ~10; this one stays at
99.6-99.8% training accuracy. Every trial and its numbers: the issue-15 tuning note.
"""

from experiments.configs import common


def get_config():
    config = common.get_base_config()
    config.model = "lenet5_classic"
    config.dataset = "mnist"
    config.input_shape = (32, 32, 1)
    config.resize = "pad"
    config.input_range = (-0.1, 1.175)  # background, ink: LeCun et al. 1998 §II-B
    config.batch_size = 32
    config.num_epochs = 20
    config.optimizer = "adamw"
    config.learning_rate = 1e-3
    config.weight_decay = 0.05  # decoupled, on kernels only (optim.decay_mask)
    config.label_smoothing = 0.1
    config.ema_decay = 0.999
    config.schedule = "piecewise"
    config.lr_boundaries = (2, 5, 8, 12)
    config.lr_scales = (0.4, 0.5, 0.5, 0.2)
    config.lr_boundaries_unit = "epochs"
    return config
