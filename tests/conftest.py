import os

# Tests see exactly the built-ins unless a test installs a plugin itself.
os.environ.setdefault("ERGRAPH_DISABLE_PLUGIN_AUTOLOAD", "1")
