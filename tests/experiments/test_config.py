import re
from dataclasses import asdict, dataclass

import pytest

from dialogues import SyntheticConfig
from runner.config import (CHECKOUT, CONFIG_DIR, ConfigError, DatasetOptions, GraphOptions,
                           compose, dump, graph_spec, groups, option_type, run_config)
from runner.training import TrainConfig
from graphs import NoEdges
from registry import EdgeBuilderRegistry, default_registry


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


@pytest.mark.parametrize("args, match", [
    (["graph=casual"], "unknown graph 'casual'; choices: causal, corect, .*did you mean "
                       "'causal'\\?"),
    (["grap=window"], "unknown key 'grap' in top level; .*did you mean 'graph'\\?"),
    (["graph.pats=2"], "unknown key 'graph.pats' in graph; choices: future, name, past; "
                       "did you mean 'past'\\?"),
    (["traim.lr=1"], "no section 'traim' at top level; .*did you mean 'train'\\?"),
    (["train.epochs=many"], "train.epochs='many': expected int"),
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
    counts = ("num_train", "num_dev", "num_test")
    configured = compose([])["dataset"]["synthetic"]
    defaults = asdict(SyntheticConfig())
    assert {k: v for k, v in configured.items() if k not in counts} == \
           {k: v for k, v in defaults.items() if k not in counts}
    assert [configured[k] for k in counts] == [40, 8, 12]


@pytest.mark.parametrize("args, key, value", [
    (["dataset.modalities=text"], ("dataset", "modalities"), ["text"]),
    (["dataset.modalities=text,audio"], ("dataset", "modalities"), ["text", "audio"]),
    (["dataset.modalities=[text,audio]"], ("dataset", "modalities"), ["text", "audio"]),
    (["train.ema_decay=0.99"], ("train", "ema_decay"), 0.99),
    (["train.ema_decay=0.99", "train.ema_decay=null"], ("train", "ema_decay"), None),
    (["train.max_grad_norm=null"], ("train", "max_grad_norm"), None),
    (["out=runs/x"], ("out",), "runs/x"),
    (["log=tensorboard"], ("log",), "tensorboard"),
    (["dataset.label_view=iemocap_4"], ("dataset", "label_view"), "iemocap_4"),
])
def test_options_whose_default_is_null_are_typed(args, key, value):
    node = compose(args)
    for part in key:
        node = node[part]
    assert node == value


@pytest.mark.parametrize("args, message", [
    (["train.ema_decay=abc"], "train.ema_decay='abc': expected float or null"),
    (["seed=0,1"], "seed='0,1': several values; add -m to sweep over them"),
    (["graph=window,causal"], "graph='window,causal': several values; add -m"),
    (["log=tb"], "log='tb': expected one of tensorboard or null"),
    (["launcher=slurm"], "launcher='slurm': expected one of local, ray"),
    (["model.sequence_encoder=lstm"], "expected one of transformer, gru"),
])
def test_typed_options_refuse_other_values(args, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        compose(args)


def test_every_key_of_every_config_file_has_a_declared_type():

    def keys(node, prefix=""):
        for key, value in node.items():
            if isinstance(value, dict) and key not in ("modalities", "noise"):
                yield from keys(value, f"{prefix}{key}.")
            else:
                yield f"{prefix}{key}"

    for group, options in groups(CONFIG_DIR).items():
        for option in options:
            config = compose([f"{group}={option}"])
            graph = config["graph"]["name"]
            untyped = [k for k in keys(config) if k != "graph.name"
                       and option_type(k, default_registry, graph) is None]
            assert untyped == [], f"{group}={option}"


def test_dataset_paths_find_their_data_under_the_data_root_not_the_working_directory(
        tmp_path, monkeypatch):
    monkeypatch.delenv("ERGRAPH_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    assert compose(["dataset=meld"])["dataset"]["path"] == str(
        (CHECKOUT.parent / "shared" / "data" / "meld").resolve())
    monkeypatch.setenv("ERGRAPH_DATA", str(tmp_path / "corpora"))
    assert compose(["dataset=iemocap_4"])["dataset"]["path"] == str(
        tmp_path / "corpora" / "iemocap")
    # A path on the command line is relative to where the user is where it
    # exists there, else under the data root, as the presets' paths are.
    assert compose(["dataset=meld", "dataset.path=mine"])["dataset"]["path"] == str(
        tmp_path / "corpora" / "mine")
    (tmp_path / "here").mkdir()
    assert compose(["dataset=meld", "dataset.path=here"])["dataset"]["path"] == str(
        tmp_path / "here")


def test_a_run_is_named_after_its_data(tmp_path):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "dataset.yaml").write_text("name: dailydialog\nlabels: [a]\n")
    config = compose([f"dataset.path={folder}"])
    assert config["dataset"] == {"name": "dailydialog", "path": str(folder),
                                 "modalities": None, "label_view": None, "pool": None}
    assert "synthetic" not in dump(config)

    (tmp_path / "bare").mkdir()
    assert compose([f"dataset.path={tmp_path / 'bare'}"])["dataset"]["name"] == "bare"
    for pickle in ("feats.v2.pkl", "data_iemocap_4.pkl"):
        (tmp_path / pickle).write_bytes(b"")  # named without being read
    assert compose([f"dataset.path={tmp_path / 'feats.v2.pkl'}"])["dataset"]["name"] \
        == "feats.v2"
    assert compose([f"dataset.path={tmp_path / 'data_iemocap_4.pkl'}"])["dataset"][
        "name"] == "iemocap_4"
    # A name the user gives, or a dataset they chose, stays.
    assert compose([f"dataset.path={folder}", "dataset.name=mine"])["dataset"]["name"] \
        == "mine"
    assert compose(["dataset=meld", f"dataset.path={folder}"])["dataset"]["name"] == "meld"
    assert compose([])["dataset"]["synthetic"]["num_train"] == 40


@pytest.mark.parametrize("args, message", [
    (["latency=3"], "latency='3': latency is a section; set its keys, e.g. latency.repeats"),
    (["dataset.name="], "dataset.name=: expected a non-empty str"),
    (["train.epochs=0x10"], "train.epochs='0x10': expected int"),
    (["train.class_weights=on"], "train.class_weights='on': expected bool"),
    (["model.sequence_modalities=[text],[audio]"], "expected one list of str; several "
                                                   "lists sweep only with -m"),
    (["model.sequence_modalities=null"], "model.sequence_modalities='null': expected "
                                         "list of str"),
])
def test_values_that_would_train_the_wrong_thing_are_refused(args, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        compose(args)


def test_the_runner_receives_the_configuration_typed(tmp_path):
    config = run_config(compose(["graph=causal", "graph.past=2", "train.lr=0.01",
                                 f"dataset.path={tmp_path}", "cv=3", "jobs=2"]))
    assert isinstance(config.train, TrainConfig) and config.train.lr == 0.01
    assert config.graph == GraphOptions("causal", {"past": 2, "self_loops": False})
    assert isinstance(config.dataset, DatasetOptions) and config.dataset.path == tmp_path
    assert (config.cv, config.jobs, config.launcher, config.seed) == (3, 2, "local", 0)
    assert run_config(config) is config
    synthetic = run_config(compose([])).dataset
    assert synthetic.path is None and isinstance(synthetic.synthetic, SyntheticConfig)


def test_a_section_its_dataclass_refuses_is_a_config_error():
    with pytest.raises(ConfigError, match="dataset.synthetic: "):
        run_config({**compose([]), "dataset": {"name": "synthetic", "synthetic": {"nope": 1}}})
