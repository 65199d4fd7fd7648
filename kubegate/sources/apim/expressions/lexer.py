"""Tokeniser for the C# expression subset.

Works on ``source[start:end]`` with absolute offsets, so interpolation holes
are lexed in place. Every token records its start offset for error positions.
Interpolated strings become one ``interp`` token whose value lists literal
text and ``(start, end)`` spans of the holes."""

from __future__ import annotations

from dataclasses import dataclass

DIGITS = frozenset("0123456789")  # C# digits are ASCII; str.isdigit() is not

OPERATORS = (
    "??=", "<<=", "<<", "=>", "==", "!=", "<=", ">=", "&&", "||", "??", "?.", "?[", "++", "--",
    "+=", "-=", "*=", "/=", "%=",
    "+", "-", "*", "/", "%", "<", ">", "!", "?", ":", ".", ",", ";", "(", ")", "[", "]",
    "{", "}", "=", "&", "|", "^", "~",
)
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0", "\\": "\\", '"': '"', "'": "'",
           "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


@dataclass(slots=True)
class Token:
    kind: str  # ident, int, long, float, string, char, interp, op, eof
    value: object
    pos: int


class LexError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


def tokenize(src: str, start: int = 0, end: int | None = None) -> list[Token]:
    end = len(src) if end is None else end
    out: list[Token] = []
    i = start
    while True:
        i = _skip_space(src, i, end)
        if i >= end:
            out.append(Token("eof", None, end))
            return out
        c = src[i]
        if c.isalpha() or c == "_":
            j = i + 1
            while j < end and (src[j].isalnum() or src[j] == "_"):
                j += 1
            out.append(Token("ident", src[i:j], i))
            i = j
        elif (c in DIGITS) or (c == "." and i + 1 < end and (src[i + 1] in DIGITS)):
            tok, i = _number(src, i, end)
            out.append(tok)
        elif c == '"':
            s, j = _string(src, i + 1, end)
            out.append(Token("string", s, i))
            i = j
        elif c == "@" and src.startswith('@"', i):
            s, j = _verbatim(src, i + 2, end)
            out.append(Token("string", s, i))
            i = j
        elif c == "$" and (src.startswith('$"', i) or src.startswith('$@"', i)
                           or src.startswith('@$"', i)):
            verbatim = src[i + 1] == "@"
            parts, j = _interp(src, i + (3 if verbatim else 2), end, verbatim)
            out.append(Token("interp", parts, i))
            i = j
        elif c == "@" and src.startswith('@$"', i):
            parts, j = _interp(src, i + 3, end, True)
            out.append(Token("interp", parts, i))
            i = j
        elif c == "'":
            s, j = _char(src, i + 1, end)
            out.append(Token("char", s, i))
            i = j
        else:
            for op in OPERATORS:
                if src.startswith(op, i) and i + len(op) <= end:
                    out.append(Token("op", op, i))
                    i += len(op)
                    break
            else:
                raise LexError(f"unexpected character {c!r}", i)


def _skip_space(src: str, i: int, end: int) -> int:
    while i < end:
        c = src[i]
        if c.isspace():
            i += 1
        elif src.startswith("//", i):
            j = src.find("\n", i, end)
            i = end if j < 0 else j + 1
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2, end)
            if j < 0:
                raise LexError("unterminated comment", i)
            i = j + 2
        else:
            break
    return i


def _number(src: str, i: int, end: int) -> tuple[Token, int]:
    start = i
    if src.startswith(("0x", "0X"), i):
        j = i + 2
        while j < end and src[j] in "0123456789abcdefABCDEF_":
            j += 1
        if j == i + 2:
            raise LexError("malformed hexadecimal literal", i)
        kind, j = _int_suffix(src, j, end)
        digits = src[i + 2:j].rstrip("uUlL").replace("_", "")
        if len(digits.lstrip("0")) > 16:
            raise LexError("integral constant is too large", start)
        return Token(kind, int(digits, 16), start), j
    j = i
    is_float = False
    while j < end and ((src[j] in DIGITS) or src[j] == "_"):
        j += 1
    if j + 1 < end and src[j] == "." and (src[j + 1] in DIGITS):
        is_float = True
        j += 1
        while j < end and (src[j] in DIGITS):
            j += 1
    if j < end and src[j] in "eE":
        k = j + 1
        if k < end and src[k] in "+-":
            k += 1
        if k < end and (src[k] in DIGITS):
            is_float = True
            j = k
            while j < end and (src[j] in DIGITS):
                j += 1
    text = src[i:j].replace("_", "")
    if j < end and src[j] in "fFdDmM":
        return Token("float", float(text), start), j + 1
    if is_float:
        return Token("float", float(text), start), j
    kind, k = _int_suffix(src, j, end)
    if len(text.lstrip("0")) > 20 or int(text) >= 2**64:
        raise LexError("integral constant is too large", start)
    return Token(kind, int(text), start), k


