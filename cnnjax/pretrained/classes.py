"""The 1000 ImageNet (ILSVRC-2012) class names, in the order of the networks' outputs.

imagenet_classes.txt holds one `synset<TAB>names` line per class, sorted by WordNet id (the
standard class index order). Copied from timm 1.0.31 (`timm/data/_info/imagenet_synsets.txt`
and `imagenet_synset_to_lemma.txt`, Apache-2.0).
"""

import functools
import importlib.resources


@functools.cache
def _table() -> tuple[tuple[str, str], ...]:
    text = (importlib.resources.files("cnnjax.pretrained") / "imagenet_classes.txt").read_text()
    rows = tuple(tuple(line.split("\t", 1)) for line in text.splitlines() if line)
    if len(rows) != 1000:
        raise ValueError(f"imagenet_classes.txt has {len(rows)} classes, not 1000")
    return rows


def imagenet_class_names() -> list[str]:
    """The 1000 class names, e.g. index 281 is "tabby, tabby cat"."""
    return [names for _, names in _table()]


def imagenet_synsets() -> list[str]:
    """The 1000 WordNet ids, e.g. index 281 is "n02123045"."""
    return [synset for synset, _ in _table()]
