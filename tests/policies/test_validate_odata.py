"""validate-odata-request through the pipeline: versions, size, system query options."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kubegate.model.errors import ConfigError

from .helpers import doc, err, make_ctx, pipeline, run

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)

POLICY = doc(inbound='<validate-odata-request error-variable-name="odata" '
                     'default-odata-version="4.0" min-odata-version="4.0" '
                     'max-odata-version="4.01" max-size="100" />')


def message(ctx: Any) -> str:
    return str(json.loads(ctx.Response.Body.content or b"{}")["message"])


@pytest.mark.parametrize(("query", "headers"), [
    ("$filter=Name eq 'O''Neil' and (Age gt 3)&$top=5&$skip=0&$count=true&$select=Name",
     []),
    ("$format=application/json;odata.metadata=minimal&custom=1&@p=1", [("OData-Version", "4.0")]),
    ("$COMPUTE=Price mul 2 as Total&$index=1", [("OData-Version", "4.01")]),
    ("", [("OData-MaxVersion", "4.01")]),
])
async def test_valid_requests_pass(query: str, headers: list[tuple[str, str]]) -> None:
    ctx, backend = await run(POLICY, make_ctx(query=query, headers=headers))
    assert len(backend.calls) == 1 and "odata" not in ctx.Variables


@pytest.mark.parametrize(("query", "headers", "body", "text"), [
    ("", [("OData-Version", "3.0")], None,
     "OData version 3.0 is not supported: the API accepts 4.0 to 4.01."),
    ("", [("OData-Version", "four")], None, "The OData-Version header value 'four' is not a version."),
    ("", [("OData-MaxVersion", "3.0")], None,
     "The OData-MaxVersion header value '3.0' is below the lowest supported version 4.0."),
    ("", [], b"x" * 101, "Request's body is 101 bytes long and it exceeds the limit of 100 bytes."),
    ("$top=-1", [], None, "The value '-1' of the query option $top is not a non-negative integer."),
    ("$count=yes", [], None, "The value 'yes' of the query option $count is not true or false."),
    ("$format=csv", [], None, "The value 'csv' of the query option $format is not a known format."),
    ("$filter=(a eq 1", [], None,
     "The value of the query option $filter has unbalanced parentheses or quotes."),
    ("$filter=", [], None, "The query option $filter has no value."),
    ("$top=1&$top=2", [], None, "The query option $top is given more than once."),
    ("$bogus=1", [], None, "The query option $bogus is not an OData 4.0 system query option."),
    ("$compute=x", [], None, "The query option $compute is not an OData 4.0 system query option."),
    ("$Filter=a", [], None, "The query option $Filter is not an OData 4.0 system query option."),
])
async def test_invalid_requests_get_400(query: str, headers: list[tuple[str, str]],
                                        body: bytes | None, text: str) -> None:
    ctx, backend = await run(POLICY, make_ctx("POST", query=query, headers=headers, body=body))
    assert backend.calls == [] and ctx.Response.StatusCode == 400
    assert message(ctx) == text and err(ctx).Source == "validate-odata-request"
    assert ctx.Variables["odata"][0]["Details"] == text


async def test_default_version_applies_without_header() -> None:
    xml = doc(inbound='<validate-odata-request default-odata-version="4.01" />')
    _, backend = await run(xml, make_ctx(query="$compute=a"))
    assert len(backend.calls) == 1
    strict = doc(inbound='<validate-odata-request default-odata-version="4.0" '
                         'min-odata-version="4.01" />')
    ctx, _ = await run(strict, make_ctx())
    assert ctx.Response.StatusCode == 400 and "4.0 is not supported" in message(ctx)


@pytest.mark.parametrize(("attrs", "needle"), [
    ('default-odata-version="four"', "expected an OData version"),
    ('min-odata-version="4.01" max-odata-version="4.0"', "is above max-odata-version"),
    ('max-size="-1"', "must be between 0"),
    ('bogus="1"', "unsupported attribute"),
])
def test_compile_errors(attrs: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        pipeline(doc(inbound=f"<validate-odata-request {attrs} />"))
