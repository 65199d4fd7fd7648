"""Liquid templates (DotLiquid as APIM's ``set-body template="liquid"`` uses it): parsing.

``parse(source)`` turns a template into a tree of nodes, once, at compile time.
Supported: ``{{ output | Filter: arg }}``, whitespace control (``{{-``, ``-%}``),
the tags ``if``/``elsif``/``else``, ``unless``, ``case``/``when``, ``for`` (with
``limit:``, ``offset:``, ``reversed``, ranges ``(1..n)``, ``else``), ``break``,
``continue``, ``assign``, ``capture``, ``comment`` and ``raw``. Values are
literals, ``nil``/``empty``/``blank``, and variable paths (``a.b[0]["c"]``).
Anything else (an unknown tag or filter, a malformed expression, an unclosed
block) is a ``LiquidSyntaxError`` with the line in the template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .filters import FILTERS, filter_hint


class LiquidSyntaxError(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


# -- expressions ------------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Path:
    """A variable: ``name`` then member names (str) or index expressions."""

    name: str
    parts: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Range:
    start: Any
    stop: Any


@dataclass(frozen=True)
class Special:
    """``empty`` or ``blank`` (only meaningful in comparisons)."""

    kind: str


@dataclass(frozen=True)
class Filtered:
    value: Any
    filters: tuple[tuple[str, tuple[Any, ...]], ...] = ()


@dataclass(frozen=True)
class Compare:
    left: Any
    op: str | None = None
    right: Any = None


@dataclass(frozen=True)
class Condition:
    """Comparisons joined by ``and``/``or``, evaluated right to left as Liquid does."""

    terms: tuple[Compare, ...]
    ops: tuple[str, ...] = ()


# -- nodes -------------------------------------------------------------------------------
@dataclass
class Output:
    expr: Filtered


@dataclass
class If:
    branches: list[tuple[Condition, list[Any]]]
    otherwise: list[Any] | None = None
    negate_first: bool = False


@dataclass
class Case:
    subject: Filtered
    whens: list[tuple[tuple[Any, ...], list[Any]]] = field(default_factory=list)
    otherwise: list[Any] | None = None


@dataclass
class For:
    var: str
    source: Any
    body: list[Any]
    otherwise: list[Any] | None = None
    limit: Any = None
    offset: Any = None
    reversed: bool = False


@dataclass
class Assign:
    name: str
    expr: Filtered


@dataclass
class Capture:
    name: str
    body: list[Any]


@dataclass
class Jump:
    kind: str  # "break" | "continue"


_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"[^"]*"|'[^']*')
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<range>\.\.)
  | (?P<op>==|!=|<>|<=|>=|<|>)
  | (?P<id>[A-Za-z_][\w-]*\??)
  | (?P<punct>[.\[\]()|:,])
""", re.VERBOSE)
_NAME = re.compile(r"[A-Za-z_][\w-]*\Z")
KEYWORDS = {"nil": None, "null": None, "true": True, "false": False}


