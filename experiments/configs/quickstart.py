"""Quick start: modern LeNet-5 on the embedded real MNIST-5k digits.

python -m experiments.train --config=experiments/configs/quickstart.py --workdir=runs/quickstart
"""

from experiments.configs import common


def get_config():
    config = common.get_base_config()
    config.model = "lenet5"
    config.dataset = "mnist5k"
    return config
