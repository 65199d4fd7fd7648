"""Check-mode placeholders in numeric attributes, nested quotas without
renewal-period, and the include-fragment lookup (beside the document, APIOps)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import cast

import pytest

from kubegate.model.errors import ConfigError
from kubegate.policies.check import check_file
from kubegate.policies.compiler import CompileEnv
from kubegate.policies.context import ApiInfo, OperationInfo, SubscriptionInfo
from kubegate.policies.state import PolicyContext
from kubegate.services.counters import MemoryCounterStore

from .helpers import FakeBackend, doc, pipeline

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)

SEND = ('<send-request mode="new" response-variable-name="r" timeout="{{t}}">'
        '<set-url>https://example.com/</set-url></send-request>')
RLK = '<rate-limit-by-key calls="{{calls}}" renewal-period="{{period}}" counter-key="k" />'


def check_env(**named: str) -> CompileEnv:
    return CompileEnv(named_values=named, placeholder_named_values=True)


def test_unconfigured_named_value_in_a_ranged_attribute_passes_check_mode() -> None:
    pipe = pipeline(doc(inbound=SEND), check_env())
    step = pipe.inbound[0]
    assert step.name == "send-request"


def test_configured_named_value_out_of_range_is_still_an_error() -> None:
    with pytest.raises(ConfigError, match="must be between 1 and 3600, got 0"):
        pipeline(doc(inbound=SEND), check_env(t="0"))
    with pytest.raises(ConfigError, match="must be between 1 and 3600, got 0"):
        pipeline(doc(inbound=SEND), CompileEnv(named_values={"t": "0"}))
    with pytest.raises(ConfigError, match="expected an integer"):
        pipeline(doc(inbound=SEND), check_env(t="soon"))


def test_literal_out_of_range_value_fails_in_check_mode() -> None:
    with pytest.raises(ConfigError, match="must be between 1 and 3600, got 0"):
        pipeline(doc(inbound=SEND.replace("{{t}}", "0")), check_env())


def test_limit_attributes_from_unconfigured_named_values_pass_check_mode() -> None:
    pipeline(doc(inbound=RLK), check_env())
    with pytest.raises(ConfigError, match="must be between 1 and 300, got 0"):
        pipeline(doc(inbound=RLK), check_env(calls="5", period="0"))


def test_check_file_with_a_named_value_timeout(tmp_path: Path) -> None:
    f = tmp_path / "p.xml"
    f.write_text(doc(inbound=SEND.replace("{{t}}", "{{bff-timeout}}")))
    assert check_file(f).ok


# -- quota with nested api/operation -------------------------------------------------------
T0 = 1_700_000_000.0
NESTED = ('<quota calls="100" renewal-period="3600"><api name="orders" calls="2">'
          '<operation name="create-order" calls="1" /></api></quota>')


async def call(pipe: object, store: MemoryCounterStore, op: str, api: str = "orders",
               sub: str = "s1") -> int:
    ctx = cast(PolicyContext, PolicyContext.for_request(
        "GET", "/api/x", "", [], "10.0.0.1", "https", "gw", ApiInfo(Id=api, Name=api, Path="api"),
        OperationInfo(Id=op, Name=op, Method="GET"), None, clock=lambda: T0))
    ctx.Subscription = SubscriptionInfo(Id=sub, Name=sub, CreatedDate=datetime.fromtimestamp(T0))
    await pipe.execute(ctx, FakeBackend())  # type: ignore[attr-defined]
    return int(ctx.Response.StatusCode)


async def test_nested_quotas_without_renewal_period_count_per_api_and_operation() -> None:
    store = MemoryCounterStore(clock=lambda: T0)
    pipe = pipeline(doc(inbound=NESTED), CompileEnv(services={"counters": store}))
    assert await call(pipe, store, "create-order") == 200  # op 1/1, API 1/2
    assert await call(pipe, store, "list-orders") == 200   # API 2/2
    assert await call(pipe, store, "create-order") == 403  # the operation's 1 call used
    assert await call(pipe, store, "list-orders") == 403   # the API's 2 calls used
    assert await call(pipe, store, "list-orders", api="billing") == 200  # not nested: product
    assert await call(pipe, store, "create-order", sub="s2") == 200  # per subscription


async def test_nested_quota_window_is_the_enclosing_renewal_period() -> None:
    clock = [T0]
    store = MemoryCounterStore(clock=lambda: clock[0])
    pipe = pipeline(doc(inbound=NESTED), CompileEnv(services={"counters": store}))
    assert await call(pipe, store, "create-order") == 200
    assert await call(pipe, store, "create-order") == 403
    clock[0] += 3600
    assert await call(pipe, store, "create-order") == 200  # a new 3600 s window


def test_nested_quota_keeps_its_own_renewal_period() -> None:
    from kubegate.policies.builtin.limits_quota import inherit_periods
    from kubegate.sources.apim.xml_loader import parse_xml_tree
    el = parse_xml_tree('<quota calls="5" renewal-period="60"><api name="a" calls="1" '
                        'renewal-period="10"><operation name="o" calls="1"/></api></quota>')
    out = inherit_periods(el)
    api = out.children[0]
    assert api.attributes["renewal-period"] == "10"
    assert api.children[0].attributes["renewal-period"] == "10"


# -- include-fragment lookup ------------------------------------------------------------
FRAG = ('<fragment><set-header name="X-From" exists-action="override">'
        '<value>{}</value></set-header></fragment>')
INCLUDE = doc(inbound='<include-fragment fragment-id="f1" />')


async def included_header(base: Path) -> str | None:
    pipe = pipeline(INCLUDE, CompileEnv(base_dir=base))
    backend = FakeBackend()
    from .helpers import make_ctx
    await pipe.execute(make_ctx(), backend)
    return dict(backend.calls[0]["headers"]).get("X-From")


async def test_fragment_beside_the_document(tmp_path: Path) -> None:
    (tmp_path / "f1.xml").write_text(FRAG.format("beside"))
    assert await included_header(tmp_path) == "beside"


async def test_fragments_folder_wins_over_a_file_beside(tmp_path: Path) -> None:
    (tmp_path / "f1.xml").write_text(FRAG.format("beside"))
    (tmp_path / "fragments").mkdir()
    (tmp_path / "fragments" / "f1.xml").write_text(FRAG.format("fragments"))
    assert await included_header(tmp_path) == "fragments"


async def test_apiops_layout_from_the_root_and_from_an_operation_folder(tmp_path: Path) -> None:
    frag = tmp_path / "policy fragments" / "f1"
    frag.mkdir(parents=True)
    (frag / "policy.xml").write_text(FRAG.format("apiops"))
    assert await included_header(tmp_path) == "apiops"
    op_dir = tmp_path / "apis" / "basic-api" / "operations" / "get-items"
    op_dir.mkdir(parents=True)
    assert await included_header(op_dir) == "apiops"


def test_missing_fragment_is_still_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="fragment 'f1' not found"):
        pipeline(INCLUDE, CompileEnv(base_dir=tmp_path))
