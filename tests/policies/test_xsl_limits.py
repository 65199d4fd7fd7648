"""xsl-transform: no loading by URL from the stylesheet, caps on the body and the output."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubegate.model.errors import ConfigError
from kubegate.policies.builtin import xsl_transform

from .helpers import FakeBackend, doc, err, make_ctx, pipeline, run

pytestmark = pytest.mark.usefixtures("both_paths")  # execute and lane (conftest)

etree = pytest.importorskip("lxml.etree")

HEAD = '<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">'
QUADRATIC = (f'<xsl-transform>{HEAD}<xsl:template match="/"><r>'
             '<xsl:for-each select="//i[not(. = preceding::i)]"><u><xsl:value-of select="."/></u>'
             '</xsl:for-each></r></xsl:template></xsl:stylesheet></xsl-transform>')


def _included(tmp_path: Path) -> str:
    inc = tmp_path / "inc.xsl"
    inc.write_text(f'{HEAD}<xsl:template match="/"><leak>SECRET</leak></xsl:template>'
                   '</xsl:stylesheet>')
    return inc.as_uri()


@pytest.mark.parametrize("kind", ["include", "import"])
def test_include_and_import_of_a_file_url_are_compile_errors(tmp_path: Path, kind: str) -> None:
    uri = _included(tmp_path)
    xml = doc(inbound=f'<xsl-transform>{HEAD}<xsl:{kind} href="{uri}"/></xsl:stylesheet>'
                      '</xsl-transform>')
    with pytest.raises(ConfigError, match=f"<xsl:{kind} href=.*self-contained"):
        pipeline(xml)


def test_include_in_a_cdata_stylesheet_is_refused(tmp_path: Path) -> None:
    uri = _included(tmp_path)
    sheet = ('<x:stylesheet version="1.0" xmlns:x="http://www.w3.org/1999/XSL/Transform">'
             f'<x:include href="{uri}"/></x:stylesheet>')
    xml = doc(inbound=f"<xsl-transform><![CDATA[{sheet}]]></xsl-transform>")
    with pytest.raises(ConfigError, match="<xsl:include"):
        pipeline(xml)


def test_the_stylesheet_parser_refuses_every_url(tmp_path: Path) -> None:
    # Second line of defence: even a stylesheet that reached libxslt could not load a file.
    uri = _included(tmp_path)
    root = etree.fromstring(f'{HEAD}<xsl:include href="{uri}"/></xsl:stylesheet>'.encode(),
                            xsl_transform._parser(etree))
    with pytest.raises(xsl_transform.ExternalReference, match="inc.xsl"):
        etree.XSLT(root)


def _items(n: int) -> bytes:
    return b"<a>" + b"".join(b"<i>%d</i>" % k for k in range(n)) + b"</a>"


async def test_quadratic_stylesheet_within_the_node_cap_runs() -> None:
    ctx = make_ctx(method="POST", body=_items(50))
    _, backend = await run(doc(inbound=QUADRATIC), ctx)
    assert backend.calls[0]["body"].count(b"<u>") == 50


async def test_body_with_too_many_elements_is_refused_before_the_transform() -> None:
    n = xsl_transform.MAX_INPUT_NODES + 1  # 10 001 elements: small body, but O(n^2) to transform
    ctx, backend = await run(doc(inbound=QUADRATIC), make_ctx(method="POST", body=_items(n)))
    assert not backend.calls and ctx.Response.StatusCode == 400
    assert err(ctx).Reason == "XslTransformFailure"
    assert "more than 10000 XML elements" in err(ctx).Message


async def test_attributes_count_towards_the_node_cap() -> None:
    attrs = b" ".join(b'a%d="x"' % k for k in range(xsl_transform.MAX_INPUT_NODES))
    ctx, backend = await run(doc(inbound=QUADRATIC), make_ctx(method="POST",
                                                             body=b"<a " + attrs + b"/>"))
    assert not backend.calls and ctx.Response.StatusCode == 400


async def test_body_over_the_size_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xsl_transform, "MAX_INPUT_BYTES", 100)
    ctx, _ = await run(doc(outbound=QUADRATIC), backend=FakeBackend(body=_items(20)))
    assert ctx.Response.StatusCode == 502
    assert "larger than 100 bytes" in err(ctx).Message


async def test_output_over_its_cap_goes_to_on_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(xsl_transform, "MAX_OUTPUT_BYTES", 200)
    ctx, backend = await run(doc(inbound=QUADRATIC), make_ctx(method="POST", body=_items(30)))
    assert not backend.calls and ctx.Response.StatusCode == 400
    assert "output is larger than 200 bytes" in err(ctx).Message
