"""Plain helpers that the plugin tests share: a plugin's source, and an
installer that leaves what pip leaves behind."""
import sys
import textwrap

from registry import EdgeBuilderRegistry

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
    ``ergraph`` entry point; return a registry that loads this plugin and
    no other installed one, so that a test does not clash with the user's
    own plugins (the README's registers ``skip`` too)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    # Named as pip names it: importlib.metadata takes the distribution's
    # name from the folder up to the first '-' and lists one per name.
    info = tmp_path / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[ergraph]\n{module} = {module}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    return EdgeBuilderRegistry(entry_points=[dist])
