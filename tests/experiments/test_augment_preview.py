"""`python -m experiments.augment_preview`: the grid shows real images and their augmentations."""

import numpy as np
from PIL import Image

from cnnjax.data import load_dataset
from experiments import augment_preview


def test_grid_holds_the_originals_and_identity_without_augmentation(tmp_path):
    dataset = load_dataset("digits", str(tmp_path))
    originals, augmented, soft, labels = augment_preview.augmented_grid(
        dataset, "", count=3, variants=2
    )
    source = dataset.splits["train"]
    expected = np.stack([source[i]["image"] for i in range(3)]) / 255.0
    np.testing.assert_allclose(originals, expected, atol=1e-6)  # normalised, then shown back
    np.testing.assert_allclose(augmented, np.repeat(expected[:, None], 2, axis=1), atol=1e-6)
    assert labels.tolist() == [int(source[i]["label"]) for i in range(3)]
    np.testing.assert_array_equal(soft.argmax(-1), np.repeat(labels[:, None], 2, axis=1))


def test_writes_a_png_of_rows_by_columns(tmp_path):
    out = tmp_path / "preview.png"
    augment_preview.write_preview(
        "digits", "flip_lr|mixup(0.4)", str(out), data_dir=str(tmp_path), count=3,
        variants=2, input_shape=(16, 16, 3),
    )  # fmt: skip
    image = np.asarray(Image.open(out).convert("L"))
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert image.std() > 10  # not blank
