"""Recursive-descent (Pratt) parser for the C# expression subset.

Nesting is bounded (``MAX_NESTING``) so no input recurses without limit, and
every loop consumes a token, so parsing always terminates. Errors are
``ParseError(message, offset)``; the caller maps offsets to document lines."""

from __future__ import annotations

from . import ast as A
from . import primary as _primary
from . import statements as _statements
from .lexer import LexError, Token, tokenize

MAX_NESTING = 60
BINARY = {
    "??": 2, "||": 3, "&&": 4, "|": 5, "^": 6, "&": 7, "==": 8, "!=": 8,
    "<": 9, ">": 9, "<=": 9, ">=": 9, "is": 9, "as": 9, "<<": 10, ">>": 10,
    "+": 11, "-": 11, "*": 12, "/": 12, "%": 12,
}
KEYWORD_TYPES = {"string", "int", "long", "double", "float", "decimal", "bool", "object",
                 "char", "byte", "sbyte", "short", "ushort", "uint", "ulong", "var", "dynamic"}
TYPE_NAMES = KEYWORD_TYPES | {
    "String", "Int32", "Int64", "Double", "Boolean", "Object", "JObject", "JArray", "JToken",
    "JValue", "JProperty", "IResponse", "IRequest", "IMessageBody", "Jwt", "DateTime",
    "TimeSpan", "Guid", "IEnumerable", "List", "IList", "Dictionary", "IDictionary",
    "IReadOnlyDictionary", "KeyValuePair", "Uri", "DateTimeOffset", "Int16", "UInt16",
    "UInt32", "UInt64", "Byte", "SByte", "XDocument", "XElement", "XNode", "Exception",
    "BasicAuthCredentials", "SymmetricAlgorithm", "Aes",
}
UNSUPPORTED_STATEMENTS = {"while", "for", "do", "throw", "switch", "using", "goto",
                          "lock", "unsafe", "fixed", "checked", "yield", "break", "continue"}


class ParseError(Exception):
    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.message = message
        self.pos = pos


