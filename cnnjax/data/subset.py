"""Class subsets and few-shot training splits: the `classes=` and `per_class=` spec options.

`mnist5k?classes=5-9&per_class=10` keeps the digits 5-9 (relabelled 0-4, in the order given) in
every split and 10 training examples of each; the held-out split keeps all its examples of the
kept classes. The training examples are a seeded random draw (seed 0), so a spec always means
the same images, and the 10 of `per_class=10` are among the 100 of `per_class=100`.
`repeat=20` lists the training split 20 times over, so that an "epoch" of a few-shot set (the
engine evaluates and checkpoints at each epoch end) is more than one batch.
"""

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from cnnjax.data.sources import ArraySource, read_batch

SUBSET_OPTIONS = {"classes": str, "per_class": int, "repeat": int}


def parse_classes(text: str, num_classes: int) -> tuple[int, ...]:
    """`"5-9"` → (5, 6, 7, 8, 9); `"3,1,4"` → (3, 1, 4); raises ValueError naming bad values.

    Args:
      text: comma-separated labels or inclusive ranges `a-b`.
      num_classes: K of the dataset; every label must lie in [0, K).
    """
    labels: list[int] = []
    for part in text.split(","):
        lo, dash, hi = part.strip().partition("-")
        try:
            span = range(int(lo), int(hi) + 1) if dash else [int(lo)]
        except ValueError:
            raise ValueError(
                f"classes={text!r}: {part!r} is not a label or a range a-b (e.g. classes=5-9 "
                f"or classes=0,2,4)"
            ) from None
        labels.extend(span)
    bad = [c for c in labels if not 0 <= c < num_classes]
    if not labels or bad or len(set(labels)) != len(labels):
        raise ValueError(
            f"classes={text!r} must name distinct labels in [0, {num_classes}) "
            f"(got {labels or 'none'})"
        )
    return tuple(labels)


def without_per_class(spec: str) -> str:
    """`spec` minus `per_class=` and `repeat=` (which change only the training split)."""
    body, _, query = spec.partition("?")
    drop = ("per_class=", "repeat=")
    kept = [part for part in query.split("&") if part and not part.startswith(drop)]
    return f"{body}?{'&'.join(kept)}" if kept else body


def labels_of(source: Sequence[Any], chunk: int = 4096) -> np.ndarray:
    """(N,) int labels of a source (read in chunks unless the source keeps them in memory)."""
    if isinstance(source, ArraySource):
        return source.labels
    parts = [
        read_batch(source, np.arange(i, min(i + chunk, len(source))))["label"]
        for i in range(0, len(source), chunk)
    ]
    return np.concatenate(parts) if parts else np.zeros(0, np.int32)


class SubsetSource:
    """The examples `indices` of `source`, labels mapped through `label_map` (old → new)."""

    def __init__(self, source: Sequence[Any], indices: np.ndarray, label_map: np.ndarray):
        self.source, self.indices, self.label_map = source, np.asarray(indices), label_map

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = dict(self.source[int(self.indices[index])])
        record["label"] = int(self.label_map[int(record["label"])])
        return record

    def read_batch(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        batch = read_batch(self.source, self.indices[np.asarray(indices)])
        return {**batch, "label": self.label_map[batch["label"]].astype(np.int32)}


def select(
    splits: Mapping[str, Sequence[Any]],
    num_classes: int,
    class_names: Sequence[str],
    *,
    train_split: str,
    classes: str | None = None,
    per_class: int | None = None,
    repeat: int | None = None,
    seed: int = 0,
) -> tuple[dict[str, Any], int, tuple[str, ...]]:
    """Applies `classes` to every split, `per_class` and `repeat` to `train_split`.

    Args:
      splits: split name → source.
      num_classes: K of the full dataset.
      class_names: K names.
      train_split: the split `per_class` thins out.
      classes: the `classes=` option (see `parse_classes`), or None for all.
      per_class: training examples kept per class, or None for all.
      repeat: how many times the training split is listed over (None: once).
      seed: seed of the per-class draw.

    Returns:
      (splits, number of kept classes, their names).

    Raises:
      ValueError: a bad `classes` value, `per_class` or `repeat` < 1, or a class with fewer training
        examples than `per_class`.
    """
    kept = parse_classes(classes, num_classes) if classes else tuple(range(num_classes))
    for key, value in (("per_class", per_class), ("repeat", repeat)):
        if value is not None and value < 1:
            raise ValueError(f"{key}={value} must be >= 1")
    label_map = np.full(num_classes, -1, np.int64)
    label_map[list(kept)] = np.arange(len(kept))
    out = {}
    for name, source in splits.items():
        labels = labels_of(source)
        mask = label_map[labels] >= 0
        indices = np.nonzero(mask)[0]
        if per_class is not None and name == train_split:
            rng = np.random.default_rng(seed)
            chosen = []
            for c in kept:
                of_class = indices[labels[indices] == c]
                if len(of_class) < per_class:
                    raise ValueError(
                        f"per_class={per_class}: class {c} ({class_names[c]}) has only "
                        f"{len(of_class)} examples in split {name!r}"
                    )
                chosen.append(rng.permutation(of_class)[:per_class])
            indices = np.sort(np.concatenate(chosen))
        if repeat is not None and name == train_split:
            indices = np.tile(indices, repeat)  # (repeat * N,)
        out[name] = SubsetSource(source, indices, label_map)
    return out, len(kept), tuple(class_names[c] for c in kept)


def subset_dataset(dataset, classes: str | None, per_class: int | None, repeat: int | None):
    """`dataset` (a `cnnjax.data.Dataset`) with `select` applied; the same object if no option."""
    if classes is None and per_class is None and repeat is None:
        return dataset
    splits, count, names = select(
        dataset.splits,
        dataset.num_classes,
        dataset.class_names,
        train_split=dataset.train_split,
        classes=classes,
        per_class=per_class,
        repeat=repeat,
    )
    return dataclasses.replace(dataset, splits=splits, num_classes=count, class_names=names)
