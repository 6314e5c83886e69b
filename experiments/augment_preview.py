"""Write a PNG grid of dataset images beside augmented versions of them.

    python -m experiments.augment_preview --dataset=mnist5k \
        --augment="pad_crop(4)|rotate(15)" --out=runs/augment_preview.png

Each row is one training image: the original (after preprocessing) and then `--variants`
augmentations with different keys. Titles show the label, or the two largest label weights
when mixup/cutmix mixed them. Flags are defined only when run as a script, so that importing this
module never clashes with another entry point's flags.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from cnnjax.data import augment as augment_lib
from cnnjax.data import load_dataset, preprocess


def augmented_grid(
    dataset, spec: str, *, count: int = 6, variants: int = 5, seed: int = 0, input_shape=None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Originals and augmented copies of the first `count` training images, in [0, 1] for display.

    Args:
      dataset: a `cnnjax.data.Dataset`.
      spec: augmentation spec (see `cnnjax.data.augment.list_ops()`).
      count: images (rows).
      variants: augmented copies of each (columns after the original).
      seed: PRNG seed of the augmentation keys.
      input_shape: (H, W, C) to preprocess to (default: the dataset's image shape).

    Returns:
      originals (N, H, W, C), augmented (N, V, H, W, C), their soft labels (N, V, K), and the
      originals' labels (N,).
    """
    input_shape = tuple(input_shape or dataset.image_shape)
    prep = preprocess.build(dataset, input_shape)
    aug = jax.jit(augment_lib.build(spec, dataset.num_classes))
    source = dataset.splits[dataset.train_split]
    indices = np.arange(min(count, len(source)))
    images = np.stack([np.asarray(source[int(i)]["image"]) for i in indices])
    labels = np.asarray([int(source[int(i)]["label"]) for i in indices])
    x = prep(jnp.asarray(images))
    y = jax.nn.one_hot(labels, dataset.num_classes)
    outs = [aug(jax.random.fold_in(jax.random.key(seed), v), x, y) for v in range(variants)]
    mean = np.asarray(preprocess.convert_stats(dataset.mean, input_shape[-1]))
    std = np.asarray(preprocess.convert_stats(dataset.std, input_shape[-1]))

    def show(z):  # normalised → [0, 1]
        return np.clip(np.asarray(z, np.float32) * std + mean, 0.0, 1.0)

    augmented = np.stack([show(o[0]) for o in outs], axis=1)
    soft = np.stack([np.asarray(o[1]) for o in outs], axis=1)
    return show(x), augmented, soft, labels


def _title(label: np.ndarray, names) -> str:
    top = np.argsort(label)[::-1][:2]
    if label[top[0]] > 0.999:
        return str(names[top[0]])
    return " ".join(f"{names[k]}:{label[k]:.2f}" for k in top)


def write_preview(
    dataset_spec: str,
    spec: str,
    out: str,
    *,
    data_dir: str | None = None,
    count: int = 6,
    variants: int = 5,
    seed: int = 0,
    input_shape=None,
) -> str:
    """Loads `dataset_spec`, draws the grid of `augmented_grid` and saves it as a PNG at `out`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dataset = load_dataset(dataset_spec, data_dir)
    originals, augmented, soft, labels = augmented_grid(
        dataset, spec, count=count, variants=variants, seed=seed, input_shape=input_shape
    )
    rows, cols = len(originals), variants + 1
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.7 * rows), squeeze=False)
    grey = originals.shape[-1] == 1
    for r in range(rows):
        panels = [originals[r], *augmented[r]]
        for c, panel in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(
                panel[..., 0] if grey else panel, cmap="gray" if grey else None, vmin=0, vmax=1
            )
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                title = f"original {dataset.class_names[labels[r]]}"
            else:
                title = _title(soft[r, c - 1], dataset.class_names)
            ax.set_title(title, fontsize=7)
    fig.suptitle(f"{dataset_spec}: {spec or '(no augmentation)'}", fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def define_flags():
    flags.DEFINE_string("dataset", "mnist5k", "Dataset spec (see cnnjax.data.list_datasets()).")
    flags.DEFINE_string("augment", "pad_crop(4)|rotate(15)", "Augmentation spec.")
    flags.DEFINE_string("out", "runs/augment_preview.png", "Path of the PNG to write.")
    flags.DEFINE_string("data_dir", "", "Prepared data dir (empty: $CNNJAX_DATA_DIR or default).")
    flags.DEFINE_integer("count", 6, "Images (rows).")
    flags.DEFINE_integer("variants", 5, "Augmented copies per image (columns).")
    flags.DEFINE_integer("seed", 0, "PRNG seed.")
    flags.DEFINE_list("input_shape", [], "H,W,C to preprocess to (empty: the dataset's shape).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    f = flags.FLAGS
    shape = tuple(int(d) for d in f.input_shape) or None
    path = write_preview(
        f.dataset, f.augment, f.out, data_dir=f.data_dir or None, count=f.count,
        variants=f.variants, seed=f.seed, input_shape=shape,
    )  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    define_flags()
    app.run(main)