class Expr:
    """A cursor over the tokens of one tag or output markup."""

    def __init__(self, text: str, line: int) -> None:
        self.line = line
        self.toks: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise LiquidSyntaxError(f"unexpected character {text[pos]!r} in {text.strip()!r}",
                                        line)
            if m.lastgroup != "ws":
                self.toks.append((m.lastgroup or "", m.group()))
            pos = m.end()
        self.i = 0

    def peek(self, value: str | None = None, kind: str | None = None) -> bool:
        if self.i >= len(self.toks):
            return False
        k, v = self.toks[self.i]
        return (value is None or v == value) and (kind is None or k == kind)

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        if not self.peek(value, kind):
            found = self.toks[self.i][1] if self.i < len(self.toks) else "the end"
            raise LiquidSyntaxError(f"expected {value or kind}, found {found!r}", self.line)
        self.i += 1
        return self.toks[self.i - 1][1]

    def done(self) -> bool:
        return self.i >= len(self.toks)

    def end(self) -> None:
        if not self.done():
            raise LiquidSyntaxError(f"unexpected {self.toks[self.i][1]!r}", self.line)

    # value := literal | range | path
    def value(self) -> Any:
        if self.peek(kind="str"):
            return Literal(self.take()[1:-1])
        if self.peek(kind="num"):
            text = self.take()
            return Literal(float(text) if "." in text else int(text))
        if self.peek("("):
            self.take("(")
            start = self.value()
            self.take(kind="range")
            stop = self.value()
            self.take(")")
            return Range(start, stop)
        name = self.take(kind="id")
        if name in KEYWORDS and not self.peek(".") and not self.peek("["):
            return Literal(KEYWORDS[name])
        if name in ("empty", "blank") and not self.peek(".") and not self.peek("["):
            return Special(name)
        parts: list[Any] = []
        while True:
            if self.peek("."):
                self.take(".")
                parts.append(self.take(kind="id"))
            elif self.peek("["):
                self.take("[")
                parts.append(self.value())
                self.take("]")
            else:
                return Path(name, tuple(parts))

    def filtered(self) -> Filtered:
        value = self.value()
        filters: list[tuple[str, tuple[Any, ...]]] = []
        while self.peek("|"):
            self.take("|")
            name = self.take(kind="id")
            if name not in FILTERS:
                raise LiquidSyntaxError(f"unknown filter {name!r}{filter_hint(name)}", self.line)
            args: list[Any] = []
            if self.peek(":"):
                self.take(":")
                args.append(self.value())
                while self.peek(","):
                    self.take(",")
                    args.append(self.value())
            filters.append((name, tuple(args)))
        return Filtered(value, tuple(filters))

    def condition(self) -> Condition:
        terms = [self.compare()]
        ops: list[str] = []
        while self.peek("and") or self.peek("or"):
            ops.append(self.take())
            terms.append(self.compare())
        return Condition(tuple(terms), tuple(ops))

    def compare(self) -> Compare:
        left = self.value()
        if self.peek(kind="op") or self.peek("contains"):
            op = self.take()
            return Compare(left, "!=" if op == "<>" else op, self.value())
        return Compare(left)


# -- template structure ------------------------------------------------------------------
_MARKUP = re.compile(r"\{\{(-?)(.*?)(-?)\}\}|\{%(-?)\s*(\w+)(.*?)(-?)%\}", re.DOTALL)
_END = {"if": "endif", "unless": "endunless", "case": "endcase", "for": "endfor",
        "capture": "endcapture"}


@dataclass
class _Tok:
    kind: str  # text | output | tag
    text: str
    line: int
    name: str = ""


