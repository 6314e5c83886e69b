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
`config.data.input_range`; the 2-pixel border to 32x32 is background too); 20 passes; no
distortions.
Where cnnjax differs: the paper trains online (batch 1) with stochastic diagonal Levenberg-
Marquardt (Appendix C: a per-parameter step η / (μ + h_kk) from a running Gauss-Newton estimate of
the curvature); here Adam's per-parameter step from gradient moments, the closest optax
optimizer, on mini-batches of 32. The paper's output layer is 10 Euclidean RBF units with fixed
7x12-bitmap centres and a MAP-style loss, which bound what the output can say; here a trainable
dense layer and softmax cross-entropy, so the regularisation below stands in for that bound. The
paper's global learning-rate schedule (ratios 1 : 0.4 : 0.2 : 0.1 : 0.02 after 2, 5, 8 and 12
passes, §III-B) is kept in the config, one flag away (`--config.schedule.name=piecewise`); with it
this recipe levelled off at 98.96%, with a cosine decay it reached the number below.

Recipe (optax): `adamw` (Loshchilov & Hutter 2019) from 1e-3 with a cosine decay to 0 over the 20
epochs (Loshchilov & Hutter 2017), decoupled weight decay 0.05 on the weights only (kernels, C3's
connections; not the biases nor the subsampling coefficients: `optim.decay_mask`), label smoothing
0.1, parameters evaluated as their EMA (decay 0.999, ~0.6 epoch), batch 32. Tuning split: the
last 10,000 of the 60,000 training digits, trained on the first 50,000 (the paper trains on all
60,000):

    python -m experiments.train --config=experiments/configs/lenet5_mnist.py \
        --config.dataset='idx:<dir>?validation=10000' --workdir=runs/lenet5_mnist

Reached here (2-core CPU shared with other jobs, load average 6-8), validation accuracy per
epoch 1-20: 95.91, 98.05, 98.53, 98.76, 98.89, 98.91, 99.05, 98.96, 98.97, 99.08, 99.10, 99.03,
99.07, 99.05, 99.04, 99.05, 99.04, 99.05, 99.02, **99.04%**: 0.96% error (96 of 10,000; the
paper's 0.95% would be 95), trained on 50,000 digits where the paper had 60,000, so *one digit
short* of the target on this split. 483.7 s of training (505 s wall with data preparation,
311 s of CPU time; ~24 s per epoch at that load). With weight decay 0.1 instead: 99.03% (best
99.15% at epoch 10). With the paper's steps: 98.96% (AdamW), 98.98% (SGD, momentum 0.9 from
0.05). Plain Adam with the paper's steps (the previous recipe): 98.66%, having fitted the
training digits exactly by epoch ~10; this recipe stays at 99.6-99.8% training accuracy, the
paper's 0.35% training error. Every trial and its numbers: the issue-15 tuning note.
"""

from cnnjax.train.config import get_base_config


def get_config():
    config = get_base_config()
    config.model = "lenet5_classic"
    config.model_kwargs.output = "dense"  # the paper's fixed RBF codes: "rbf"
    config.model_kwargs.rbf_j = 10.0  # eq. 9's constant j (used with output="rbf" only)
    config.dataset = "mnist"
    config.data.input_shape = (32, 32, 1)
    config.data.resize = "pad"
    config.data.input_range = (-0.1, 1.175)  # background, ink: LeCun et al. 1998 §II-B
    config.batch_size = 32
    config.num_epochs = 20
    config.optimizer = "adamw"
    config.learning_rate = 1e-3
    config.optim.weight_decay = 0.05  # decoupled, on kernels only (optim.decay_mask)
    config.label_smoothing = 0.1
    config.optim.ema_decay = 0.999
    config.schedule.name = "cosine"  # the paper's steps: --config.schedule.name=piecewise
    config.schedule.boundaries = (2, 5, 8, 12)
    config.schedule.scales = (0.4, 0.5, 0.5, 0.2)
    config.schedule.boundaries_unit = "epochs"
    return config
