"""End to end: `python -m experiments.summarize --model=NAME` prints every model's table."""

import jax
import numpy as np
import pytest
from absl import app, flags
from PIL import Image

from cnnjax.analysis import summary
from cnnjax.models import get_model_spec, list_models
from experiments import summarize


def _run(capsys, *args: str) -> str:
    flags.FLAGS(["summarize", *args])
    try:
        summarize.main(["summarize"])
    finally:
        flags.FLAGS.unparse_flags()
    return capsys.readouterr().out


@pytest.mark.parametrize("name", list_models())
def test_prints_the_table_of_every_registered_model(capsys, name):
    out = _run(capsys, f"--model={name}")
    shape = "x".join(map(str, get_model_spec(name).input_shape))
    lines = out.splitlines()
    assert lines[0] == f"{name} on {shape} inputs"  # the registry's full-size input shape
    assert lines[1].split() == ["layer", "type", "output", "params", "FLOPs", "RF", "jump"]
    s = summary(name)
    assert len(lines) == 4 + len(s.rows) + 4  # title, header, rule, input; rows; rule, totals
    assert lines[-3].split()[:2] == ["total", f"{s.total_params:,}"]


def test_input_shape_and_num_classes_flags(capsys):
    out = _run(capsys, "--model=lenet5", "--input_shape=32,32,1", "--num_classes=3")
    assert out.splitlines()[0] == "lenet5 on 32x32x1 inputs"
    logits = [line for line in out.splitlines() if line.startswith("logits")]
    assert logits[0].split()[1:4] == ["dense", "3", f"{84 * 3 + 3:,}"]


def test_erf_png(capsys, tmp_path):
    path = tmp_path / "pictures" / "erf.png"
    out = _run(capsys, "--model=lenet5", f"--erf_png={path}", "--erf_layer=conv2")
    # conv2 is 10x10 with RF 14, jump 2, start -2: its centre unit (5, 5) sees from -2 + 5 * 2.
    assert "ERF of conv2's centre unit" in out and "theoretical RF 14x14 at (8, 8)" in out
    with Image.open(path) as image:
        assert image.format == "PNG" and np.asarray(image.convert("L")).std() > 10


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model=no_such_net"], "unknown model 'no_such_net'; registered models are: .*lenet5"),
        ([], "--model is required; registered models are"),
        (["--model=lenet5", "--input_shape=a,b,c"], "comma-separated ints"),
        (["--model=lenet5", "--input_shape=8,8,1"], "at least"),
        (["--model=lenet5", "--erf_png=x.png", "--erf_layer=fc1"], "not a recorded spatial"),
    ],
)
def test_bad_flags_give_a_usage_error(capsys, args, message):
    with pytest.raises(app.UsageError, match=message):
        _run(capsys, *args)


def test_full_size_tables_compile_nothing(capsys, caplog):
    # An ImageNet-size net is summarised from tracing alone (a shape the cache has not seen).
    with jax.log_compiles(True):
        out = _run(capsys, "--model=vgg16", "--input_shape=200,200,3")
    assert "vgg16 on 200x200x3 inputs" in out
    assert not [r.message for r in caplog.records if "compil" in r.message.lower()]
