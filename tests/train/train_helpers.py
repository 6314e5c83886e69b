"""Helpers of the training-engine tests (tests/train is on sys.path: `import train_helpers`)."""


def make_tiny_config(**overrides):
    """LeNet-5 on MNIST-5k: 8 steps of 32, checkpoints at 4 and 8, no pictures, no bar."""
    from experiments.configs import quickstart

    config = quickstart.get_config()
    config.update(
        num_steps=8,
        batch_size=32,
        checkpoint_every_steps=4,
        log_every_steps=4,
        write_pictures=False,
        progress_bar=False,
    )
    config.update(overrides)
    return config
