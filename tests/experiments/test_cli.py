"""One grammar for every script: -h, errors and exit codes."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from experiments import compare, predict, prepare, results, run, stream, visualize
from runner.cli import Command, Option, parse
from runner.config import ConfigError, compose, numeric_options
from runner.options import is_numeric

SCRIPTS = {"run.py": run, "visualize.py": visualize, "predict.py": predict,
           "stream.py": stream, "prepare.py": prepare, "results.py": results,
           "compare.py": compare}


@pytest.mark.parametrize("flag", ["-h", "--help"])
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_every_script_prints_its_usage_and_exits_0(name, flag, capsys):
    assert SCRIPTS[name].main([flag]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: {name}")
    for option in SCRIPTS[name].COMMAND.options:
        assert f"  {option.key} " in out
    assert "-h, --help prints this" in out


def test_run_help_lists_groups_and_the_keys_the_command_resolves_to(capsys):
    assert run.main(["graph=similarity", "train.lr=0.01", "-h"]) == 0
    out = capsys.readouterr().out
    assert "usage: run.py [-m] [key=value ...]" in out
    assert "  graph={causal,corect,dag," in out and "  model={corect," in out
    assert "  graph:\n    name: similarity\n    k: " in out
    assert "    lr: 0.01\n" in out


def test_predict_help_gives_types_and_defaults(capsys):
    assert predict.main(["-h"]) == 0
    out = capsys.readouterr().out
    assert "usage: predict.py checkpoint=... out=... [option=value ...]" in out
    assert "  split               the split to predict (str; default: test)" in out
    assert "(path; required)" in out


@pytest.mark.slow
def test_results_runs_as_a_script_with_help():
    script = Path(__file__).resolve().parents[2] / "experiments" / "results.py"
    done = subprocess.run([sys.executable, str(script), "-h"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("usage: results.py NAME=SWEEP_DIR")
    assert done.stderr == ""


@pytest.mark.parametrize("name, argv, message", [
    ("run.py", ["--epochs=3"], "run.py: error: unknown flag '--epochs=3'; see run.py -h"),
    ("run.py", ["epochs"], "run.py: error: argument 'epochs' is not of the form key=value; "
                          "see run.py -h"),
    ("compare.py", [], "compare.py: error: give at least one RUN_OR_SWEEP_DIR; see compare.py -h"),
    ("compare.py", ["a", "b"], "compare.py: error: 2 directories compared; say where the "
                               "report goes with out=DIR"),
    ("results.py", [], "results.py: error: give at least one NAME=SWEEP_DIR; see results.py -h"),
    ("stream.py", ["checkpoint=x", "input=y", "threads=1,2"],
     "stream.py: error: threads='1,2': several values, but threads takes one int"),
    ("predict.py", ["checkpoint=x", "out=y"], "predict.py: error: no checkpoint at x"),
    ("prepare.py", ["input=x", "out=y", "batch_size=big"],
     "prepare.py: error: batch_size='big': expected int"),
    ("visualize.py", ["stats=maybe"], "visualize.py: error: stats='maybe': expected bool"),
    ("stream.py", ["checkpoint=x", "input=y", "thread=2"],
     "stream.py: error: unknown key 'thread'; stream.py takes checkpoint, dialogue, "
     "input, text_encoder, threads; see stream.py -h"),
])
def test_bad_command_lines_fail_in_one_line_with_exit_2(name, argv, message, capsys):
    assert SCRIPTS[name].main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [message]


def test_options_are_parsed_to_their_types_and_defaults_filled_in():
    command = Command("t.py", "test", options=(
        Option("n", int, 3), Option("names", list[str] | None, None),
        Option("path", Path, help="a path", required=True)))
    parsed = parse(command, ["names=a,b", "path=x,y"])
    assert parsed.options == {"n": 3, "names": ["a", "b"], "path": "x,y"}
    with pytest.raises(ConfigError, match="missing path=...; see t.py -h"):
        parse(command, ["n=1"])


def _outside(allowed):
    """A number just outside :obj:`allowed`."""
    if allowed.low is not None:
        return allowed.low if allowed.low_open else allowed.low - 1
    return allowed.high if allowed.high_open else allowed.high + 1


def _commands():
    from experiments import serve
    return [*(module.COMMAND for module in SCRIPTS.values()), serve.COMMAND]


#: Model sizes that the corpus gives, never the command line.
FROM_THE_CORPUS = ("model.num_classes", "model.max_speakers")


def _has_key(config, key):
    for part in key.split("."):
        if not isinstance(config, dict) or part not in config:
            return False
        config = config[part]
    return True


@pytest.mark.parametrize("key, allowed", sorted(numeric_options().items()))
def test_every_numeric_run_option_refuses_a_value_outside_its_declared_range(key, allowed):
    assert allowed is not None, f"{key} declares no range"
    # The group files that set the key (some keys only CORECT's published setup sets).
    contexts = [c for c in ([], ["model=corect_paper"]) if _has_key(compose(c), key)]
    if key in FROM_THE_CORPUS:
        assert contexts == []
        return
    assert contexts, f"no group file sets {key}"
    value = _outside(allowed)
    with pytest.raises(ConfigError) as error:
        compose([*contexts[0], f"{key}={value}"])
    assert re.fullmatch(rf"{key}=-?[0-9.]+ is out of range: expected a number "
                        + re.escape(str(allowed)), str(error.value))
    if allowed.low is not None and not allowed.low_open:  # the bound itself is taken
        compose([*contexts[0], f"{key}={allowed.low:g}"])


def test_every_numeric_command_option_declares_a_range_and_refuses_values_outside_it():
    checked = 0
    for command in _commands():
        for option in command.options:
            if not is_numeric(option.type):
                continue
            assert option.range is not None, f"{command.prog} {option.key} declares no range"
            value = _outside(option.range)
            required = [f"{o.key}=x" for o in command.options
                        if o.required and o.key != option.key]
            with pytest.raises(ConfigError, match=rf"^{option.key}={value} is out of range: "
                                                  rf"expected a number"):
                parse(command, [*required, f"{option.key}={value}"]
                      + (["DIR"] if command.positional else [])
                      + (["a=DIR"] if command.named else []))
            checked += 1
    assert checked >= 10


def test_max_grad_norm_below_zero_is_refused_in_one_line_and_help_shows_ranges(capsys):
    assert run.main(["train.max_grad_norm=-1", "train.epochs=1"]) == 2
    assert capsys.readouterr().err == ("run.py: error: train.max_grad_norm=-1.0 is out of "
                                       "range: expected a number > 0\n")
    assert run.main(["-h"]) == 0
    out = capsys.readouterr().out
    assert "  train.max_grad_norm > 0\n" in out and "  train.patience ≥ 1\n" in out
    assert stream.main(["-h"]) == 0
    assert "(int ≥ 1; default: 1)" in capsys.readouterr().out
