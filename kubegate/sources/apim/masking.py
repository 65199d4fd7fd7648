"""Mask APIM policy expressions so a policy document becomes well-formed XML.

APIM documents hold C# expressions — `@(...)` and `@{...}` — with raw `<`, `>`,
`&` and quotes, as whole attribute values or as an element's whole text. How it
works:

1. A small XML-aware scanner walks the document (skipping comments, CDATA,
   processing instructions and declarations) and looks at the start of every
   attribute value and every text run. Where one starts with `@(` or `@{`, a C#
   aware scanner (`expression_end`) finds the balanced end.
2. Each expression is replaced by a placeholder `<marker><n>_`, where the marker
   is chosen so that it occurs nowhere in the document (not even through
   character references). Placeholders hold only letters, digits and `_`, so
   the XML parser leaves them alone, in attributes and in text.
3. After parsing, `restore` puts each expression back. Positions reported by
   the parser (in the masked text) are mapped back to the original text through
   the list of replaced spans, so line and column numbers stay exact.

An expression that is already XML-escaped (`@(a &lt; b)`, `&quot;` for quotes)
is recognised too: when the escaped reading is consistent with the XML
boundaries (the attribute's closing quote, the next `<`), the expression is
stored entity-decoded, exactly as an XML parser would give it. Otherwise the
original text is restored byte for byte.

Leniency: `-` characters inside comments are blanked (same length), because
`--` and nested `<!--` in comments, forbidden by XML, are common in samples.

Invariants: `mask` never raises except `ConfigError` for an expression that
never closes; the masked text differs from the original only inside the
replaced spans and comment bodies; every span starts at an attribute value or
text start; comment blanking never changes a length.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from kubegate.model.errors import ConfigError

_REF = re.compile(r"&(lt|gt|amp|quot|apos|#[0-9]+|#x[0-9a-fA-F]+);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_TAG_NAME = re.compile(r"[^\s/>]+")
_ATTR = re.compile(r"\s*([^\s=/>\"']+)\s*=\s*([\"'])")
_ATTR_VALUE = re.compile(r"\s*([^\s=/>\"']+)\s*=\s*(?:\"([^\"]*)\"|'([^']*)')")


def decode_xml(value: str) -> str | None:
    """`value` with XML references decoded, or None if it is not valid XML text."""
    if "<" in value:
        return None
    out, pos = [], 0
    for m in _REF.finditer(value):
        if "&" in value[pos : m.start()]:
            return None
        out.append(value[pos : m.start()])
        ref = m.group(1)
        if ref.startswith("#"):
            try:
                code = int(ref[2:], 16) if ref[1:2] == "x" else int(ref[1:])
                out.append(chr(code))
            except (ValueError, OverflowError):
                return None
        else:
            out.append(_ENTITIES[ref])
        pos = m.end()
    if "&" in value[pos:]:
        return None
    out.append(value[pos:])
    return "".join(out)


def _line_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in _LINE_BREAK.finditer(text)]


@dataclass(frozen=True)
class Expression:
    """One masked expression: its original span, value and 1-based position."""

    start: int
    end: int
    value: str
    line: int
    column: int


@dataclass
class MaskedText:
    """A masked document and what is needed to undo the masking."""

    original: str
    text: str
    marker: str
    expressions: list[Expression] = field(default_factory=list)
    _masked_starts: list[int] = field(default_factory=list)
    _deltas: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._pattern = re.compile(re.escape(self.marker) + r"([0-9]+)_")
        self._orig_lines = _line_starts(self.original)
        self._masked_lines = _line_starts(self.text)

    def restore(self, value: str) -> str:
        """`value` (from the parser) with every placeholder replaced by its expression."""
        if self.marker not in value:
            return value
        return self._pattern.sub(lambda m: self.expressions[int(m.group(1))].value, value)

    def expression_at_start(self, value: str) -> Expression | None:
        """The expression whose placeholder `value` starts with (after whitespace)."""
        m = self._pattern.match(value.lstrip())
        return self.expressions[int(m.group(1))] if m else None

    def masked_offset(self, line: int, column: int) -> int:
        """Offset in the masked text of a 1-based line and 0-based column."""
        starts = self._masked_lines
        return starts[min(max(line, 1), len(starts)) - 1] + column

    def original_offset(self, masked: int) -> int:
        i = bisect.bisect_right(self._masked_starts, masked)
        return masked + (self._deltas[i - 1] if i else 0)

    def position(self, masked: int) -> tuple[int, int]:
        """1-based (line, column) in the original text of a masked-text offset."""
        offset = self.original_offset(masked)
        i = bisect.bisect_right(self._orig_lines, offset)
        return i, offset - self._orig_lines[i - 1] + 1

    def attribute_positions(self, tag_start: int) -> dict[str, tuple[int, int]]:
        """Original positions of attribute values of the start tag at masked `tag_start`."""
        out: dict[str, tuple[int, int]] = {}
        m = _TAG_NAME.match(self.text, tag_start + 1)
        pos = m.end() if m else tag_start + 1
        while True:
            a = _ATTR_VALUE.match(self.text, pos)
            if a is None:
                return out
            value_start = a.start(2) if a.group(2) is not None else a.start(3)
            out.setdefault(a.group(1), self.position(value_start))
            pos = a.end()


def _choose_marker(text: str) -> str:
    probe = text + (decode_xml_loose(text) if "&" in text else "")
    n = 0
    while True:
        marker = "kgexpr" + (str(n) if n else "") + "x"
        if marker not in probe:
            return marker
        n += 1


def decode_xml_loose(text: str) -> str:
    """Every valid reference decoded, other text left as is."""

    def one(m: re.Match[str]) -> str:
        return decode_xml(m.group(0)) or m.group(0)

    return _REF.sub(one, text)


class _Scanner:
    def __init__(self, text: str, file: str | None) -> None:
        self.t = text
        self.file = file
        self.found: list[tuple[int, int, str]] = []
        self.comments: list[tuple[int, int]] = []
        self.lines = _line_starts(text)

    def run(self) -> None:
        t, i, n = self.t, 0, len(self.t)
        while i < n:
            i = self.text_run(i)
            if i >= n:
                return
            for opener, closer in (
                ("<!--", "-->"),
                ("<![CDATA[", "]]>"),
                ("<?", "?>"),
                ("<!", ">"),
                ("</", ">"),
            ):
                if t.startswith(opener, i):
                    j = t.find(closer, i + len(opener))
                    if opener == "<!--" and j >= 0:
                        self.comments.append((i + 4, j))
                    i = n if j < 0 else j + len(closer)
                    break
            else:
                i = self.start_tag(i)

    def text_run(self, i: int) -> int:
        """Scan text from `i`; return the offset of the next `<`."""
        t = self.t
        k = i
        while k < len(t) and t[k] in " \t\r\n":
            k += 1
        if t.startswith(("@(", "@{"), k):
            boundary = t.find("<", k)
            i = self.candidate(k, len(t) if boundary < 0 else boundary)
        j = t.find("<", i)
        return len(t) if j < 0 else j

    def start_tag(self, i: int) -> int:
        t = self.t
        m = _TAG_NAME.match(t, i + 1)
        pos = m.end() if m else i + 1
        while True:
            a = _ATTR.match(t, pos)
            if a is None:
                j = t.find(">", pos)
                return len(t) if j < 0 else j + 1
            quote, v = a.group(2), a.end()
            boundary = t.find(quote, v)
            boundary = len(t) if boundary < 0 else boundary
            if t.startswith(("@(", "@{"), v):
                end = self.candidate(v, boundary)
                boundary = t.find(quote, end)
                boundary = len(t) if boundary < 0 else boundary
            pos = boundary + 1

    def candidate(self, start: int, boundary: int) -> int:
        """Record the expression at `start`; return the offset just after it."""
        t = self.t
        raw = t[start:boundary].rstrip()
        decoded = decode_xml(raw) if "&" in raw else None
        if decoded is not None:
            end = expression_end(decoded, 0)
            if end is not None and end == len(decoded):
                self.found.append((start, start + len(raw), decoded))
                return start + len(raw)
        end = expression_end(t, start)
        if end is None:
            line = bisect.bisect_right(self.lines, start)
            raise ConfigError.one(
                "policy expression is not closed (unbalanced brackets or an unterminated string)",
                file=self.file,
                line=line,
                column=start - self.lines[line - 1] + 1,
            )
        self.found.append((start, end, t[start:end]))
        return end


def _relax_comments(text: str, comments: list[tuple[int, int]]) -> str:
    """Blank out `-` in comment bodies: `--` and `<!--` inside comments are common
    in hand-edited samples, not allowed by XML, and comments are ignored anyway."""
    bad = [(a, b) for a, b in comments if "--" in text[a:b] or text[b - 1 : b] == "-"]
    if not bad:
        return text
    chars = list(text)
    for a, b in bad:
        chars[a:b] = text[a:b].replace("-", " ")
    return "".join(chars)


def mask(text: str, file: str | None = None) -> MaskedText:
    """Replace every expression in `text` by a placeholder; see the module docstring."""
    scanner = _Scanner(text, file)
    scanner.run()
    marker = _choose_marker(text)
    source = _relax_comments(text, scanner.comments)
    parts: list[str] = []
    masked_starts: list[int] = []
    deltas: list[int] = []
    expressions: list[Expression] = []
    pos = masked_len = delta = 0
    for n, (start, end, value) in enumerate(scanner.found):
        placeholder = f"{marker}{n}_"
        parts.append(source[pos:start])
        masked_len += start - pos
        line = bisect.bisect_right(scanner.lines, start)
        expressions.append(Expression(start, end, value, line, start - scanner.lines[line - 1] + 1))
        parts.append(placeholder)
        masked_len += len(placeholder)
        delta += (end - start) - len(placeholder)
        masked_starts.append(masked_len)
        deltas.append(delta)
        pos = end
    parts.append(source[pos:])
    return MaskedText(text, "".join(parts), marker, expressions, masked_starts, deltas)


# --- C# lexing: just enough to find where an expression ends -------------------

_CLOSERS = {"(": ")", "[": "]", "{": "}"}
_MAX_DEPTH = 64


def expression_end(s: str, start: int) -> int | None:
    """The offset just after the `@(...)`/`@{...}` starting at `start`, or None.

    Brackets must balance; string literals (regular, verbatim `@"..."`,
    interpolated `$"..."` with nested holes, `$@"..."`), char literals and
    comments are skipped so that brackets and quotes inside them do not count.
    """
    if not s.startswith(("@(", "@{"), start):
        return None
    end = _code(s, start + 2, _CLOSERS[s[start + 1]], 0)
    return None if end is None else end + 1


def _code(s: str, i: int, closer: str, depth: int) -> int | None:
    """Scan code from `i`; return the offset of the unmatched `closer`."""
    if depth > _MAX_DEPTH:
        return None
    stack: list[str] = []
    n = len(s)
    while i < n:
        c = s[i]
        if c in _CLOSERS:
            stack.append(_CLOSERS[c])
            i += 1
        elif c in ")]}":
            if not stack:
                return i if c == closer else None
            if stack.pop() != c:
                return None
            i += 1
        elif c in "@$" and s.startswith(('@"', '$"', '$@"', '@$"'), i):
            prefix = s[i : s.index('"', i)]
            j = _string(s, s.index('"', i) + 1, "@" in prefix, "$" in prefix, depth)
            if j is None:
                return None
            i = j
        elif c == '"':
            j = _string(s, i + 1, False, False, depth)
            if j is None:
                return None
            i = j
        elif c == "'":
            j = _char(s, i + 1)
            if j is None:
                return None
            i = j
        elif s.startswith("//", i):
            brk = _LINE_BREAK.search(s, i)
            i = n if brk is None else brk.end()
        elif s.startswith("/*", i):
            j = s.find("*/", i + 2)
            if j < 0:
                return None
            i = j + 2
        else:
            i += 1
    return None


def _string(s: str, i: int, verbatim: bool, interpolated: bool, depth: int) -> int | None:
    """Scan a string body from `i`; return the offset just after its closing quote."""
    n = len(s)
    while i < n:
        c = s[i]
        if c == '"':
            if verbatim and s.startswith('""', i):
                i += 2
                continue
            return i + 1
        if c == "\\" and not verbatim:
            i += 2
        elif c in "\r\n" and not verbatim:
            return None
        elif interpolated and c == "{":
            if s.startswith("{{", i):
                i += 2
                continue
            j = _code(s, i + 1, "}", depth + 1)
            if j is None:
                return None
            i = j + 1
        elif interpolated and s.startswith("}}", i):
            i += 2
        else:
            i += 1
    return None


def _char(s: str, i: int) -> int | None:
    """Scan a char literal body from `i` (`'a'`, `'\\''`, `'\\u0041'`)."""
    j = i + 1 if s[i : i + 1] != "\\" else i + 2
    k = s.find("'", j, j + 10)
    if k < 0 or any(ch in "\r\n" for ch in s[i:k]):
        return None
    return k + 1
