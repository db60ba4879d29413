"""Plugins arrive through the ``ergraph`` entry point, with no edit to
ergraph. Each test installs a real distribution (a dist-info folder on
sys.path, exactly what pip leaves behind) in a temporary directory."""
import sys
import textwrap

import pytest

from graphs import DialogueBatch, validate
from plugins import hookimpl
from registry import EdgeBuilderRegistry, UnknownEdgeBuilderError

GOOD_PLUGIN = '''
from dataclasses import dataclass
import torch
from graphs import EdgeBuilder
from graphs import per_modality
from plugins import hookimpl

@dataclass
class SkipEdges(EdgeBuilder):
    """Each utterance receives from the turn two back."""
    gap: int = 2

    @property
    def causal(self):
        return True

    def relations(self, modalities):
        return [f"{m}:skip" for m in modalities]

    def edges(self, batch):
        target = torch.nonzero(batch.utterance_turn >= self.gap).flatten()
        return per_modality(batch, [(target - self.gap, target)])

@hookimpl
def register_edge_builders(register):
    register("skip", SkipEdges)
'''


def install(tmp_path, monkeypatch, dist, module, source):
    """Install module ``module`` as distribution ``dist`` with an
    ``ergraph`` entry point."""
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    info = tmp_path / f"{dist}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[ergraph]\n{module} = {module}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)


def test_installed_plugin_is_usable_by_name(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, "ergraph-skip", "ergraph_skip", GOOD_PLUGIN)
    registry = EdgeBuilderRegistry()
    assert "skip" in registry.names()
    batch = DialogueBatch([4], [0, 1, 0, 1], ("text",))
    g = validate(registry.get("skip", gap=2), batch, "skip")
    assert g.edge_index.tolist() == [[0, 1], [2, 3]]
    assert registry.plugin_errors == []


def test_entry_points_can_be_switched_off(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, "ergraph-skip", "ergraph_skip", GOOD_PLUGIN)
    assert "skip" not in EdgeBuilderRegistry(entry_points=False).names()


def test_plugin_that_fails_to_import_is_named(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, "ergraph-broken", "ergraph_broken",
            "raise ImportError('needs a GPU library')\n")
    registry = EdgeBuilderRegistry()
    with pytest.warns(RuntimeWarning, match="plugin 'ergraph-broken'.*needs a GPU"):
        names = registry.names()
    assert "window" in names
    with pytest.raises(UnknownEdgeBuilderError, match="plugin 'ergraph-broken'"):
        registry.get("broken_thing")


def test_plugin_with_an_invalid_builder_contributes_nothing(tmp_path, monkeypatch):
    install(tmp_path, monkeypatch, "ergraph-clash", "ergraph_clash", '''
        from graphs import NoEdges
        from plugins import hookimpl

        @hookimpl
        def register_edge_builders(register):
            register("fine", NoEdges)
            register("window", NoEdges)
    ''')
    registry = EdgeBuilderRegistry()
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
