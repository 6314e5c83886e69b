"""The base configuration every experiment config starts from.

Every key the engine reads is here with its default, so a misspelled `--config.key=...` fails at
the flag parser (ml_collections raises on unknown keys), and a config file that sets a key not
listed here fails in `train_and_evaluate`, before anything is compiled. `docs/training.md`
describes every key.
"""

import ml_collections


def get_base_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.seed = 0

    # Model: a name from `cnnjax.models.list_models()` plus field overrides.
    config.model = "lenet5"
    config.model_kwargs = ml_collections.ConfigDict()
    config.dtype = "float32"  # compute dtype: float32 | bfloat16 | float16 (params stay float32)
    config.loss_scale = "auto"  # auto (dynamic for float16) | dynamic | none

    # Data: a dataset spec (see `cnnjax.data.list_datasets()`), where prepared data lives.
    config.dataset = "mnist5k"
    config.data_dir = ""  # empty: $CNNJAX_DATA_DIR or ~/.cache/cnnjax/datasets
    config.train_split = ""  # empty: the dataset's training split
    config.eval_split = ""  # empty: the dataset's held-out split
    config.input_shape = ()  # (H, W, C) fed to the model; empty: the model's registered shape
    config.resize = "auto"  # how images are fitted to input_shape: auto | pad | crop | resize
    config.input_range = ()  # (low, high): pixel 0 → low, 255 → high instead of mean/std
    config.augment = ""  # e.g. "pad_crop(4)|flip_lr|rotate(10)"
    config.worker_count = 0
    config.prefetch_batches = 2  # batches placed on devices ahead of the step (0 or 1: none)

    # Optimisation.
    config.batch_size = 128  # global batch per train step, over all devices and processes
    config.eval_batch_size = 500  # rounded up to a multiple of the device count (padded)
    config.num_epochs = 10
    config.num_steps = -1  # > 0 overrides num_epochs
    config.optimizer = "adam"  # sgd | momentum | nesterov | adam | adamw | rmsprop | lamb
    config.learning_rate = 1e-3
    config.momentum = 0.9  # momentum / nesterov / rmsprop (0: none)
    config.beta1 = 0.9
    config.beta2 = 0.999
    config.eps = 1e-8
    config.rmsprop_decay = 0.9
    config.weight_decay = 0.0  # masked off biases and norm scales (ndim <= 1)
    config.grad_clip_norm = 0.0  # > 0: clip gradients to this global norm
    # constant | piecewise | cosine | warmup_cosine | onecycle | exponential
    config.schedule = "cosine"
    config.warmup_epochs = 0.0
    config.lr_boundaries = ()  # piecewise: boundaries, in lr_boundaries_unit
    config.lr_scales = ()  # piecewise: lr multiplier at each boundary
    config.lr_boundaries_unit = "epochs"  # epochs | steps (optimizer updates)
    config.lr_end_factor = 0.0  # cosine / warmup_cosine: final lr = factor * learning_rate
    config.lr_decay_rate = 0.1  # exponential: lr * rate ** (epoch / lr_decay_epochs)
    config.lr_decay_epochs = 30.0
    config.onecycle_pct_start = 0.3
    config.onecycle_div_factor = 25.0
    config.onecycle_final_div_factor = 1e4
    config.label_smoothing = 0.0
    config.accumulate_steps = 1  # > 1: one optimizer update every k train steps (optax.MultiSteps)
    config.ema_decay = 0.0  # > 0: evaluate an EMA of the parameters with this decay
    config.nan_policy = "stop"  # stop | skip: what a non-finite loss or gradient does

    # Engine.
    config.parallel = "jit"  # jit | pmap
    config.shard_params = False  # jit: split large params / optimizer state over devices (FSDP)
    config.shard_min_size = 2**18  # arrays with fewer elements stay replicated

    # Multi-host (docs/multi_host.md): unset values come from $JAX_COORDINATOR_ADDRESS,
    # $JAX_NUM_PROCESSES, $JAX_PROCESS_ID or SLURM / Open MPI / Kubernetes; none: one process.
    config.coordinator_address = ""  # host:port of process 0
    config.num_processes = 0  # 0: unset; 1: single process
    config.process_id = -1  # -1: unset
    config.initialization_timeout = 300  # seconds to wait for the coordinator and all processes
    config.peer_timeout = 60.0  # seconds without a sign of life before a process counts as lost

    # Logging and checkpoints.
    config.log_every_steps = 50
    config.eval_every_epochs = 1
    config.checkpoint_every_steps = 0  # 0: only at the end of each epoch
    config.keep_checkpoints = 3  # the newest ones
    config.keep_best_checkpoints = 1  # plus the best ones by best_metric (0: none)
    config.best_metric = "accuracy"  # an eval metric: accuracy | top5_accuracy | loss
    config.best_mode = "max"  # max | min
    config.async_checkpoints = True
    config.progress_bar = True  # a tqdm bar on a terminal; periodic lines otherwise
    config.write_pictures = True
    config.checkpoint_every_minutes = 0.0  # > 0: also save when this much time passed (0: off)

    # Transfer learning (docs/training.md, "Transfer learning"): the survey's three cases.
    config.transfer = ml_collections.ConfigDict()
    config.transfer.mode = ""  # "" (none) | bottleneck | finetune_top | finetune_all
    config.transfer.init_from = ""  # a cnnjax workdir, a checkpoint step dir, or a pretrained name
    config.transfer.freeze = ""  # regex on parameter paths (e.g. "conv1|conv2") to keep fixed
    config.transfer.train_last = 2  # finetune_top without freeze: modules trained before the head
    config.transfer.head = ""  # regex of the re-initialised head; empty: the model's last module
    config.transfer.layer = "pre_logits"  # bottleneck: a name from cnnjax.models.intermediates
    config.transfer.pool = "flatten"  # bottleneck: flatten | avg (global average of a map)
    config.transfer.hidden = 0  # bottleneck: 0 = linear classifier, > 0 = MLP hidden units
    config.transfer.backbone_lr = 0.1  # learning-rate multiplier of the trainable backbone
    config.transfer.head_lr = 1.0  # learning-rate multiplier of the head
    config.transfer.feature_cache = ""  # bottleneck cache dir; empty: <data dir>/bottleneck
    config.transfer.feature_batch_size = 256  # images per feature-extraction batch
    return config
