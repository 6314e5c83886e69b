"""Helpers of the training-engine tests (tests/train is on sys.path: `import train_helpers`)."""


def override(config, overrides: dict):
    """Sets each `key: value` of `overrides` in `config`; a key may be dotted (`optim.momentum`),
    a group's value a dict of some of its keys (`checkpoint={"keep": 10}`)."""
    for path, value in overrides.items():
        *groups, key = path.split(".")
        target = config
        for group in groups:
            target = target[group]
        if isinstance(value, dict) and key in target:
            target[key].update(value)
        else:
            target[key] = value
    return config


def make_tiny_config(**overrides):
    """LeNet-5 on MNIST-5k: 8 steps of 32, checkpoints at 4 and 8, no pictures, no bar.

    Keys may be dotted (`make_tiny_config(**{"optim.momentum": 0.0})`) or groups given as dicts.
    """
    from experiments.configs import quickstart

    config = quickstart.get_config()
    config.update(num_steps=8, batch_size=32)
    config.checkpoint.every_steps = 4
    config.log.update(every_steps=4, write_pictures=False, progress_bar=False)
    return override(config, overrides)
