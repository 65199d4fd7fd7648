"""The compiled data plane (kubegate/native.py): which build runs, and never a stale one."""

from __future__ import annotations

import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubegate import native

REPO = Path(__file__).resolve().parents[2]
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def tree(root: Path, *, source_age: float, built_age: float | None) -> None:
    """A fake kubegate/proxy/exchange with a source and (optionally) an extension of
    the given ages in seconds."""
    pkg = root / "kubegate" / "proxy"
    pkg.mkdir(parents=True)
    now = 1_800_000_000.0
    source = pkg / "exchange.py"
    source.write_text("")
    os.utime(source, (now - source_age, now - source_age))
    if built_age is not None:
        built = pkg / f"exchange{SUFFIX}"
        built.write_bytes(b"")
        os.utime(built, (now - built_age, now - built_age))


def test_a_source_edited_after_the_build_is_stale(tmp_path: Path) -> None:
    tree(tmp_path, source_age=10, built_age=100)
    assert native.stale_modules(["kubegate.proxy.exchange"], str(tmp_path)) == [
        "kubegate.proxy.exchange"]


def test_a_build_newer_than_its_source_is_used(tmp_path: Path) -> None:
    tree(tmp_path, source_age=100, built_age=10)
    assert native.stale_modules(["kubegate.proxy.exchange"], str(tmp_path)) == []
    assert native.compiled_of("kubegate.proxy.exchange", str(tmp_path)) == str(
        tmp_path / "kubegate" / "proxy" / f"exchange{SUFFIX}")


def test_a_rebuilt_shared_library_makes_an_untouched_shim_current(tmp_path: Path) -> None:
    """A rebuild regenerates the group's shared library (the code) and may leave a
    module's shim extension as it was: the source is then older than the build."""
    tree(tmp_path, source_age=10, built_age=100)
    library = tmp_path / f"{native.GROUP}__mypyc{SUFFIX}"
    library.write_bytes(b"")
    os.utime(library, (1_800_000_000.0 - 5, 1_800_000_000.0 - 5))
    assert native.stale_modules(["kubegate.proxy.exchange"], str(tmp_path)) == []


def test_sources_without_a_build_are_not_stale(tmp_path: Path) -> None:
    tree(tmp_path, source_age=10, built_age=None)
    assert native.stale_modules(["kubegate.proxy.exchange"], str(tmp_path)) == []
    assert native.compiled_of("kubegate.proxy.exchange", str(tmp_path)) is None


def test_extensions_of_modules_no_longer_compiled_are_orphans(tmp_path: Path) -> None:
    tree(tmp_path, source_age=100, built_age=10)  # kubegate.proxy.exchange: compiled
    old = tmp_path / "kubegate" / "proxy" / f"forward{SUFFIX}"  # not compiled any more
    old.write_bytes(b"")
    assert native.orphans(str(tmp_path)) == [str(old)]


def test_the_source_finder_takes_only_the_compiled_modules() -> None:
    finder = native.SourceFinder()
    spec = finder.find_spec("kubegate.proxy.exchange")
    assert spec is not None and spec.origin == str(REPO / "kubegate" / "proxy" / "exchange.py")
    assert finder.find_spec("kubegate.policies.pipeline") is None
    assert finder.find_spec("json") is None


def test_every_compiled_module_exists_as_a_source() -> None:
    assert all(os.path.exists(native.source_of(m)) for m in native.COMPILED)


def imported_files(env: dict[str, str]) -> list[str]:
    code = ("import kubegate.native as n, importlib; "
            "print('\\n'.join(importlib.import_module(m).__file__ for m in n.COMPILED))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, **env}, cwd=REPO, timeout=60, check=True)
    return out.stdout.split()


def test_pure_python_mode_imports_every_compiled_module_from_its_source() -> None:
    files = imported_files({native.PURE_ENV: "1"})
    assert files == [native.source_of(m) for m in native.COMPILED]
    assert all(f.endswith(".py") for f in files)


def test_a_fresh_build_is_what_gets_imported() -> None:
    if not all(native.compiled_of(m) for m in native.COMPILED) or native.stale_modules():
        why = ("the data plane is not compiled here (no C compiler at install time, "
               "KUBEGATE_PURE_PYTHON=1, or sources edited since `pip install -e .`)")
        if os.environ.get("KUBEGATE_EXPECT_COMPILED") == "1":  # set by .ci/run
            pytest.fail(why)
        pytest.skip(why)
    files = imported_files({native.PURE_ENV: ""})
    assert files == [native.compiled_of(m) for m in native.COMPILED]


def test_the_switch_makes_is_compiled_false(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(native.PURE_ENV, "1")
    assert not native.is_compiled()


def test_a_compiled_coroutine_is_a_coroutine_to_the_policy_exchange() -> None:
    """A lane returns a coroutine when it must wait (a key guard); compiled, that is not
    Python's coroutine type, and a PolicyExchange that missed it would never answer."""
    from kubegate.proxy.eager import is_coroutine
    from kubegate.services.counters.batch import Coalescer

    async def flush(batch: list[int]) -> list[int]:
        return batch

    async def plain() -> None:
        return None

    compiled = Coalescer(flush, timeout=1.0).submit(1)  # a coroutine of a COMPILED module
    native_coro = plain()
    try:
        assert is_coroutine(compiled) and is_coroutine(native_coro)
        assert not is_coroutine(object()) and not is_coroutine(None)
    finally:
        compiled.close()
        native_coro.close()
