"""Prints a model's layer table: output shapes, parameters, FLOPs, receptive field and jump.

    python -m experiments.summarize --model=vgg16
    python -m experiments.summarize --model=resnet50 --input_shape=160,160,3
    python -m experiments.summarize --model=lenet5 --erf_png=runs/lenet5_erf.png

The table comes from tracing the model (`cnnjax.analysis.summary`: shapes only, nothing is
compiled). `--erf_png` also initialises the model, computes the effective receptive field of
the centre unit of `--erf_layer` (Luo et al., 2016) and draws it with the theoretical one.
An unknown or missing `--model` prints the registered names.
"""

from collections.abc import Sequence
from pathlib import Path

import jax
import jax.numpy as jnp
from absl import app, flags

from cnnjax import analysis
from cnnjax.analysis import erf
from cnnjax.analysis.summaries import default_num_classes
from cnnjax.interpret import plots
from cnnjax.models import create_model, list_models

_MODEL = flags.DEFINE_string("model", None, "Registered model name (see cnnjax.models).")
_INPUT_SHAPE = flags.DEFINE_list(
    "input_shape", None, "H,W,C of one input; defaults to the model's registered input shape."
)
_NUM_CLASSES = flags.DEFINE_integer(
    "num_classes", None, "Output classes; defaults to the model factory's default."
)
_ERF_PNG = flags.DEFINE_string(
    "erf_png", None, "If set, write the effective receptive field picture to this PNG path."
)
_ERF_LAYER = flags.DEFINE_string(
    "erf_layer", None, "Recorded activation for --erf_png; defaults to the last spatial one."
)


def parse_input_shape(values: Sequence[str] | None) -> tuple[int, ...] | None:
    """["224", "224", "3"] -> (224, 224, 3); None stays None."""
    if values is None:
        return None
    try:
        return tuple(int(v) for v in values)
    except ValueError:
        raise ValueError(f"--input_shape={','.join(values)} must be comma-separated ints") from None


def write_erf(summary: analysis.Summary, num_classes: int | None, layer, path: str) -> str:
    """Computes and draws the ERF of the centre unit of `layer`; returns a one-line report.

    Args:
      summary: `cnnjax.analysis.summary` of a registered model (gives the theoretical RF).
      num_classes: as passed to the summary (None: the factory's default).
      layer: a recorded spatial activation, or None for the last one.
      path: PNG to write (parent folders are created).
    """
    name, input_shape = summary.model, summary.input_shape
    model = create_model(name, num_classes=num_classes or default_num_classes(name))
    spatial = {k: shape for k, (shape, _) in summary.activations.items() if len(shape) == 3}
    layer = layer or (list(spatial)[-1] if spatial else None)
    if layer not in spatial:  # checked before anything is initialised or compiled
        raise ValueError(f"--erf_layer={layer!r} is not a recorded spatial activation of {name}; "
                         f"choose from {list(spatial)}")  # fmt: skip
    # A fresh random initialisation (Luo et al. study ERFs at init too); the "rbg" generator
    # compiles several times faster than threefry on CPU, and any key will do here.
    init = jax.jit(lambda x: model.init(jax.random.key(0, impl="rbg"), x))
    variables = init(jnp.zeros((1, *input_shape), jnp.float32))
    field = erf.effective_receptive_field(model, variables, input_shape, layer)
    (top, left), (height, width) = erf.erf_support(field)
    window, theory = None, "?"
    _, rf = summary.activations[layer]
    if not isinstance(rf, str) and len(rf) == 2:
        centre = [d // 2 for d in spatial[layer][:-1]]
        (first_h, _), (first_w, _) = (r.window(c) for r, c in zip(rf, centre, strict=True))
        window = ((first_h, first_w), (rf[0].size, rf[1].size))
        theory = f"{rf[0].size}x{rf[1].size} at ({first_h}, {first_w})"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    title = f"{name}: effective receptive field\nof the centre unit of {layer}"
    plots.effective_receptive_field(field, path, title=title, window=window)
    return (
        f"ERF of {layer}'s centre unit: nonzero on {height}x{width} at ({top}, {left}); "
        f"theoretical RF {theory}; picture: {path}"
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    name = _MODEL.value
    if name is None or name not in list_models():
        problem = "--model is required" if name is None else f"unknown model {name!r}"
        raise app.UsageError(f"{problem}; registered models are: {', '.join(list_models())}")
    try:
        input_shape = parse_input_shape(_INPUT_SHAPE.value)
        summary = analysis.summary(name, input_shape, num_classes=_NUM_CLASSES.value)
        print(analysis.format_summary(summary))
        if _ERF_PNG.value:
            print(write_erf(summary, _NUM_CLASSES.value, _ERF_LAYER.value, _ERF_PNG.value))
    except ValueError as e:
        raise app.UsageError(str(e)) from e


if __name__ == "__main__":
    app.run(main)