def _int_suffix(src: str, j: int, end: int) -> tuple[str, int]:
    kind = "int"
    while j < end and src[j] in "uUlL":
        if src[j] in "lL":
            kind = "long"
        j += 1
    if j < end and (src[j].isalnum() or src[j] == "_"):
        raise LexError("malformed number", j)
    return kind, j


def _escape(src: str, i: int, end: int) -> tuple[str, int]:
    """``i`` points after the backslash."""
    if i >= end:
        raise LexError("unterminated escape", i)
    c = src[i]
    if c in ESCAPES:
        return ESCAPES[c], i + 1
    if c in "uxU":
        width = {"u": 4, "U": 8, "x": 4}[c]
        j = i + 1
        while j < end and j < i + 1 + width and src[j] in "0123456789abcdefABCDEF":
            j += 1
        if j == i + 1 or (c != "x" and j != i + 1 + width):
            raise LexError("malformed unicode escape", i)
        code = int(src[i + 1:j], 16)
        if code > 0x10FFFF:
            raise LexError("unicode escape out of range", i)
        return chr(code), j
    raise LexError(f"unknown escape sequence \\{c}", i - 1)


def _string(src: str, i: int, end: int) -> tuple[str, int]:
    buf: list[str] = []
    start = i - 1
    while i < end:
        c = src[i]
        if c == '"':
            return "".join(buf), i + 1
        if c == "\\":
            s, i = _escape(src, i + 1, end)
            buf.append(s)
        elif c == "\n":
            break
        else:
            buf.append(c)
            i += 1
    raise LexError("unterminated string literal", start)


def _verbatim(src: str, i: int, end: int) -> tuple[str, int]:
    buf: list[str] = []
    start = i - 2
    while i < end:
        if src[i] == '"':
            if i + 1 < end and src[i + 1] == '"':
                buf.append('"')
                i += 2
                continue
            return "".join(buf), i + 1
        buf.append(src[i])
        i += 1
    raise LexError("unterminated verbatim string literal", start)


def _char(src: str, i: int, end: int) -> tuple[str, int]:
    if i < end and src[i] == "\\":
        s, j = _escape(src, i + 1, end)
    elif i < end and src[i] not in "'\n":
        s, j = src[i], i + 1
    else:
        raise LexError("malformed character literal", i - 1)
    if j >= end or src[j] != "'":
        raise LexError("malformed character literal", i - 1)
    return s, j + 1


def _interp(src: str, i: int, end: int, verbatim: bool) -> tuple[list[object], int]:
    parts: list[object] = []
    buf: list[str] = []
    start = i
    while i < end:
        c = src[i]
        if c == '"':
            if verbatim and i + 1 < end and src[i + 1] == '"':
                buf.append('"')
                i += 2
                continue
            if buf:
                parts.append("".join(buf))
            return parts, i + 1
        if c == "{" and src.startswith("{{", i):
            buf.append("{")
            i += 2
        elif c == "}" and src.startswith("}}", i):
            buf.append("}")
            i += 2
        elif c == "{":
            if buf:
                parts.append("".join(buf))
                buf = []
            j = _hole_end(src, i + 1, end)
            parts.append((i + 1, j))
            i = j + 1
        elif c == "}":
            raise LexError("unescaped '}' in interpolated string", i)
        elif c == "\\" and not verbatim:
            s, i = _escape(src, i + 1, end)
            buf.append(s)
        elif c == "\n" and not verbatim:
            break
        else:
            buf.append(c)
            i += 1
    raise LexError("unterminated interpolated string", start)


def _hole_end(src: str, i: int, end: int) -> int:
    """Offset of the '}' closing an interpolation hole starting at ``i``."""
    depth = 0
    start = i
    while i < end:
        c = src[i]
        if c == '"' or src.startswith('@"', i):
            verbatim = c == "@"
            i += 2 if verbatim else 1
            _, i = _verbatim(src, i, end) if verbatim else _string(src, i, end)
            continue
        if c == "'":
            _, i = _char(src, i + 1, end)
            continue
        if c == "$" and src.startswith('$"', i):
            _, i = _interp(src, i + 2, end, False)
            continue
        if c in "({[":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "}":
            if depth == 0:
                return i
            depth -= 1
        i += 1
    raise LexError("unterminated interpolation hole", start - 1)
