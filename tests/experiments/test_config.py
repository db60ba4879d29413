from dataclasses import dataclass

import pytest

from experiments.config import ConfigError, compose, convert, graph_spec
from graphs import NoEdges
from registry import EdgeBuilderRegistry


def test_defaults_compose_every_group():
    config = compose([])
    assert config["graph"] == {"name": "corect", "past": 4, "future": 11}
    assert config["dataset"]["name"] == "synthetic"
    assert config["model"]["hidden"] == 100 and config["train"]["epochs"] == 30
    assert "defaults" not in config


def test_group_choices_apply_before_overrides_whatever_the_order():
    config = compose(["graph.past=8", "graph=causal", "seed=3"])
    assert graph_spec(config) == ("causal", {"past": 8, "self_loops": False})
    assert config["seed"] == 3


def test_later_override_wins_and_nested_keys_work():
    config = compose(["train.lr=1e-3", "train.lr=0.01", "dataset.synthetic.num_dev=5"])
    assert config["train"]["lr"] == 0.01
    assert config["dataset"]["synthetic"]["num_dev"] == 5


@pytest.mark.parametrize("value, default, expected", [
    ("3", 1, 3), ("3", 1.5, 3.0), ("1e-3", 0.5, 1e-3), ("true", False, True),
    ("null", 4, None), ("7", None, 7), ("[text,audio]", None, ["text", "audio"]),
    ("text", ["a"], ["text"]), ("{a: 1}", {}, {"a": 1}), ("007", "x", "007"),
])
def test_overrides_take_the_type_of_their_default(value, default, expected):
    assert convert(value, default, "key") == expected


@pytest.mark.parametrize("args, match", [
    (["graph=casual"], "unknown graph 'casual'; choices: causal, corect, .*did you mean "
                       "'causal'\\?"),
    (["grap=window"], "unknown key 'grap' in top level; .*did you mean 'graph'\\?"),
    (["graph.pats=2"], "unknown key 'graph.pats' in graph; choices: future, name, past; "
                       "did you mean 'past'\\?"),
    (["traim.lr=1"], "no section 'traim' at top level; .*did you mean 'train'\\?"),
    (["train.epochs=many"], "train.epochs='many': expected int like the default 30"),
    (["train.class_weights=3"], "expected bool"),
    (["epochs"], "'epochs' is not of the form key=value"),
    (["dataset=imocap"], "unknown dataset 'imocap'.*did you mean 'iemocap'\\?"),
])
def test_errors_list_choices_and_closest_match(args, match):
    with pytest.raises(ConfigError, match=match):
        compose(args)


def test_plugin_only_graph_needs_no_yaml():
    registry = EdgeBuilderRegistry(entry_points=False)

    @registry.register("skip")
    @dataclass
    class SkipEdges(NoEdges):
        """Edges that skip turns."""
        gap: int = 2
        label: str = "x"

    config = compose(["graph=skip", "graph.gap=3"], registry=registry)
    assert graph_spec(config) == ("skip", {"gap": 3, "label": "x"})
    with pytest.raises(ConfigError, match="unknown key 'graph.gab'.*did you mean 'gap'"):
        compose(["graph=skip", "graph.gab=3"], registry=registry)


def test_synthetic_yaml_matches_the_generator_defaults_but_for_its_size():
    from dataclasses import asdict

    from dialogues import SyntheticConfig
    counts = ("num_train", "num_dev", "num_test")
    configured = compose([])["dataset"]["synthetic"]
    defaults = asdict(SyntheticConfig())
    assert {k: v for k, v in configured.items() if k not in counts} == \
           {k: v for k, v in defaults.items() if k not in counts}
    assert [configured[k] for k in counts] == [40, 8, 12]
