import os

# Tests see exactly the built-ins unless a test installs a plugin itself.
os.environ.setdefault("ERGRAPH_DISABLE_PLUGIN_AUTOLOAD", "1")

# A local Ray instance takes this machine's network address for its node
# unless this flag (named for the platforms where it is the default) says
# loopback; tests keep every byte of their traffic on 127.0.0.1. Set before
# any test imports Ray, and inherited by the processes Ray starts.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
