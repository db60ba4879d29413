"""Plugins arrive through the ``ergraph`` entry point, with no edit to
ergraph. Each test installs a real distribution (a dist-info folder on
sys.path, exactly what pip leaves behind) in a temporary directory."""
import pytest

from graphs import DialogueBatch, validate
from plugins import hookimpl
from registry import EdgeBuilderRegistry, UnknownEdgeBuilderError, plugin_autoload_disabled

from .helpers import GOOD_PLUGIN, install


def test_installed_plugin_is_usable_by_name(tmp_path, monkeypatch):
    registry = install(tmp_path, monkeypatch, "ergraph-skip", "ergraph_skip", GOOD_PLUGIN)
    assert "skip" in registry.names()
    batch = DialogueBatch([4], [0, 1, 0, 1], ("text",))
    g = validate(registry.get("skip", gap=2), batch, "skip")
    assert g.edge_index.tolist() == [[0, 1], [2, 3]]
    assert registry.plugin_errors == []


def test_entry_points_can_be_switched_off(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, "ergraph-skip", "ergraph_skip", GOOD_PLUGIN)
    assert "skip" not in EdgeBuilderRegistry(entry_points=False).names()


def test_plugin_that_fails_to_import_is_named(tmp_path, monkeypatch):
    registry = install(tmp_path, monkeypatch, "ergraph-broken", "ergraph_broken",
                       "raise ImportError('needs a GPU library')\n")
    with pytest.warns(RuntimeWarning, match="plugin 'ergraph-broken'.*needs a GPU"):
        names = registry.names()
    assert "window" in names
    with pytest.raises(UnknownEdgeBuilderError, match="plugin 'ergraph-broken'"):
        registry.get("broken_thing")


def test_plugin_with_an_invalid_builder_contributes_nothing(tmp_path, monkeypatch):
    registry = install(tmp_path, monkeypatch, "ergraph-clash", "ergraph_clash", '''
        from graphs import NoEdges
        from plugins import hookimpl

        @hookimpl
        def register_edge_builders(register):
            register("fine", NoEdges)
            register("window", NoEdges)
    ''')
    with pytest.warns(RuntimeWarning, match="plugin 'ergraph-clash'.*'window' is "
                                            "already registered by ergraph"):
        names = registry.names()
    assert "fine" not in names
    assert registry.get("window").params() == {"past": 4, "future": 4, "self_loops": False}


def test_hook_registered_without_entry_point():
    class Plugin:
        @hookimpl
        def register_edge_builders(self, register):
            register("mine", lambda: None)
            raise RuntimeError("boom")
    registry = EdgeBuilderRegistry(entry_points=False, plugins=[("my-plugin", Plugin())])
    with pytest.warns(RuntimeWarning, match="plugin 'my-plugin': RuntimeError: boom"):
        assert "mine" not in registry


def test_a_registry_can_load_only_named_distributions(tmp_path, monkeypatch):
    install(tmp_path / "a", monkeypatch, "ergraph-skip", "ergraph_skip", GOOD_PLUGIN)
    other = install(tmp_path / "b", monkeypatch, "ergraph-other", "ergraph_other",
                    GOOD_PLUGIN.replace('register("skip"', 'register("other_skip"'))
    assert "skip" not in other.names() and "other_skip" in other.names()
    everything = EdgeBuilderRegistry()
    assert {"skip", "other_skip"} <= set(everything.names()), everything.plugin_errors


@pytest.mark.parametrize("value, disabled", [
    (None, False), ("", False), ("0", False), ("false", False), ("no", False),
    ("1", True), ("true", True), ("YES", True)])
def test_the_autoload_switch_reads_zero_as_off(value, disabled):
    environ = {} if value is None else {"ERGRAPH_DISABLE_PLUGIN_AUTOLOAD": value}
    assert plugin_autoload_disabled(environ) is disabled
