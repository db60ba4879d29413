"""Plain helpers that the plugin tests share: a plugin's source, and an
installer that leaves what pip leaves behind."""
import sys
import textwrap

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