def _tokens(source: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    strip_next = False
    line = 1
    while (m := _MARKUP.search(source, pos)) is not None:
        text = source[pos:m.start()]
        if strip_next:
            text = text.lstrip()
        strip_left = bool(m.group(1) or m.group(4))
        if strip_left:
            text = text.rstrip()
        if text:
            out.append(_Tok("text", text, line))
        line += source.count("\n", pos, m.start())
        if m.group(5) is not None:
            name = m.group(5)
            if name == "raw":
                end = re.compile(r"\{%-?\s*endraw\s*-?%\}").search(source, m.end())
                if end is None:
                    raise LiquidSyntaxError("'raw' is not closed by 'endraw'", line)
                out.append(_Tok("text", source[m.end():end.start()], line))
                line += source.count("\n", m.start(), end.end())
                pos = end.end()
                strip_next = end.group().endswith("-%}")
                continue
            out.append(_Tok("tag", m.group(6), line, name))
            strip_next = bool(m.group(7))
        else:
            out.append(_Tok("output", m.group(2), line))
            strip_next = bool(m.group(3))
        line += source.count("\n", m.start(), m.end())
        pos = m.end()
    rest = source[pos:]
    if strip_next:
        rest = rest.lstrip()
    if rest:
        out.append(_Tok("text", rest, line))
    return out


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0
        self.loops = 0

    def block(self, stop: tuple[str, ...] = ()) -> tuple[list[Any], _Tok | None]:
        nodes: list[Any] = []
        while self.i < len(self.toks):
            tok = self.toks[self.i]
            self.i += 1
            if tok.kind == "text":
                nodes.append(tok.text)
            elif tok.kind == "output":
                e = Expr(tok.text, tok.line)
                nodes.append(Output(e.filtered()))
                e.end()
            elif tok.name in stop:
                return nodes, tok
            else:
                nodes.append(self.tag(tok))
        if stop:
            raise LiquidSyntaxError(f"block is not closed (expected {' or '.join(stop)})",
                                    self.toks[-1].line if self.toks else 1)
        return nodes, None

    def tag(self, tok: _Tok) -> Any:
        name = tok.name
        if name == "assign":
            var, eq, rest = tok.text.partition("=")
            if not eq or not _NAME.match(var.strip()):
                raise LiquidSyntaxError("expected 'assign name = value'", tok.line)
            value = Expr(rest, tok.line)
            node = Assign(var.strip(), value.filtered())
            value.end()
            return node
        if name == "comment":
            return self.comment(tok)
        e = Expr(tok.text, tok.line)
        if name in ("if", "unless"):
            return self.if_(name, e)
        if name == "case":
            return self.case(e)
        if name == "for":
            return self.for_(e)
        if name == "capture":
            var = e.take(kind="id") if e.peek(kind="id") else e.take(kind="str")[1:-1]
            e.end()
            body, _ = self.block(("endcapture",))
            return Capture(var, body)
        if name in ("break", "continue"):
            if not self.loops:
                raise LiquidSyntaxError(f"'{name}' outside a for loop", tok.line)
            e.end()
            return Jump(name)
        raise LiquidSyntaxError(f"unknown or misplaced tag {name!r}", tok.line)

    def comment(self, tok: _Tok) -> str:
        depth = 1
        while self.i < len(self.toks) and depth:
            t = self.toks[self.i]
            self.i += 1
            if t.kind == "tag" and t.name == "comment":
                depth += 1
            elif t.kind == "tag" and t.name == "endcomment":
                depth -= 1
        if depth:
            raise LiquidSyntaxError("'comment' is not closed by 'endcomment'", tok.line)
        return ""

    def if_(self, name: str, e: Expr) -> If:
        cond = e.condition()
        e.end()
        node = If([], negate_first=name == "unless")
        stops = ("elsif", "else", _END[name]) if name == "if" else ("else", _END[name])
        while True:
            body, end = self.block(stops)
            node.branches.append((cond, body))
            assert end is not None
            if end.name == "elsif":
                e = Expr(end.text, end.line)
                cond = e.condition()
                e.end()
                continue
            if end.name == "else":
                node.otherwise, _ = self.block((_END[name],))
            return node

    def case(self, e: Expr) -> Case:
        node = Case(e.filtered())
        e.end()
        _, end = self.block(("when", "else", "endcase"))  # text before the first when is dropped
        while end is not None and end.name == "when":
            w = Expr(end.text, end.line)
            values = [w.value()]
            while w.peek(",") or w.peek("or"):
                w.take()
                values.append(w.value())
            w.end()
            body, end = self.block(("when", "else", "endcase"))
            node.whens.append((tuple(values), body))
        if end is not None and end.name == "else":
            node.otherwise, _ = self.block(("endcase",))
        return node

    def for_(self, e: Expr) -> For:
        var = e.take(kind="id")
        e.take("in")
        source = e.value()
        node = For(var, source, [])
        while not e.done():
            word = e.take(kind="id")
            if word == "reversed":
                node.reversed = True
            elif word in ("limit", "offset"):
                e.take(":")
                setattr(node, word, e.value())
            else:
                raise LiquidSyntaxError(f"unknown for-loop option {word!r}", e.line)
        self.loops += 1
        try:
            node.body, end = self.block(("else", "endfor"))
            if end is not None and end.name == "else":
                node.otherwise, _ = self.block(("endfor",))
        finally:
            self.loops -= 1
        return node


def parse(source: str) -> list[Any]:
    """The node tree of ``source``; raises ``LiquidSyntaxError``."""
    nodes, _ = _Parser(_tokens(source)).block()
    return nodes


__all__ = ["Assign", "Capture", "Case", "Compare", "Condition", "Expr", "Filtered", "For", "If",
           "Jump", "Literal", "LiquidSyntaxError", "Output", "Path", "Range", "Special", "parse"]
