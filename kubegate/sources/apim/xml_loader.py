"""Load APIM policy XML (`<policies>` or `<fragment>`) into the policy model.

Expressions are masked first (`masking.mask`), then the document is parsed by
defusedxml's SAX parser (no DOCTYPE, no entities, no network), and every
attribute value and text is restored. Positions from the parser are mapped back
to the original text, so every element carries its exact file, line and column.
Comments and processing instructions are ignored; an element's text is kept
with surrounding whitespace removed, or `None` when it is only whitespace.
Every problem is a `ConfigError` with file, line and column.
"""

from __future__ import annotations

import io
import xml.sax
from pathlib import Path
from typing import Any

from defusedxml import (
    DefusedXmlException,
    DTDForbidden,
    EntitiesForbidden,
    ExternalReferenceForbidden,
)
from defusedxml.expatreader import DefusedExpatParser

from kubegate.model.errors import ConfigError, Problem
from kubegate.model.policy import (
    SECTIONS,
    TEXT_KEY,
    PolicyDocument,
    PolicyElement,
    PolicyFragment,
    Section,
)
from kubegate.sources.apim.masking import MaskedText, mask

ROOTS = ("policies", "fragment")
_FORBIDDEN: dict[type, str] = {
    DTDForbidden: "a DOCTYPE declaration is not allowed in a policy document",
    EntitiesForbidden: "entity declarations are not allowed in a policy document",
    ExternalReferenceForbidden: "external references are not allowed in a policy document",
}


class _Frame:
    __slots__ = ("name", "attributes", "positions", "line", "column", "children", "text", "text_at")

    def __init__(
        self,
        name: str,
        attributes: dict[str, str],
        positions: dict[str, tuple[int, int]],
        line: int,
        column: int,
    ) -> None:
        self.name = name
        self.attributes = attributes
        self.positions = positions
        self.line = line
        self.column = column
        self.children: list[PolicyElement] = []
        self.text: list[str] = []
        self.text_at: tuple[int, int] | None = None


class _Builder(xml.sax.handler.ContentHandler):
    def __init__(self, masked: MaskedText, file: str | None) -> None:
        super().__init__()
        self.masked = masked
        self.file = file
        self.stack: list[_Frame] = []
        self.root: PolicyElement | None = None
        self.locator: Any = None

    def setDocumentLocator(self, locator: Any) -> None:  # noqa: N802 (SAX API)
        self.locator = locator

    def masked_offset(self) -> int:
        return self.masked.masked_offset(
            self.locator.getLineNumber(), self.locator.getColumnNumber()
        )

    def startElement(self, name: str, attrs: Any) -> None:  # noqa: N802
        offset = self.masked_offset()
        line, column = self.masked.position(offset)
        positions = self.masked.attribute_positions(offset)
        attributes: dict[str, str] = {}
        for key in attrs.getNames():
            raw = attrs.getValue(key)
            expr = self.masked.expression_at_start(raw)
            if expr is not None:
                positions[key] = (expr.line, expr.column)
            attributes[key] = self.masked.restore(raw)
        self.stack.append(_Frame(name, attributes, positions, line, column))

    def characters(self, content: str) -> None:
        frame = self.stack[-1]
        frame.text.append(content)
        if frame.text_at is None and content.strip():
            lead = len(content) - len(content.lstrip())
            frame.text_at = self.masked.position(self.masked_offset() + lead)

    def endElement(self, name: str) -> None:  # noqa: N802
        f = self.stack.pop()
        raw = "".join(f.text).strip()
        text = self.masked.restore(raw) if raw else None
        positions = dict(f.positions)
        if raw:
            expr = self.masked.expression_at_start(raw)
            at = (expr.line, expr.column) if expr is not None else f.text_at
            if at is not None:
                positions[TEXT_KEY] = at
        element = PolicyElement(
            f.name, f.attributes, tuple(f.children), text, f.line, f.column, self.file, positions
        )
        if self.stack:
            self.stack[-1].children.append(element)
        else:
            self.root = element


def decode_source(source: str | bytes, file: str | None = None) -> str:
    """Text of a document given as str or bytes (UTF-8 or UTF-16 with BOM); BOM removed."""
    if isinstance(source, bytes):
        try:
            if source.startswith((b"\xff\xfe", b"\xfe\xff")):
                return source.decode("utf-16")
            return source.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ConfigError.one(f"not UTF-8 or UTF-16 text: {exc.reason}", file=file) from None
    return source.removeprefix("\ufeff")


