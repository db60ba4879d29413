"""What a plugin author meets: command lines, checkpoints and errors that
name the plugin's distribution."""
import pytest

from runner.config import ConfigError, compose
from experiments.predict import main as predict_main
from runner.experiment import run_experiment
from graphs import GraphContractError
from models import load_checkpoint
from models.checkpoint import MissingBuilderError
from registry import EdgeBuilderRegistry

from ..experiments.conftest import TINY
from .helpers import GOOD_PLUGIN, install

REQUIRED_PLUGIN = GOOD_PLUGIN.replace("    gap: int = 2", "    gap: int")

LEAKY_PLUGIN = '''
from dataclasses import dataclass
import torch
from graphs import EdgeBuilder, per_modality
from plugins import hookimpl

@dataclass
class LateLeak(EdgeBuilder):
    """Causal, it says; but from turn 5 on each turn also hears the next."""

    @property
    def causal(self):
        return True

    def relations(self, modalities):
        return [f"{m}:leak" for m in modalities]

    def edges(self, batch):
        turn, last = batch.utterance_turn, batch.lengths[batch.utterance_dialogue] - 1
        target = torch.nonzero((turn >= 5) & (turn < last)).flatten()
        return per_modality(batch, [(target + 1, target)])

@hookimpl
def register_edge_builders(register):
    register("late_leak", LateLeak)
'''


def test_a_required_parameter_is_set_on_the_command_line(tmp_path, monkeypatch):
    registry = install(tmp_path, monkeypatch, "ergraph-skip", "ergraph_skip", REQUIRED_PLUGIN)
    config = compose(["graph=skip", "graph.gap=3"], registry=registry)
    assert config["graph"] == {"name": "skip", "gap": 3}
    with pytest.raises(ConfigError, match=r"graph 'skip' has required parameter\(s\) gap; "
                                          r"set them with graph.gap=\.\.\."):
        compose(["graph=skip"], registry=registry)


def test_an_unknown_graph_lists_plugins_and_union(tmp_path, monkeypatch):
    registry = install(tmp_path, monkeypatch, "ergraph-skip", "ergraph_skip", GOOD_PLUGIN)
    with pytest.raises(ConfigError) as error:
        compose(["graph=skp"], registry=registry)
    message = str(error.value)
    assert "unknown graph 'skp'; choices: " in message
    assert ", skip," in message and ", union," in message and ", similarity," in message
    assert message.endswith("did you mean 'skip'?")


def test_a_checkpoint_names_the_plugin_to_install(tmp_path, monkeypatch, capsys):
    registry = install(tmp_path, monkeypatch, "ergraph-skip", "ergraph_skip", GOOD_PLUGIN)
    run = run_experiment(compose([*TINY, "graph=skip", f"out={tmp_path / 'run'}"],
                                 registry=registry), registry)
    checkpoint = load_checkpoint(run / "checkpoint.pt")
    assert checkpoint.graph["provider"] == {"source": "ergraph-skip", "version": "1.0"}
    assert checkpoint.build(registry).builder.gap == 2
    without = EdgeBuilderRegistry(entry_points=False)
    with pytest.raises(MissingBuilderError, match=r"graph 'skip' comes from the plugin "
                                                  r"'ergraph-skip' 1.0, which is not "
                                                  r"installed here; install it with pip "
                                                  r"install 'ergraph-skip==1.0'"):
        checkpoint.build(without)
    capsys.readouterr()  # the run's epoch lines
    monkeypatch.setenv("ERGRAPH_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setattr("registry.default_registry", without)
    code = predict_main([f"checkpoint={run / 'checkpoint.pt'}", f"out={tmp_path / 'p.csv'}"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.startswith("predict.py: error: the checkpoint's graph 'skip' comes from the plugin")


def test_a_builtin_checkpoint_records_ergraph(tmp_path):
    run = run_experiment(compose([*TINY, "graph=causal", f"out={tmp_path / 'run'}"]))
    assert load_checkpoint(run / "checkpoint.pt").graph["provider"]["source"] == "ergraph"


def test_a_contract_breach_on_a_late_turn_is_caught_and_named(tmp_path, monkeypatch):
    registry = install(tmp_path, monkeypatch, "ergraph-leak", "ergraph_leak", LEAKY_PLUGIN)
    # The breach starts at turn 5; dialogues of up to 40 turns expose it in
    # some split, never in the first few dialogues alone.
    config = compose([*TINY, "graph=late_leak", "dataset.synthetic.max_length=40",
                      f"out={tmp_path / 'run'}"], registry=registry)
    with pytest.raises(GraphContractError, match=r"edge builder 'late_leak \(plugin "
                                                 r"ergraph-leak 1.0\)': builder declares "
                                                 r"itself causal .*turn 6.* -> .*turn 5"):
        run_experiment(config, registry)
    assert not (tmp_path / "run").exists()


#: Reads the text features but declares no reads at all.
UNDECLARED_PLUGIN = GOOD_PLUGIN.replace(
    "        target = torch.nonzero(", "        batch.features['text']\n"
    "        target = torch.nonzero(").replace('"skip"', '"peek"')


def test_an_undeclared_read_is_a_contract_error_naming_the_plugin_and_the_read(
        tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, "ergraph-peek", "ergraph_peek", UNDECLARED_PLUGIN)
    registry = EdgeBuilderRegistry()
    config = compose([*TINY, "graph=peek", f"out={tmp_path / 'run'}"], registry=registry)
    with pytest.raises(GraphContractError) as error:
        run_experiment(config, registry)
    assert str(error.value) == (
        "edge builder 'peek (plugin ergraph-peek 1.0)': reads features 'text', which its "
        "reads() does not declare (it declares features none); add it to reads() "
        "(split 'train')")
    assert not (tmp_path / "run").exists()


def test_an_older_checkpoint_without_a_provider_still_says_what_is_missing(tmp_path):
    run = run_experiment(compose([*TINY, "graph=causal", f"out={tmp_path / 'run'}"]))
    checkpoint = load_checkpoint(run / "checkpoint.pt")
    checkpoint.graph.pop("provider")
    assert checkpoint.build().causal  # a built-in loads as before
    checkpoint.graph["name"] = "gone"
    with pytest.raises(MissingBuilderError, match="graph 'gone' is not registered here, and "
                                                  "the checkpoint does not record which "
                                                  "package provided it"):
        checkpoint.build()