class Parser:
    def __init__(self, src: str, start: int = 0, end: int | None = None) -> None:
        self.src = src
        try:
            self.toks: list[Token] = tokenize(src, start, end)
        except LexError as e:
            raise ParseError(e.message, e.pos) from None
        self.i = 0
        self.nesting = 0

    # -- token helpers ----------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def peek(self, n: int = 1) -> Token:
        return self.toks[min(self.i + n, len(self.toks) - 1)]

    def at(self, value: str, kind: str = "op") -> bool:
        t = self.toks[self.i]
        return t.kind == kind and t.value == value

    def at_kw(self, word: str) -> bool:
        return self.at(word, "ident")

    def take(self) -> Token:
        t = self.toks[self.i]
        if t.kind != "eof":
            self.i += 1
        return t

    def expect(self, value: str, kind: str = "op") -> Token:
        if not self.at(value, kind):
            self.fail(f"expected '{value}'")
        return self.take()

    def ident(self) -> Token:
        if self.tok.kind != "ident":
            self.fail("expected a name")
        return self.take()

    def fail(self, message: str, tok: Token | None = None) -> None:
        t = tok or self.tok
        idx = next((i for i, x in enumerate(self.toks) if x is t), 0)
        prev = self.toks[idx - 1] if idx > 0 else None
        if t.kind in ("string", "interp") and prev is not None and prev.kind == "string":
            message = "two string literals in a row (C# has no implicit concatenation; use +)"
        found = "end of expression" if t.kind == "eof" else repr(self.describe(t))
        raise ParseError(f"{message}, found {found}", t.pos)

    @staticmethod
    def describe(t: Token) -> str:
        return str(t.value) if t.kind in ("op", "ident") else t.kind

    def enter(self) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise ParseError("expression nested too deeply", self.tok.pos)

    # -- entry points -----------------------------------------------------
    def parse_single(self) -> A.Node:
        node = self.expr()
        if self.tok.kind != "eof":
            self.fail("expected end of expression")
        return node

    def parse_block(self) -> list[A.Node]:
        out: list[A.Node] = []
        while self.tok.kind != "eof":
            out.append(self.statement())
        return out

    # -- statements -------------------------------------------------------
    def statement(self) -> A.Node:
        self.enter()
        try:
            return _statements.statement(self)
        finally:
            self.nesting -= 1

    # -- types ------------------------------------------------------------
    def try_type(self) -> A.TypeRef | None:
        """Parse a type name if one is here; restore the position if not."""
        save = self.i
        t = self.tok
        if t.kind != "ident":
            return None
        name = str(self.take().value)
        while self.at(".") and self.peek().kind == "ident":
            self.take()
            name += "." + str(self.take().value)
        args: list[A.TypeRef] = []
        if self.at("<"):
            self.take()
            while True:
                sub = self.try_type()
                if sub is None:
                    self.i = save
                    return None
                args.append(sub)
                if self.at(","):
                    self.take()
                    continue
                break
            if not self.at(">"):
                self.i = save
                return None
            self.take()
        ref = A.TypeRef(name, args)
        if self.at("?"):
            self.take()
        if self.at("[") and self.peek().kind == "op" and self.peek().value == "]":
            self.take()
            self.take()
            ref.array = True
        return ref

    # -- expressions --------------------------------------------------------
    def expr(self, min_prec: int = 0) -> A.Node:
        self.enter()
        try:
            left = self.unary()
            while True:
                t = self.tok
                op = str(t.value)
                if t.kind == "op" and op == "?" and min_prec <= 1:
                    self.take()
                    then = self.expr()
                    self.expect(":")
                    other = self.expr(1)
                    left = A.Conditional(t.pos, left, then, other)
                    continue
                if t.kind == "op" and op == ">" and self.peek().kind == "op" \
                        and self.peek().value == ">" and self.peek().pos == t.pos + 1:
                    op = ">>"  # two '>' tokens: the lexer leaves them apart for generics
                if t.kind not in ("op", "ident") or op not in BINARY:
                    return left
                if t.kind == "ident" and op not in ("is", "as"):
                    return left
                prec = BINARY[op]
                if prec < min_prec:
                    return left
                self.take()
                if op == ">>":
                    self.take()
                if op in ("is", "as"):
                    left = self.type_test(t, op, left)
                    continue
                right = self.expr(prec if op == "??" else prec + 1)
                left = A.Binary(t.pos, op, left, right)
        finally:
            self.nesting -= 1

    def type_test(self, t: Token, op: str, left: A.Node) -> A.Node:
        if op == "is" and self.at_kw("null"):
            self.take()
            return A.Binary(t.pos, "==", left, A.Literal(t.pos, None))
        if op == "is" and self.at_kw("not") and self.peek().value == "null":
            self.take()
            self.take()
            return A.Binary(t.pos, "!=", left, A.Literal(t.pos, None))
        typ = self.try_type()
        if typ is None:
            self.fail("expected a type name")
            raise AssertionError
        bind = None
        if op == "is" and self.tok.kind == "ident" and self.tok.value not in BINARY:
            bind = str(self.take().value)
        return A.TypeTest(t.pos, op, left, typ, bind)

    def unary(self) -> A.Node:
        t = self.tok
        if t.kind == "op" and t.value in ("!", "-", "+", "~"):
            self.take()
            self.enter()
            try:
                return A.Unary(t.pos, str(t.value), self.unary())
            finally:
                self.nesting -= 1
        if t.kind == "op" and t.value in ("++", "--"):
            self.fail("increment and decrement are only supported as statements")
        if t.kind == "op" and t.value == "(":
            cast = self.try_cast()
            if cast is not None:
                return cast
        return self.postfix(self.primary())

    def try_cast(self) -> A.Node | None:
        save = self.i
        start = self.take()
        typ = self.try_type()
        if typ is not None and self.at(")"):
            head = typ.name.split(".")[-1]
            self.take()
            nxt = self.tok
            starts_operand = nxt.kind in ("ident", "int", "long", "float", "string", "char",
                                          "interp") or (nxt.kind == "op" and nxt.value in ("(", "!", "~"))
            keyword = head in KEYWORD_TYPES and nxt.kind != "eof" and not (
                nxt.kind == "op" and nxt.value not in ("(", "!", "~", "-", "+"))
            if (head in TYPE_NAMES and starts_operand) or keyword:
                self.enter()
                try:
                    return A.Cast(start.pos, typ, self.unary())
                finally:
                    self.nesting -= 1
        self.i = save
        return None

    def primary(self) -> A.Node:
        return _primary.primary(self)

    def postfix(self, node: A.Node) -> A.Node:
        return _primary.postfix(self, node)