def parse_xml_tree(source: str | bytes, file: str | None = None) -> PolicyElement:
    """The root element of an XML document with expressions masked and restored."""
    text = decode_source(source, file)
    masked = mask(text, file)
    builder = _Builder(masked, file)
    parser = DefusedExpatParser(forbid_dtd=True, forbid_entities=True, forbid_external=True)
    parser.setContentHandler(builder)
    src = xml.sax.xmlreader.InputSource(file)
    src.setByteStream(io.BytesIO(masked.text.encode("utf-8")))
    src.setEncoding("utf-8")
    try:
        parser.parse(src)
    except xml.sax.SAXParseException as exc:
        offset = masked.masked_offset(exc.getLineNumber() or 1, exc.getColumnNumber() or 0)
        line, column = masked.position(min(offset, len(masked.text)))
        raise ConfigError.one(
            f"malformed XML: {exc.getMessage()}", file=file, line=line, column=column
        ) from None
    except DefusedXmlException as exc:
        where: dict[str, object] = {"file": file}
        if builder.locator is not None:
            pos = masked.position(min(builder.masked_offset(), len(masked.text)))
            where.update(line=pos[0], column=pos[1])
        raise ConfigError.one(_FORBIDDEN.get(type(exc), str(exc)), **where) from None
    if builder.root is None:  # pragma: no cover - expat reports an empty document itself
        raise ConfigError.one("empty document", file=file)
    return builder.root


def _section(el: PolicyElement, problems: list[Problem]) -> Section:
    if el.attributes:
        problems.append(Problem(f"<{el.name}> takes no attributes", **el.where()))
    if el.text is not None:
        problems.append(
            Problem(f"text is not allowed directly inside <{el.name}>", **el.where(TEXT_KEY))
        )
    return el.children


def element_to_document(root: PolicyElement) -> PolicyDocument | PolicyFragment:
    """Interpret a parsed root element as a policy document or fragment."""
    problems: list[Problem] = []
    if root.name == "fragment":
        elements = _section(root, problems)
        if problems:
            raise ConfigError(problems)
        return PolicyFragment(elements, root.file)
    if root.name != "policies":
        raise ConfigError.one(
            f"not a policy document: the root element is <{root.name}>, expected <policies> or <fragment>",
            **root.where(),
        )
    if root.text is not None:
        problems.append(
            Problem("text is not allowed directly inside <policies>", **root.where(TEXT_KEY))
        )
    sections: dict[str, Section | None] = {}
    for el in root.children:
        if el.name not in SECTIONS:
            problems.append(
                Problem(
                    f"unknown section <{el.name}>; expected one of: {', '.join(SECTIONS)}",
                    **el.where(),
                )
            )
        elif el.name in sections:
            problems.append(Problem(f"section <{el.name}> appears more than once", **el.where()))
        else:
            sections[el.name] = _section(el, problems)
    if problems:
        raise ConfigError(problems)
    return PolicyDocument.from_sections(sections, root.file)


def parse_policy_xml(
    source: str | bytes, file: str | None = None
) -> PolicyDocument | PolicyFragment:
    """Load a `<policies>` document or a `<fragment>`."""
    return element_to_document(parse_xml_tree(source, file))


def load_policy_xml(source: str | bytes, file: str | None = None) -> PolicyDocument:
    """Load a `<policies>` document; a fragment here is an error."""
    doc = parse_policy_xml(source, file)
    if isinstance(doc, PolicyFragment):
        raise ConfigError.one("expected a <policies> document, found a <fragment>", file=file)
    return doc


def load_fragment_xml(source: str | bytes, file: str | None = None) -> PolicyFragment:
    """Load a `<fragment>` document (for `include-fragment`)."""
    doc = parse_policy_xml(source, file)
    if isinstance(doc, PolicyDocument):
        raise ConfigError.one("expected a <fragment>, found a <policies> document", file=file)
    return doc


def load_policy_xml_file(path: str | Path) -> PolicyDocument | PolicyFragment:
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError.one(f"cannot read: {exc.strerror or exc}", file=str(p)) from None
    return parse_policy_xml(data, str(p))
