"""The base configuration every experiment config starts from.

Every key the engine reads is here with its default, so a misspelled `--config.key=...` fails at
the flag parser (ml_collections raises on unknown keys) before anything is compiled.
"""

import ml_collections


def get_base_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0

    # Model: a name from `cnnjax.models.list_models()` plus field overrides.
    config.model = "lenet5"
    config.model_kwargs = ml_collections.ConfigDict()
    config.dtype = "float32"  # compute dtype: float32 | bfloat16 | float16

    # Data: a dataset spec (see `cnnjax.data.list_datasets()`), where prepared data lives.
    config.dataset = "mnist5k"
    config.data_dir = ""  # empty: $CNNJAX_DATA_DIR or ~/.cache/cnnjax/datasets
    config.input_shape = ()  # (H, W, C) fed to the model; empty: the dataset's image shape
    config.augment = ""  # e.g. "pad_crop(4)|flip_lr|rotate(10)"
    config.worker_count = 0

    # Optimisation.
    config.batch_size = 128  # global batch, over all devices and processes
    config.eval_batch_size = 500
    config.num_epochs = 10
    config.num_steps = -1  # > 0 overrides num_epochs
    config.optimizer = "adam"
    config.learning_rate = 1e-3
    config.momentum = 0.9
    config.weight_decay = 0.0
    config.schedule = "cosine"
    config.warmup_epochs = 0.0
    config.label_smoothing = 0.0

    # Engine.
    config.parallel = "jit"  # jit | pmap

    # Logging and checkpoints.
    config.log_every_steps = 50
    config.eval_every_epochs = 1
    config.checkpoint_every_steps = 0  # 0: only at the end of each epoch
    config.keep_checkpoints = 3
    config.write_pictures = True
    return config
