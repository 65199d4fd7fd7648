"""The data plane's hot modules, compiled to C by mypyc, and when to run them as source.

How it works: `pip install` runs setup.py, which compiles the modules in `COMPILED`
with mypyc into extension modules next to their sources (in place for an editable
install, into the wheel otherwise). Python's import system prefers an extension
module to a `.py` file of the same name, so the compiled code runs from then on;
the sources stay the reference and the tests run against whatever is imported.
Compiled, the plain proxy path executes about 40% fewer CPU instructions per
request (docs/benchmark.md).

`use_sources_if_needed()` (called when the `kubegate` package is imported) makes
every module of `COMPILED` import from its `.py` file instead when
`KUBEGATE_PURE_PYTHON=1` is set, or when any source is newer than its compiled
module: an edited checkout runs what was edited, never a stale build, and says so
once on stderr. Rebuilding (`pip install -e .`) brings the compiled modules back.

Invariants: either all of `COMPILED` run compiled or none does (they call each
other directly in C, so a mix would bypass the edited source); nothing here
imports another kubegate module.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from importlib.util import spec_from_file_location
from types import ModuleType

#: The modules setup.py compiles (dotted names). A module that subclasses one of
#: these classes must be compiled too: mypyc's classes refuse interpreted subclasses.
COMPILED: tuple[str, ...] = (
    "kubegate.observability.metrics",
    "kubegate.policies.builtin.limits",
    "kubegate.policies.runtime",
    "kubegate.policies.subscription",
    "kubegate.proxy.client",
    "kubegate.proxy.egress",
    "kubegate.proxy.errors",
    "kubegate.proxy.exchange",
    "kubegate.proxy.headers",
    "kubegate.proxy.held",
    "kubegate.proxy.request",
    "kubegate.proxy.server",
    "kubegate.proxy.upstream",
    "kubegate.services.counters.base",
    "kubegate.services.counters.batch",
    "kubegate.services.counters.core",
    "kubegate.services.counters.memory",
    "kubegate.services.counters.redis_store",
    "kubegate.services.counters.resp",
)
GROUP = "kubegate_native"  # mypyc's group: the compiled code is one shared library
PURE_ENV = "KUBEGATE_PURE_PYTHON"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # holds kubegate/


def source_of(module: str, root: str = ROOT) -> str:
    return os.path.join(root, *module.split(".")) + ".py"


def compiled_of(module: str, root: str = ROOT) -> str | None:
    """The extension module built for `module`, if there is one."""
    base = os.path.join(root, *module.split("."))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if os.path.exists(base + suffix):
            return base + suffix
    return None


def stale_modules(modules: Sequence[str] = COMPILED, root: str = ROOT) -> list[str]:
    """Compiled modules whose source changed after they were built. A module's own
    extension is a small shim a rebuild may leave untouched; its code is in the group's
    shared library (`GROUP`), rebuilt whenever a source changed, so the later of the
    two is when the module was built."""
    library = compiled_of(GROUP + "__mypyc", root)
    library_time = os.path.getmtime(library) if library is not None else 0.0
    stale = []
    for module in modules:
        shim = compiled_of(module, root)
        if shim is None:
            continue
        built = max(os.path.getmtime(shim), library_time)
        if os.path.getmtime(source_of(module, root)) > built:
            stale.append(module)
    return stale


def orphans(root: str = ROOT) -> list[str]:
    """Extension modules under kubegate/ for modules no longer in `COMPILED` (left by an
    earlier in-place build): they would shadow their sources, so setup.py deletes them."""
    found = []
    for directory, _, files in os.walk(os.path.join(root, "kubegate")):
        for name in files:
            suffix = next((s for s in importlib.machinery.EXTENSION_SUFFIXES
                           if name.endswith(s)), None)
            if suffix is None:
                continue
            path = os.path.join(directory, name)
            module = os.path.relpath(path[: -len(suffix)], root).replace(os.sep, ".")
            if module not in COMPILED:
                found.append(path)
    return found


def is_compiled() -> bool:
    """Whether importing the data plane now loads the compiled modules."""
    return (os.environ.get(PURE_ENV) != "1"
            and all(compiled_of(m) is not None for m in COMPILED) and not stale_modules())


class SourceFinder(MetaPathFinder):
    """Finds the modules of `COMPILED` as their `.py` files, ahead of the extensions."""

    def find_spec(self, fullname: str, path: Sequence[str] | None = None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname not in COMPILED:
            return None
        return spec_from_file_location(fullname, source_of(fullname))


def use_sources_if_needed() -> None:
    if any(isinstance(f, SourceFinder) for f in sys.meta_path):
        return
    if os.environ.get(PURE_ENV) == "1":
        sys.meta_path.insert(0, SourceFinder())
        return
    stale = stale_modules()
    if stale:
        sys.meta_path.insert(0, SourceFinder())
        print(f"kubegate: {source_of(stale[0])} changed after it was compiled; running the "
              "data plane from its Python sources (slower). Rebuild with `pip install -e .`.",
              file=sys.stderr)
