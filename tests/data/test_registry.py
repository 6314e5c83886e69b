"""The dataset registry: what registers itself is listed, loadable and named in every error."""

import numpy as np
import pytest

from cnnjax.data import datasets, list_datasets, load_dataset, registry
from cnnjax.data.builders.embedded import EmbeddedBuilder, register_embedded
from cnnjax.data.builders.idx import IdxDataset


class RegistryToy(EmbeddedBuilder, skip_registration=True):
    """Ten 4x4 grey images of two classes (label = first pixel's parity)."""

    IMAGE_SHAPE = (4, 4, 1)
    CLASS_NAMES = ("even", "odd")

    def read(self):
        images = np.arange(10 * 16, dtype=np.uint8).reshape(10, 4, 4)
        return images, np.arange(10) % 2


@pytest.fixture
def toy():
    """`registry_toy` registered for one test, then removed."""
    entry = register_embedded(RegistryToy, stats=((0.25,), (0.5,)))
    yield entry
    registry.unregister(entry.name)


def test_a_registered_builder_is_listed_loaded_and_suggested(toy, tmp_path):
    assert toy.name == "registry_toy" and toy.kind == "embedded"
    assert list_datasets().index("registry_toy") < list_datasets().index(
        "cifar10"
    )  # embedded first
    dataset = load_dataset("registry_toy?per_class=2", str(tmp_path))
    assert dataset.class_names == ("even", "odd") and dataset.image_shape == (4, 4, 1)
    assert (dataset.mean, dataset.std) == ((0.25,), (0.5,))
    assert {k: len(v) for k, v in dataset.splits.items()} == {"train": 4, "test": 2}
    with pytest.raises(
        ValueError, match=r"accepted are .*registry_toy.*did you mean 'registry_toy'"
    ):
        load_dataset("registry_tox", str(tmp_path))


def test_a_registered_local_kind_takes_its_options_and_is_suggested(tmp_path):
    registry.register(registry.Entry("toyidx", "local", IdxDataset, options={"depth": int}))
    try:
        assert "toyidx:<dir>" in list_datasets()
        assert datasets.parse_spec("toyidx:/d?depth=3&classes=1")[2] == {"depth": 3, "classes": "1"}
        with pytest.raises(ValueError, match=r"kind 'toyid'; accepted are .*toyidx.*did you mean"):
            datasets.parse_spec("toyid:/d")
        with pytest.raises(ValueError, match=r"option 'deep'; accepted are classes, depth, per"):
            datasets.parse_spec("toyidx:/d?deep=3")
    finally:
        registry.unregister("toyidx")
    assert "toyidx:<dir>" not in list_datasets()


def test_a_taken_name_is_refused_and_the_first_entry_kept():
    first = registry.lookup("mnist5k")
    with pytest.raises(ValueError, match="'mnist5k' is already registered .*embedded"):
        registry.register(registry.Entry("mnist5k", "tfds"))
    with pytest.raises(ValueError, match="'idx' is already registered"):
        registry.register(registry.Entry("idx", "local", IdxDataset))
    assert registry.lookup("mnist5k") is first


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(kind="zip"), "unknown dataset entry kind 'zip'; accepted are embedded, tfds, local"),
        (dict(kind="tfds", builder=IdxDataset), "tfds entries take none"),
        (dict(kind="local"), "local entries need a builder"),
        (dict(kind="tfds", options={"classes": str}), r"options \['classes'\] are every spec's"),
        (dict(kind="tfds", options={"size": list}), "unknown type of option 'size'"),
    ],
)
def test_malformed_entries_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        registry.Entry("bad", **fields)


@pytest.mark.parametrize("entry", registry.entries(), ids=lambda e: e.name)
def test_every_entry_takes_the_subset_options(entry):
    spec = entry.form.replace("<dir>", "/d") + "?classes=0-1&per_class=2&repeat=3"
    assert datasets.parse_spec(spec)[2] == {"classes": "0-1", "per_class": 2, "repeat": 3}


def test_tfds_names_find_their_statistics_and_raw_readers():
    assert registry.lookup("imagenette/320px").name == "imagenette"
    assert registry.lookup("digits/x") is None  # only tfds names carry configs
    assert registry.raw_reader("fashion_mnist").form == "idx:<dir>"
    assert registry.raw_reader("cifar100").form == "cifar:<dir>"
    assert registry.raw_reader("imagenette") is None
