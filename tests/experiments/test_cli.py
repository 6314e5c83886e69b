"""`experiments.cli`: user errors are one line and exit 1; bugs and debug runs keep tracebacks."""

import signal
import sys

import pytest
from absl import flags
from absl import logging as absl_logging

from cnnjax.train import NonFiniteLossError
from cnnjax.train.checkpoint import CheckpointSaveError
from cnnjax.train.lock import WorkdirLockedError
from cnnjax.train.preemption import Preempted
from experiments import cli

QUICKSTART = "experiments/configs/quickstart.py"


@pytest.fixture
def argv(monkeypatch):
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    monkeypatch.setattr(sys, "argv", ["train"])
    yield sys.argv
    # app.run points absl's log handler at pytest's captured stderr, closed after the test.
    absl_logging.get_absl_handler().python_handler.stream = sys.__stderr__


def run_raising(error):
    def main(argv):
        raise error

    with pytest.raises(SystemExit) as caught:
        cli.run(main)
    return caught.value.code


@pytest.mark.parametrize(
    "error",
    [
        ValueError("learning_rate must be > 0, got -1.0"),
        FileNotFoundError("image folder /x does not exist"),
        WorkdirLockedError("workdir 'w' is locked by another run"),
        NonFiniteLossError("non-finite loss or gradients at step 2"),
        CheckpointSaveError("saving the checkpoint of step 8 failed: No space left on device"),
    ],
)
def test_user_errors_print_one_line_and_exit_1(error, argv, capsys):
    assert run_raising(error) == 1
    err = capsys.readouterr().err
    assert err == f"{type(error).__name__}: {error}\n"


def test_preemption_exits_with_128_plus_the_signal(argv, capsys):
    message = "SIGTERM: stopped at step 7 of 40 and saved its checkpoint"
    assert run_raising(Preempted(message, signal.SIGTERM)) == 143
    assert capsys.readouterr().err == message + "\n"


def test_bugs_keep_their_traceback(argv):
    with pytest.raises(TypeError, match="unsupported operand"):
        run_raising(TypeError("unsupported operand"))


@pytest.mark.parametrize("how", ["env", "verbosity"])
def test_debug_flag_shows_the_traceback_of_user_errors(how, argv, monkeypatch):
    if how == "env":
        monkeypatch.setenv(cli.DEBUG_ENV, "1")
    else:
        argv.append("--verbosity=1")
    with pytest.raises(ValueError, match="learning_rate"):
        run_raising(ValueError("learning_rate must be > 0"))


def test_misspelled_config_key_is_one_line(argv, capsys):
    values = flags.FlagValues()
    bad = ["train", "--config.learning_rat=0.1"]
    with pytest.raises(SystemExit) as caught:
        cli.define_config("config", QUICKSTART, "", flag_values=values, sys_argv=bad)
    assert caught.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("ValueError: bad --config flag --config.learning_rat=0.1: unknown config")
    assert "'learning_rat'" in err and "did you mean 'learning_rate'?" in err
