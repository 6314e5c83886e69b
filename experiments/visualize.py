"""Look inside a trained run or a pretrained network: every `cnnjax.interpret` figure + index.html.

    python -m experiments.visualize --workdir=runs/quickstart --method=all
    python -m experiments.visualize --workdir=runs/quickstart --method=grad_cam \
        --layer=conv2 --image=0,7
    python -m experiments.visualize --model=efficientnet_lite0 --method=all --image=skimage:chelsea

A run is restored with its `--config` (default: the quick start) from its newest checkpoint (or
`--step`); figures go to `<workdir>/visualize/` (or `--out`). A pretrained network needs no run;
its figures go to `visualize/<model>/` by default. Methods: see `--method`; `all` draws them all.
The last line printed is the path of the index.html.
"""

import os

from absl import flags, logging

from experiments import cli
from experiments import visualize_methods as methods
from experiments import visualize_subject as subjects

DEFAULT_CONFIG = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "configs", "quickstart.py"
)


def define_flags() -> None:
    """The command-line flags; defined only when run as a program, so that importing this
    module (tests, other entry points) defines no absl flag."""
    cli.define_config("config", DEFAULT_CONFIG, "The run's config file.")
    flags.DEFINE_string("workdir", "", "The run directory to restore.")
    flags.DEFINE_string("model", "", "A pretrained network instead of a run (cnnjax.pretrained).")
    flags.DEFINE_integer("step", -1, "Checkpoint step (-1: the newest).")
    flags.DEFINE_string("method", "all", f"all, or comma-separated: {', '.join(methods.METHODS)}")
    flags.DEFINE_string("image", "", "Held-out indices (run) or photo paths / skimage:<name>.")
    flags.DEFINE_string("layer", "", "Layer for feature maps, patches, Grad-CAM, DeepDream.")
    flags.DEFINE_integer("class_index", -1, "Class to explain (-1: each image's label).")
    flags.DEFINE_integer("steps", 200, "Gradient-ascent steps of class models (DeepDream: /10).")
    flags.DEFINE_integer("samples", 25, "SmoothGrad samples.")
    flags.DEFINE_integer("ig_steps", 32, "Integrated-gradients steps.")
    flags.DEFINE_integer("patch", 0, "Occlusion window side (0: image side / 7).")
    flags.DEFINE_integer("stride", 0, "Occlusion stride (0: window / 4).")
    flags.DEFINE_string("out", "", "Output folder.")


def parse_methods(spec: str) -> list[str]:
    """`all` or comma-separated method names -> the list; a ValueError names unknown ones."""
    names = (
        list(methods.METHODS)
        if spec == "all"
        else [m.strip() for m in spec.split(",") if m.strip()]
    )
    unknown = [m for m in names if m not in methods.METHODS]
    if unknown or not names:
        raise ValueError(f"--method={spec!r}: accepted are all or {', '.join(methods.METHODS)}")
    return names


def visualize(subject, names: list[str], options: methods.Options, out: str) -> str:
    """Draws the `names` figures of `subject` into `out`; returns the index.html path."""
    ctx = methods.Context(subject, options, out)  # validates layer and class before any compile
    os.makedirs(out, exist_ok=True)
    figures = []
    for name in names:
        logging.info("drawing %s", name)
        figures += methods.METHODS[name](ctx)
    return methods.write_index(out, f"Inside {subject.name}", figures)


def main(argv):
    if len(argv) > 1:
        raise ValueError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    f = flags.FLAGS
    names = parse_methods(f.method)
    if bool(f.workdir) == bool(f.model):
        raise ValueError("give exactly one of --workdir=<run> or --model=<pretrained name>")
    options = methods.Options(
        layer=f.layer, class_index=f.class_index, samples=f.samples,
        ig_steps=f.ig_steps, patch=f.patch, stride=f.stride, steps=f.steps,
    )  # fmt: skip
    if f.model:
        subject = subjects.from_pretrained(f.model, f.image)
        out = f.out or os.path.join("visualize", f.model)
    else:
        subject = subjects.from_run(f.config, f.workdir, f.step, f.image)
        out = f.out or os.path.join(f.workdir, "visualize")
    print(visualize(subject, names, options, out), flush=True)


if __name__ == "__main__":
    define_flags()
    cli.run(main)
