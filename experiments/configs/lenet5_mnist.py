"""LeNet-5 as in LeCun et al. (1998) on MNIST: 32x32 inputs (the 28x28 digits padded), scaled
tanh, trainable subsampling, C3's partial connection table.

    python -m experiments.train --config=experiments/configs/lenet5_mnist.py \
        --workdir=runs/lenet5_mnist

A few steps on the embedded digits (no download):

    python -m experiments.train --config=experiments/configs/lenet5_mnist.py \
        --config.dataset=mnist5k --config.num_steps=20 --workdir=/tmp/lenet5_smoke

Paper: 0.95% test error without distortions (0.8% with them), after 20 passes over the 60,000
training digits (§III-B, Fig. 5 and 9).

What is the paper's here (`cnnjax/models/lenet.py`): the network (§II-B: C1-S2-C3-S4-C5-F6,
C3's connection table, Table I), the squashing function 1.7159 tanh(2a/3) and the initialisation
uniform in ±2.4/F_i, F_i the unit's fan-in (Appendix A), trainable subsampling (sum of each 2x2
window times a trainable coefficient plus a bias); the input scaling, background -0.1 and ink
1.175 so that the mean is about 0 and the variance about 1 (§II-B, `config.data.input_range`; the
2-pixel border to 32x32 is background too); 20 passes; no distortions.
Where cnnjax differs: the paper trains online (batch 1) with stochastic diagonal Levenberg-
Marquardt (Appendix C: a per-parameter step η / (μ + h_kk) from a running Gauss-Newton estimate of
the curvature); here Adam's per-parameter step from gradient moments, the closest optax
optimizer, on mini-batches of 8 (the smallest tried; seed 1, label smoothing 0.2: batch 32
98.94%, 16 99.03%, 8 99.13%). The
paper's global learning-rate schedule (ratios 1 : 0.4 : 0.2 : 0.1 : 0.02 after 2, 5, 8 and 12
passes, §III-B) is kept one flag away (`--config.schedule.name=piecewise`); with it the batch-32
recipe levelled off at 98.96%, with a cosine decay it did better. The paper's output layer, 10
Euclidean RBF units with fixed ±1 7x12-bitmap codes trained on the MAP criterion of eq. 9, is
`--config.model_kwargs.output=rbf` (codes: our own drawing of the digits; `rbf_j` is eq. 9's j).
It reached 99.02% (batch 32, j = 10, no label smoothing; j = 3: 98.98%; without the e^{-j} term
it trained to only ~97%), no better than the dense head, so the default output is a trainable
dense layer with softmax cross-entropy, label smoothing standing in for the fixed codes' bound.

Recipe (optax): `adamw` (Loshchilov & Hutter 2019) from 1e-3 with a cosine decay to 0 over the 20
epochs (Loshchilov & Hutter 2017), batch 8, decoupled weight decay 0.05 on the weights only
(kernels, C3's connections; not the biases nor the subsampling coefficients: `optim.decay_mask`),
label smoothing 0.2, parameters evaluated as their EMA (decay 0.999, ~0.16 epoch). Tuning split:
the last 10,000 of the 60,000 training digits, trained on the first 50,000 (the paper trains on
all 60,000):

    python -m experiments.train --config=experiments/configs/lenet5_mnist.py \
        --config.dataset='idx:<dir>?validation=10000' --workdir=runs/lenet5_mnist

Reached here (one CPU core, `taskset -c 0`, of a 2-core machine whose other core ran another
job: load average 1.8-3.1), validation accuracy per epoch 1-20: 97.94, 98.63, 98.79, 98.86,
98.86, 98.99, 98.99, 98.96, 99.02, 99.03, 99.07, 98.97, 99.06, 99.02, 99.13, 99.14, 99.05, 99.09,
99.08, **99.06%**: 0.94% error (94 of 10,000; the paper's 0.95% would be 95), trained on 50,000
digits where the paper had 60,000. 388.0 s of training (397 s wall with data preparation, 390 s
of CPU time). Seed 1 (`--config.seed=1`, other initial weights and batch order): **99.13%**
(87 errors; per epoch 97.78, 98.51, 98.66, 98.86, 98.89, 98.83, 98.90, 98.88, 98.92, 99.05,
99.13, 99.04, 99.06, 99.10, 99.13, 99.05, 99.13, 99.11, 99.12, 99.13), 391.7 s. Seed 2:
**99.13%** (per epoch 97.97, 98.46, 98.61, 98.71, 98.82, 98.98, 99.01, 98.95, 99.01, 99.08,
99.09, 99.04, 99.11, 99.06, 99.10, 99.10, 99.12, 99.13, 99.15, 99.13), 367.6 s. Three seeds:
99.06, 99.13, 99.13, mean 99.11% (0.89% error).
Seeds differ by ~0.1-0.2 here, as much as the recipe changes: batch 16 with label smoothing 0.1
reached 99.18% (seed 0) and 98.99% (seed 1); batch 32, label smoothing 0.1 (the previous recipe),
99.04% (seed 0); batch 32, label smoothing 0.2: 99.06% / 98.94%. Every trial and its numbers:
the issue-15 tuning notes (s3, s4).
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
    config.batch_size = 8  # closer to the paper's online training; 32 and 16 did worse
    config.num_epochs = 20
    config.optimizer = "adamw"
    config.learning_rate = 1e-3
    config.optim.weight_decay = 0.05  # decoupled, on kernels only (optim.decay_mask)
    config.label_smoothing = 0.2
    config.optim.ema_decay = 0.999
    config.schedule.name = "cosine"  # the paper's steps: --config.schedule.name=piecewise
    config.schedule.boundaries = (2, 5, 8, 12)
    config.schedule.scales = (0.4, 0.5, 0.5, 0.2)
    config.schedule.boundaries_unit = "epochs"
    return config
