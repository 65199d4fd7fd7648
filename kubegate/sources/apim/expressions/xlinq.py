"""A read-only LINQ to XML subset: ``XDocument``, ``XElement``, ``XAttribute``, ``XName``.

Documents are parsed with ``defusedxml`` (no DTDs, no entity expansion, no
external resources). Names given as strings are ``{namespace}local`` or
``local``, as C#'s implicit string-to-XName conversion reads them. ``ToString()``
writes compact XML; namespace prefixes may differ from the source's."""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from .errors import ExpressionError
from .runtime import cs_str

MAX_XML = 4 * 1024 * 1024


class XName:
    __cs_type__ = "XName"
    __cs_members__ = frozenset({"LocalName", "NamespaceName", "ToString"})
    __slots__ = ("LocalName", "NamespaceName")

    def __init__(self, tag: str) -> None:
        if tag.startswith("{"):
            ns, _, local = tag[1:].partition("}")
        else:
            ns, local = "", tag
        self.LocalName = local
        self.NamespaceName = ns

    def ToString(self) -> str:  # noqa: N802
        return f"{{{self.NamespaceName}}}{self.LocalName}" if self.NamespaceName else self.LocalName

    def cs_string(self) -> str:
        return self.ToString()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return self.ToString() == other
        return isinstance(other, XName) and other.ToString() == self.ToString()

    def __hash__(self) -> int:
        return hash(self.ToString())


def _tag(name: Any) -> str:
    if isinstance(name, XName):
        return name.ToString()
    if isinstance(name, str) and name:
        return name
    raise ExpressionError("an XML name must be a non-empty string")


class XAttribute:
    __cs_type__ = "XAttribute"
    __cs_members__ = frozenset({"Name", "Value", "ToString"})
    __slots__ = ("Name", "Value")

    def __init__(self, name: str, value: str) -> None:
        self.Name = XName(name)
        self.Value = value

    def ToString(self) -> str:  # noqa: N802
        escaped = self.Value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
        return f'{self.Name.LocalName}="{escaped}"'

    def cs_string(self) -> str:
        return self.ToString()

    def cs_explicit_string(self) -> str:
        return self.Value


class _Tree:
    __slots__ = ("parents",)

    def __init__(self, root: Element) -> None:
        self.parents = {id(c): p for p in root.iter() for c in p}


class XElement:
    __cs_type__ = "XElement"
    __cs_members__ = frozenset({
        "Name", "Value", "Attribute", "Attributes", "Element", "Elements", "Descendants",
        "DescendantsAndSelf", "Parent", "HasElements", "HasAttributes", "IsEmpty", "ToString",
    })
    __slots__ = ("_el", "_tree")

    def __init__(self, el: Element, tree: _Tree) -> None:
        self._el = el
        self._tree = tree

    def _wrap(self, el: Element) -> XElement:
        return XElement(el, self._tree)

    @property
    def Name(self) -> XName:  # noqa: N802
        return XName(str(self._el.tag))

    @property
    def Value(self) -> str:  # noqa: N802
        return "".join(self._el.itertext())

    @property
    def Parent(self) -> XElement | None:  # noqa: N802
        parent = self._tree.parents.get(id(self._el))
        return None if parent is None else self._wrap(parent)

    @property
    def HasElements(self) -> bool:  # noqa: N802
        return len(self._el) > 0

    @property
    def HasAttributes(self) -> bool:  # noqa: N802
        return bool(self._el.attrib)

    @property
    def IsEmpty(self) -> bool:  # noqa: N802
        return len(self._el) == 0 and self._el.text is None

    def Attribute(self, name: Any) -> XAttribute | None:  # noqa: N802
        key = _tag(name)
        return XAttribute(key, self._el.attrib[key]) if key in self._el.attrib else None

    def Attributes(self) -> list[XAttribute]:  # noqa: N802
        return [XAttribute(k, v) for k, v in self._el.attrib.items()]

    def Element(self, name: Any) -> XElement | None:  # noqa: N802
        tag = _tag(name)
        return next((self._wrap(c) for c in self._el if c.tag == tag), None)

    def Elements(self, name: Any = None) -> list[XElement]:  # noqa: N802
        tag = None if name is None else _tag(name)
        return [self._wrap(c) for c in self._el if tag is None or c.tag == tag]

    def Descendants(self, name: Any = None) -> list[XElement]:  # noqa: N802
        tag = None if name is None else _tag(name)
        return [self._wrap(c) for c in self._el.iter(tag) if c is not self._el]

    def DescendantsAndSelf(self, name: Any = None) -> list[XElement]:  # noqa: N802
        tag = None if name is None else _tag(name)
        return [self._wrap(c) for c in self._el.iter(tag)]

    def ToString(self, *options: Any) -> str:  # noqa: N802
        return tostring(self._el, encoding="unicode", short_empty_elements=True).strip()

    def cs_string(self) -> str:
        return self.ToString()

    def cs_explicit_string(self) -> str:
        return self.Value


class XDocument:
    __cs_type__ = "XDocument"
    __cs_members__ = frozenset({"Root", "Descendants", "Elements", "Element", "ToString"})
    __slots__ = ("Root",)

    def __init__(self, root: XElement) -> None:
        self.Root = root

    def Descendants(self, name: Any = None) -> list[XElement]:  # noqa: N802
        return self.Root.DescendantsAndSelf(name)

    def Elements(self, name: Any = None) -> list[XElement]:  # noqa: N802
        return [self.Root] if name is None or self.Root._el.tag == _tag(name) else []

    def Element(self, name: Any) -> XElement | None:  # noqa: N802
        return self.Root if self.Root._el.tag == _tag(name) else None

    def ToString(self, *options: Any) -> str:  # noqa: N802
        return self.Root.ToString()

    def cs_string(self) -> str:
        return self.ToString()


def _parse(text: Any) -> XElement:
    source = cs_str(text)
    if len(source) > MAX_XML:
        raise ExpressionError("XML document too large")
    try:
        root = fromstring(source.encode("utf-8"), forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as e:
        raise ExpressionError(f"invalid XML: {e}") from None
    return XElement(root, _Tree(root))


def parse_document(text: Any) -> XDocument:
    return XDocument(_parse(text))


def parse_element(text: Any) -> XElement:
    return _parse(text)


def body_as(text: str, kind: str) -> Any:
    """``Body.As<XDocument>()``, ``As<XElement>()``, ``As<XNode>()``."""
    if not text.strip():
        return None
    return parse_document(text) if kind == "XDocument" else parse_element(text)
