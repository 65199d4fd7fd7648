"""Build hook: compile the data plane's hot modules with mypyc (see kubegate/native.py).

Everything else about the package is in pyproject.toml. Set KUBEGATE_PURE_PYTHON=1
to build without compiling; a machine without a C compiler gets a pure-Python
install too (the extensions are optional), and runs the same code, slower.
"""

import os
import runpy

from setuptools import setup

ext_modules = []
if os.environ.get("KUBEGATE_PURE_PYTHON") != "1":
    from mypyc.build import mypycify

    native = runpy.run_path(os.path.join("kubegate", "native.py"))
    compiled = native["COMPILED"]
    for path in native["orphans"](os.getcwd()):  # modules no longer compiled
        os.remove(path)
    paths = [os.path.join(*m.split(".")) + ".py" for m in compiled]
    ext_modules = mypycify(paths, opt_level="3", group_name=native["GROUP"])
    for ext in ext_modules:
        ext.optional = True  # no compiler: install the sources alone

setup(ext_modules=ext_modules)
