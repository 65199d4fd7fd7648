"""The inner markup of a policy element, for templates written as XML (set-body liquid).

The XML loader keeps an element's text runs joined and its children apart, so the
order of text and child elements is rebuilt from source positions: text whose
first character comes before the first child (and that fits before it) goes
first; text starting after the last child goes last; with exactly one child the
text is split where the child starts. Any other mix (text between several
children) is ambiguous and reported, with the advice to wrap the template in
``<![CDATA[ ... ]]>``. Text and attribute values inside child elements are
XML-escaped again, except inside Liquid markup (``{{ }}``, ``{% %}``).
"""

from __future__ import annotations

import re

from kubegate.model.policy import TEXT_KEY, PolicyElement

_LIQUID = re.compile(r"(\{\{.*?\}\}|\{%.*?%\})", re.DOTALL)


class MixedContentError(ValueError):
    def __init__(self, el: PolicyElement) -> None:
        super().__init__(f"<{el.name}> mixes text and several child elements; kubegate cannot "
                         "rebuild their order: wrap the template in <![CDATA[ ... ]]>")
        self.element = el


def _escape(text: str, attr: bool = False, liquid: bool = True) -> str:
    def esc(part: str) -> str:
        part = part.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return part.replace('"', "&quot;") if attr else part
    if not liquid:
        return esc(text)
    return "".join(p if i % 2 else esc(p) for i, p in enumerate(_LIQUID.split(text)))


def _fit(text: str, start: tuple[int, int], limit: tuple[int, int]) -> int:
    """How many characters of ``text``, laid out from ``start``, end before ``limit``."""
    line, col = start
    for i, ch in enumerate(text):
        if (line, col) >= limit:
            return i
        line, col = (line + 1, 1) if ch == "\n" else (line, col + 1)
    return len(text)


def _pos(el: PolicyElement) -> tuple[int, int]:
    return (el.line or 0, el.column or 0)


def inner(el: PolicyElement, escape: bool = False, liquid: bool = True) -> str:
    """The content of ``el`` as markup (its text, and its children serialised).

    ``escape``: XML-escape ``el``'s own text too; ``liquid``: leave Liquid markup
    unescaped."""
    text = el.text or ""
    out_text = _escape(text, liquid=liquid) if escape else text
    if not el.children:
        return out_text
    kids = [outer(c, liquid) for c in el.children]
    if not text:
        return "".join(kids)
    at = el.positions.get(TEXT_KEY)
    first, last = _pos(el.children[0]), _pos(el.children[-1])
    if at is None:
        raise MixedContentError(el)
    if at < first:
        n = _fit(text, at, first)
        if n >= len(text):
            return out_text + "".join(kids)
        if len(el.children) == 1:
            head, tail = text[:n], text[n:]
            if escape:
                head, tail = _escape(head, liquid=liquid), _escape(tail, liquid=liquid)
            return head + kids[0] + tail
        raise MixedContentError(el)
    if at > last:
        return "".join(kids) + out_text
    raise MixedContentError(el)


def outer(el: PolicyElement, liquid: bool = True) -> str:
    attrs = "".join(f' {k}="{_escape(v, attr=True, liquid=liquid)}"'
                    for k, v in el.attributes.items())
    body = inner(el, escape=True, liquid=liquid)
    if not body:
        return f"<{el.name}{attrs} />"
    return f"<{el.name}{attrs}>{body}</{el.name}>"
