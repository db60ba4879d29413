"""``import graphs`` stays light: drawings and networkx views live in
``viewing``, so a builder, the model and a server load no plotting stack."""
import subprocess
import sys


def test_importing_graphs_loads_neither_matplotlib_nor_networkx():
    # A fresh interpreter: this one has long imported whatever other tests use.
    code = ("import sys, graphs; "
            "print(sorted(m for m in ('matplotlib', 'networkx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
