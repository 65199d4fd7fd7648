"""include-fragment and the cache-*-value policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubegate.model.errors import ConfigError
from kubegate.policies.builtin.cache_value import MemoryValueCache
from kubegate.policies.compiler import CompileEnv

from .helpers import doc, pipeline, run

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)


async def test_include_fragment_inlines_file(tmp_path: Path) -> None:
    (tmp_path / "fragments").mkdir()
    (tmp_path / "fragments" / "common.xml").write_text(
        '<fragment><set-header name="X-F" exists-action="override"><value>f</value>'
        '</set-header><include-fragment fragment-id="inner" /></fragment>')
    (tmp_path / "fragments" / "inner.yaml").write_text(
        "fragment:\n  - set-variable: {name: inner, value: yes}\n")
    env = CompileEnv(base_dir=tmp_path)
    ctx, backend = await run(doc(inbound='<include-fragment fragment-id="common" />'), env=env)
    assert backend.calls[0]["headers"] == [("X-F", "f")]
    assert ctx.Variables["inner"] == "yes"


def test_include_fragment_errors(tmp_path: Path) -> None:
    (tmp_path / "fragments").mkdir()
    (tmp_path / "fragments" / "loop.xml").write_text(
        '<fragment><include-fragment fragment-id="loop" /></fragment>')
    (tmp_path / "fragments" / "bad.xml").write_text(
        '<fragment>\n<nope /></fragment>')
    env = CompileEnv(base_dir=tmp_path)
    with pytest.raises(ConfigError, match="fragment cycle: loop -> loop"):
        pipeline(doc(inbound='<include-fragment fragment-id="loop" />'), env)
    with pytest.raises(ConfigError, match="not found"):
        pipeline(doc(inbound='<include-fragment fragment-id="missing" />'), env)
    with pytest.raises(ConfigError, match="invalid fragment id"):
        pipeline(doc(inbound='<include-fragment fragment-id="../x" />'), env)
    with pytest.raises(ConfigError) as info:
        pipeline(doc(inbound='<include-fragment fragment-id="bad" />'), env)
    assert "bad.xml:2:1: <nope>: unsupported policy element" in str(info.value)


async def test_cache_values_with_injected_clock() -> None:
    now = [100.0]
    cache = MemoryValueCache(clock=lambda: now[0])
    env = CompileEnv(services={"cache": cache})
    store = doc(inbound='<cache-store-value key="@(&quot;k-&quot; + context.Request.Method)" '
                        'value="v1" duration="10" />')
    lookup = doc(inbound='<cache-lookup-value key="k-GET" variable-name="got" '
                         'default-value="none" />')
    await run(store, env=env)
    ctx, _ = await run(lookup, env=env)
    assert ctx.Variables["got"] == "v1"
    now[0] += 11
    ctx, _ = await run(lookup, env=env)
    assert ctx.Variables["got"] == "none"
    await run(store, env=env)
    await run(doc(inbound='<cache-remove-value key="k-GET" />'), env=env)
    ctx, _ = await run(lookup.replace(' default-value="none"', ""), env=env)
    assert "got" not in ctx.Variables


def test_cache_evicts_oldest() -> None:
    cache = MemoryValueCache(clock=lambda: 0.0, max_entries=2)
    for k in "abc":
        cache.set(k, k, 5)
    assert cache.get("a") == (False, None) and cache.get("c") == (True, "c")
