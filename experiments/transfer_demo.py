"""Scratch vs the survey's three transfer cases, for a few labelled examples per class.

Demonstration 1 (MNIST-5k: pre-train on digits 0-4, transfer to 5-9; ~20 min on 2 busy cores):

    python -m experiments.transfer_demo --workdir=runs/transfer_demo

Demonstration 2 (an ImageNet network to Fashion-MNIST at 64x64; on 2 CPU cores the
EfficientNet forward passes dominate: feature extraction of the 10,000 test images once):

    python -m experiments.transfer_demo --workdir=runs/transfer_fashion \
        --source=efficientnet_lite0 --dataset=idx:/usr/share/datasets/fashion-mnist \
        --per_class=10,100,1000 --input_size=64 --modes=bottleneck,scratch --steps=300

Its fine-tuning rows (each step a forward and backward pass of EfficientNet, 300 steps,
evaluated once at the end; 118-535 s a cell on 2 cores, one --per_class value at a time):

    python -m experiments.transfer_demo --workdir=runs/transfer_fashion_ft \
        --source=efficientnet_lite0 --dataset=idx:/usr/share/datasets/fashion-mnist \
        --per_class=100 --input_size=64 --modes=finetune_top,finetune_all --steps=300 \
        --eval_every_epochs=1000

For each `per_class` it trains LeNet-5 from scratch and each transfer mode for the same number
of steps with `experiments/configs/quickstart.py`'s recipe, on `<dataset>?per_class=N`, and
evaluates on the whole held-out split. Every run is an ordinary workdir under `--workdir`
(resumable, with checkpoints, metrics and pictures); a table of accuracy and seconds goes to
stdout and `<workdir>/results.md`.
"""

import os
import time

from absl import app, flags, logging

from cnnjax.train import train_and_evaluate
from experiments.configs import quickstart

_WORKDIR = flags.DEFINE_string("workdir", "runs/transfer_demo", "Where the runs go.")
_SOURCE = flags.DEFINE_string(
    "source", "", "A pretrained name or cnnjax workdir; empty: pre-train LeNet-5 on digits 0-4."
)
_DATASET = flags.DEFINE_string("dataset", "mnist5k?classes=5-9", "The target dataset spec.")
_PER_CLASS = flags.DEFINE_list("per_class", ["10", "100"], "Labelled examples per class.")
_MODES = flags.DEFINE_list(
    "modes", ["scratch", "bottleneck", "finetune_top", "finetune_all"], "What to compare."
)
_STEPS = flags.DEFINE_integer("steps", 300, "Train steps of every transfer run.")
_BATCH = flags.DEFINE_integer("batch_size", 32, "Batch size (capped at the training set).")
_INPUT_SIZE = flags.DEFINE_integer("input_size", 0, "Pretrained networks' input side (0: 224).")
_LAYER = flags.DEFINE_string("layer", "pre_logits", "Bottleneck layer.")
_TRAIN_LAST = flags.DEFINE_integer(
    "train_last", 2, "finetune_top: modules trained before the head."
)
_LR = flags.DEFINE_float("learning_rate", 3e-3, "Adam learning rate (cosine decay).")
_EVAL_EVERY = flags.DEFINE_integer(
    "eval_every_epochs", 1, "Evaluate every N epochs (the last step always evaluates)."
)
_EVAL_BATCH = flags.DEFINE_integer("eval_batch_size", 500, "Images per evaluation batch.")


def _config(dataset: str, steps: int, batch: int, **transfer):
    config = quickstart.get_config()
    config.update(
        dataset=dataset,
        num_steps=steps,
        batch_size=batch,
        learning_rate=_LR.value,
    )
    config.log.update(every_steps=max(steps // 10, 1), progress_bar=False)
    config.eval.update(every_epochs=_EVAL_EVERY.value, batch_size=_EVAL_BATCH.value)
    config.transfer.update(transfer)
    if transfer.get("mode") and _SOURCE.value and _INPUT_SIZE.value:
        config.data.input_shape = (_INPUT_SIZE.value, _INPUT_SIZE.value, 3)
    return config


def _pretrain(workdir: str) -> str:
    """LeNet-5 on digits 0-4 with the quick-start recipe (15 epochs)."""
    config = quickstart.get_config()
    config.dataset = "mnist5k?classes=0-4"
    config.log.progress_bar = False
    result = train_and_evaluate(config, workdir)
    print(f"pre-trained on digits 0-4: accuracy {result['accuracy']:.4f}", flush=True)
    return workdir


def _num_classes(spec: str) -> int:
    from cnnjax.data import load_dataset

    return load_dataset(spec).num_classes


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    root = os.path.abspath(_WORKDIR.value)
    source = _SOURCE.value or _pretrain(os.path.join(root, "pretrain_0-4"))
    rows = []
    for n in [int(v) for v in _PER_CLASS.value]:
        # repeat=: an "epoch" (evaluation and checkpoint) is about a third of the run.
        classes = _num_classes(_DATASET.value)
        repeat = max(1, round(_STEPS.value * _BATCH.value / (n * classes) / 3))
        query = f"per_class={n}&repeat={repeat}"
        dataset = f"{_DATASET.value}{'&' if '?' in _DATASET.value else '?'}{query}"
        for mode in _MODES.value:
            workdir = os.path.join(root, f"{mode}_{n}")
            steps = _STEPS.value
            transfer = {} if mode == "scratch" else {"mode": mode, "init_from": source}
            if mode == "bottleneck":
                transfer["layer"] = _LAYER.value
            if mode == "finetune_top":
                transfer["train_last"] = _TRAIN_LAST.value
            config = _config(dataset, steps, _BATCH.value, **transfer)
            start = time.time()
            result = train_and_evaluate(config, workdir)
            seconds = time.time() - start
            rows.append((n, mode, result["accuracy"], int(result["count"]), seconds))
            accuracy, count = result["accuracy"], int(result["count"])
            print(f"RESULT per_class={n} {mode}: {accuracy:.4f} of {count} in {seconds:.0f} s")
    table = [
        "| per class | mode | test accuracy | test images | seconds |",
        "|---|---|---|---|---|",
    ]
    table += [f"| {n} | {m} | {a:.4f} | {c} | {s:.0f} |" for n, m, a, c, s in rows]
    text = "\n".join(table)
    print(text)
    with open(os.path.join(root, "results.md"), "a") as f:
        f.write(f"source={source} dataset={_DATASET.value} steps={_STEPS.value}\n\n{text}\n\n")


if __name__ == "__main__":
    app.run(main)
