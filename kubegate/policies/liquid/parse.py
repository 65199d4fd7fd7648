"""Liquid templates (DotLiquid as APIM's ``set-body template="liquid"`` uses it): parsing.

``parse(source)`` turns a template into a tree of nodes, once, at compile time.
Supported: ``{{ output | Filter: arg }}``, whitespace control (``{{-``, ``-%}``),
the tags ``if``/``elsif``/``else``, ``unless``, ``case``/``when``, ``for`` (with
``limit:``, ``offset:``, ``reversed``, ranges ``(1..n)``, ``else``), ``break``,
``continue``, ``assign``, ``capture``, ``comment`` and ``raw``. Values are
literals, ``nil``/``empty``/``blank``, and variable paths (``a.b[0]["c"]``).
Anything else (an unknown tag or filter, a filter given too many or too few
arguments, a malformed expression, an unclosed ``{{``/``{%`` or block, blocks or
expressions nested deeper than ``MAX_DEPTH``) is a ``LiquidSyntaxError`` with
the line and column in the template (for an unclosed block: of its opening tag).
Tokenizing is linear in the template's length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .filters import ARITY, FILTERS, filter_hint
from .nodes import (
    Assign,
    Capture,
    Case,
    Compare,
    Condition,
    Filtered,
    For,
    If,
    Jump,
    Literal,
    Output,
    Path,
    Range,
    Special,
)

MAX_DEPTH = 100
"""How deeply blocks (and index/range expressions) may nest."""


class LiquidSyntaxError(Exception):
    def __init__(self, message: str, line: int, column: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{self.message} ({where})"


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

    def __init__(self, text: str, line: int, column: int | None = None) -> None:
        self.line, self.column = line, column
        self.depth = 0
        self.toks: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise LiquidSyntaxError(f"unexpected character {text[pos]!r} in {text.strip()!r}",
                                        line, column)
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
            raise self.error(f"expected {value or kind}, found {found!r}")
        self.i += 1
        return self.toks[self.i - 1][1]

    def error(self, message: str) -> LiquidSyntaxError:
        return LiquidSyntaxError(message, self.line, self.column)

    def done(self) -> bool:
        return self.i >= len(self.toks)

    def end(self) -> None:
        if not self.done():
            raise self.error(f"unexpected {self.toks[self.i][1]!r}")

    # value := literal | range | path
    def value(self) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the expression is nested more than {MAX_DEPTH} deep")
        try:
            return self._value()
        finally:
            self.depth -= 1

    def _value(self) -> Any:
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
                raise self.error(f"unknown filter {name!r}{filter_hint(name)}")
            args: list[Any] = []
            if self.peek(":"):
                self.take(":")
                args.append(self.value())
                while self.peek(","):
                    self.take(",")
                    args.append(self.value())
            low, high = ARITY[name]
            if not low <= len(args) <= high:
                wanted = (f"{low}" if low == high else f"{low} to {high}") + " argument"
                raise self.error(f"filter {name} takes {wanted}{'' if low == high == 1 else 's'}, "
                                 f"{len(args)} given")
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
_OPEN = re.compile(r"\{\{|\{%")
_TAG = re.compile(r"\s*(\w+)(.*)", re.DOTALL)
_ENDRAW = re.compile(r"\{%-?\s*endraw\s*-?%\}")
_END = {"if": "endif", "unless": "endunless", "case": "endcase", "for": "endfor",
        "capture": "endcapture"}


@dataclass
class _Tok:
    kind: str  # text | output | tag
    text: str
    line: int
    name: str = ""
    column: int = 1


class _Lines:
    """Line and column of positions met in increasing order (linear overall)."""

    def __init__(self, source: str) -> None:
        self.source, self.pos, self.line, self.start = source, 0, 1, 0

    def at(self, pos: int) -> tuple[int, int]:
        count = self.source.count("\n", self.pos, pos)
        if count:
            self.line += count
            self.start = self.source.rfind("\n", self.pos, pos) + 1
        self.pos = pos
        return self.line, pos - self.start + 1


def _tokens(source: str) -> list[_Tok]:
    out: list[_Tok] = []
    lines = _Lines(source)
    pos = 0
    strip_next = False
    while (m := _OPEN.search(source, pos)) is not None:
        start = m.start()
        text_line = lines.at(pos)[0]
        line, column = lines.at(start)
        output = m.group() == "{{"
        opener, closer = ("{{", "}}") if output else ("{%", "%}")
        close = source.find(closer, start + 2)
        inner = source[start + 2:close] if close >= 0 else ""
        if close < 0 or "{{" in inner or "{%" in inner:
            raise LiquidSyntaxError(f"'{opener}' is not closed by '{closer}'", line, column)
        strip_left = inner.startswith("-")
        if strip_left:
            inner = inner[1:]
        strip_right = inner.endswith("-")
        if strip_right:
            inner = inner[:-1]
        text = source[pos:start]
        if strip_next:
            text = text.lstrip()
        if strip_left:
            text = text.rstrip()
        if text:
            out.append(_Tok("text", text, text_line))
        pos = close + 2
        if output:
            out.append(_Tok("output", inner, line, column=column))
            strip_next = strip_right
            continue
        tag = _TAG.match(inner)
        if tag is None:
            raise LiquidSyntaxError("a tag needs a name ('{% name ... %}')", line, column)
        name = tag.group(1)
        if name == "raw":
            end = _ENDRAW.search(source, pos)
            if end is None:
                raise LiquidSyntaxError("'raw' is not closed by 'endraw'", line, column)
            out.append(_Tok("text", source[pos:end.start()], line))
            pos = end.end()
            strip_next = end.group().endswith("-%}")
            continue
        out.append(_Tok("tag", tag.group(2), line, name, column))
        strip_next = strip_right
    rest = source[pos:]
    if strip_next:
        rest = rest.lstrip()
    if rest:
        out.append(_Tok("text", rest, lines.at(pos)[0]))
    return out


class _Parser:
    def __init__(self, toks: list[_Tok]) -> None:
        self.toks = toks
        self.i = 0
        self.loops = 0
        self.depth = 0

    def block(self, stop: tuple[str, ...] = (),
              opener: _Tok | None = None) -> tuple[list[Any], _Tok | None]:
        nodes: list[Any] = []
        while self.i < len(self.toks):
            tok = self.toks[self.i]
            self.i += 1
            if tok.kind == "text":
                nodes.append(tok.text)
            elif tok.kind == "output":
                e = Expr(tok.text, tok.line, tok.column)
                nodes.append(Output(e.filtered()))
                e.end()
            elif tok.name in stop:
                return nodes, tok
            else:
                nodes.append(self.tag(tok))
        if stop:
            where = (opener.line, opener.column) if opener else (
                self.toks[-1].line if self.toks else 1, None)
            what = f"'{opener.name}' is" if opener else "block is"
            raise LiquidSyntaxError(f"{what} not closed (expected {' or '.join(stop)})", *where)
        return nodes, None

    def tag(self, tok: _Tok) -> Any:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise LiquidSyntaxError(f"blocks are nested more than {MAX_DEPTH} deep",
                                        tok.line, tok.column)
            return self._tag(tok)
        finally:
            self.depth -= 1

    def _tag(self, tok: _Tok) -> Any:
        name = tok.name
        if name == "assign":
            var, eq, rest = tok.text.partition("=")
            if not eq or not _NAME.match(var.strip()):
                raise LiquidSyntaxError("expected 'assign name = value'", tok.line, tok.column)
            value = Expr(rest, tok.line, tok.column)
            node = Assign(var.strip(), value.filtered())
            value.end()
            return node
        if name == "comment":
            return self.comment(tok)
        e = Expr(tok.text, tok.line, tok.column)
        if name in ("if", "unless"):
            return self.if_(tok, e)
        if name == "case":
            return self.case(tok, e)
        if name == "for":
            return self.for_(tok, e)
        if name == "capture":
            var = e.take(kind="id") if e.peek(kind="id") else e.take(kind="str")[1:-1]
            e.end()
            body, _ = self.block(("endcapture",), tok)
            return Capture(var, body)
        if name in ("break", "continue"):
            if not self.loops:
                raise LiquidSyntaxError(f"'{name}' outside a for loop", tok.line, tok.column)
            e.end()
            return Jump(name)
        raise LiquidSyntaxError(f"unknown or misplaced tag {name!r}", tok.line, tok.column)

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
            raise LiquidSyntaxError("'comment' is not closed by 'endcomment'", tok.line,
                                    tok.column)
        return ""

    def if_(self, tok: _Tok, e: Expr) -> If:
        name = tok.name
        cond = e.condition()
        e.end()
        node = If([], negate_first=name == "unless")
        stops = ("elsif", "else", _END[name]) if name == "if" else ("else", _END[name])
        while True:
            body, end = self.block(stops, tok)
            node.branches.append((cond, body))
            assert end is not None
            if end.name == "elsif":
                e = Expr(end.text, end.line, end.column)
                cond = e.condition()
                e.end()
                continue
            if end.name == "else":
                node.otherwise, _ = self.block((_END[name],), tok)
            return node

    def case(self, tok: _Tok, e: Expr) -> Case:
        node = Case(e.filtered())
        e.end()
        _, end = self.block(("when", "else", "endcase"), tok)  # text before the first when is dropped
        while end is not None and end.name == "when":
            w = Expr(end.text, end.line, end.column)
            values = [w.value()]
            while w.peek(",") or w.peek("or"):
                w.take()
                values.append(w.value())
            w.end()
            body, end = self.block(("when", "else", "endcase"), tok)
            node.whens.append((tuple(values), body))
        if end is not None and end.name == "else":
            node.otherwise, _ = self.block(("endcase",), tok)
        return node

    def for_(self, tok: _Tok, e: Expr) -> For:
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
                raise e.error(f"unknown for-loop option {word!r}")
        self.loops += 1
        try:
            node.body, end = self.block(("else", "endfor"), tok)
            if end is not None and end.name == "else":
                node.otherwise, _ = self.block(("endfor",), tok)
        finally:
            self.loops -= 1
        return node


def parse(source: str) -> list[Any]:
    """The node tree of ``source``; raises ``LiquidSyntaxError``."""
    nodes, _ = _Parser(_tokens(source)).block()
    return nodes


__all__ = ["MAX_DEPTH", "Assign", "Capture", "Case", "Compare", "Condition", "Expr", "Filtered", "For", "If",
           "Jump", "Literal", "LiquidSyntaxError", "Output", "Path", "Range", "Special", "parse"]
