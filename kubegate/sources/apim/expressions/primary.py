"""Primary expressions and postfix chains (member access, ``?.``, indexers, calls)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import ast as A

if TYPE_CHECKING:
    from .parser import Parser

LITERAL_KINDS = {"int", "long", "float", "string", "char"}
KEYWORD_LITERALS = {"true": True, "false": False, "null": None}


def primary(p: Parser) -> A.Node:
    t = p.tok
    if t.kind in LITERAL_KINDS:
        p.take()
        return A.Literal(t.pos, t.value, literal_kind(t.kind, t.value))
    if t.kind == "interp":
        p.take()
        return interpolation(p, t)
    if t.kind == "ident":
        word = str(t.value)
        if word in KEYWORD_LITERALS:
            p.take()
            return A.Literal(t.pos, KEYWORD_LITERALS[word])
        if word == "new":
            return new(p)
        if word in ("typeof", "default", "nameof", "this", "base", "await", "checked",
                    "sizeof", "stackalloc", "delegate", "async"):
            p.fail(f"'{word}' is not supported")
        p.take()
        if p.at("("):
            args, kwargs = arguments(p)
            if kwargs:
                p.fail("named arguments are not supported for local functions")
            return A.Invoke(t.pos, word, args)
        return A.Name(t.pos, word)
    if t.kind == "op" and t.value == "(":
        p.take()
        node = p.expr()
        p.expect(")")
        return node
    p.fail("expected an expression")
    raise AssertionError


def literal_kind(kind: str, value: object) -> str | None:
    """C#'s type of a literal: an unsuffixed integer is the first of int, uint,
    long, ulong that holds it."""
    if kind == "float":
        return "double"
    if kind == "char":
        return "char"
    if kind == "string":
        return "string"
    assert isinstance(value, int)
    if kind == "int" and value < 2**31:
        return "int"
    if kind == "int" and value < 2**32:
        return "uint"
    return "long" if value < 2**63 else "ulong"


def interpolation(p: Parser, t: object) -> A.Node:
    from .parser import Parser as Sub

    assert isinstance(t, type(p.tok))
    parts: list[str | A.Node] = []
    for part in t.value:  # type: ignore[attr-defined]
        if isinstance(part, str):
            parts.append(part)
            continue
        start, end = part
        sub = Sub(p.src, start, end)
        sub.nesting = p.nesting + 1
        node = sub.expr()
        if sub.tok.kind != "eof":
            if sub.at(":") or sub.at(","):
                sub.fail("format and alignment specifiers in interpolation are not supported")
            sub.fail("expected '}'")
        parts.append(node)
    return A.Interp(t.pos, parts)  # type: ignore[attr-defined]


def new(p: Parser) -> A.Node:
    start = p.take()
    if p.at("{"):
        return anonymous(p, start.pos)
    size: A.Node | None = None
    if p.at("["):
        p.take()
        p.expect("]")
        typ = A.TypeRef("object", array=True)
    else:
        found = p.try_type()
        if found is None:
            p.fail("expected a type name after 'new'")
            raise AssertionError
        typ = found
        if not typ.array and p.at("["):
            p.take()
            size = p.expr()
            p.expect("]")
            typ.array = True
    args: list[A.Node] = []
    if p.at("(") and size is None:
        args, kwargs = arguments(p)
        if kwargs:
            p.fail("named arguments are not supported in constructors")
    items: list[A.Node] | None = None
    inits: list[tuple[str, A.Node]] | None = None
    if p.at("{"):
        items, inits = initializer(p)
    if size is None and not args and items is None and inits is None \
            and p.toks[p.i - 1].value != ")":
        p.fail("expected '(' or '{' after the type name")
    return A.New(start.pos, typ, args, items, size, inits)


def initializer(p: Parser) -> tuple[list[A.Node] | None, list[tuple[str, A.Node]] | None]:
    """``{ a, b }``, ``{ {k, v}, ... }`` (collections) or ``{ Name = v, ... }`` (objects)."""
    p.expect("{")
    items: list[A.Node] = []
    inits: list[tuple[str, A.Node]] = []
    while not p.at("}"):
        t = p.tok
        if t.kind == "ident" and p.peek().kind == "op" and p.peek().value == "=":
            if items:
                p.fail("cannot mix object and collection initializers")
            p.take()
            p.take()
            inits.append((str(t.value), p.expr()))
        elif inits:
            p.fail("expected a member initializer 'Name = value'")
        elif t.kind == "op" and t.value == "{":
            p.take()
            pair = [p.expr()]
            while p.at(","):
                p.take()
                pair.append(p.expr())
            p.expect("}")
            items.append(A.ElementInit(t.pos, pair))
        else:
            items.append(p.expr())
        if not p.at(","):
            break
        p.take()
    p.expect("}")
    return (None, inits) if inits else (items, None)


def anonymous(p: Parser, pos: int) -> A.Node:
    """``new { a = 1, b, x.C }``: a member is named explicitly or after its last name."""
    p.expect("{")
    members: list[tuple[str, A.Node]] = []
    while not p.at("}"):
        t = p.tok
        if t.kind == "ident" and p.peek().kind == "op" and p.peek().value == "=":
            p.take()
            p.take()
            name, value = str(t.value), p.expr()
        else:
            value = p.expr()
            if isinstance(value, A.Name):
                name = value.name
            elif isinstance(value, A.Chain) and isinstance(value.ops[-1], A.Member):
                name = value.ops[-1].name
            else:
                p.fail("an anonymous type member needs a name: 'Name = value'", t)
                raise AssertionError
        if any(n == name for n, _ in members):
            p.fail(f"an anonymous type cannot have two members named '{name}'", t)
        members.append((name, value))
        if not p.at(","):
            break
        p.take()
    p.expect("}")
    return A.Anonymous(pos, members)


def postfix(p: Parser, node: A.Node) -> A.Node:
    ops: list[A.Node] = []
    while True:
        t = p.tok
        if t.kind != "op":
            break
        if t.value in (".", "?."):
            p.take()
            name = p.ident()
            type_args = generic_args(p)
            if p.at("("):
                args, kwargs = arguments(p)
                ops.append(A.Call(name.pos, str(name.value), type_args or [], args, kwargs,
                                  t.value == "?."))
            elif type_args is not None:
                p.fail("expected '(' after generic type arguments")
            else:
                ops.append(A.Member(name.pos, str(name.value), t.value == "?."))
        elif t.value in ("[", "?["):
            p.take()
            args = [p.expr()]
            while p.at(","):
                p.take()
                args.append(p.expr())
            p.expect("]")
            ops.append(A.Index(t.pos, args, t.value == "?["))
        elif t.value == "(":
            p.fail("only methods can be called")
        elif t.value == "!" and ops and p.peek().kind == "op" and p.peek().value in (".", "["):
            p.take()  # null-forgiving operator: no effect
        else:
            break
    return A.Chain(node.pos, node, ops) if ops else node


def generic_args(p: Parser) -> list[A.TypeRef] | None:
    if not p.at("<"):
        return None
    save = p.i
    p.take()
    out: list[A.TypeRef] = []
    while True:
        typ = p.try_type()
        if typ is None:
            p.i = save
            return None
        out.append(typ)
        if p.at(","):
            p.take()
            continue
        break
    if not p.at(">") or not (p.peek().kind == "op" and p.peek().value == "("):
        p.i = save
        return None
    p.take()
    return out


def arguments(p: Parser) -> tuple[list[A.Node], dict[str, A.Node]]:
    p.expect("(")
    args: list[A.Node] = []
    kwargs: dict[str, A.Node] = {}
    while not p.at(")"):
        t = p.tok
        nxt = p.peek()
        if t.kind == "ident" and t.value in ("out", "ref", "in") and nxt.kind == "ident":
            p.fail(f"'{t.value}' arguments are not supported")
        if t.kind == "ident" and nxt.kind == "op" and nxt.value == "=>":
            p.take()
            p.take()
            args.append(A.Lambda(t.pos, [str(t.value)], lambda_body(p)))
        elif t.kind == "op" and t.value == "(" and (params := lambda_params(p)) is not None:
            args.append(A.Lambda(t.pos, params, lambda_body(p)))
        elif t.kind == "ident" and nxt.kind == "op" and nxt.value == ":":
            p.take()
            p.take()
            kwargs[str(t.value)] = p.expr()
        else:
            if kwargs:
                p.fail("positional argument after a named argument")
            args.append(p.expr())
        if not p.at(","):
            break
        p.take()
    p.expect(")")
    return args, kwargs


def lambda_params(p: Parser) -> list[str] | None:
    """``(a, b) =>``: consume and return the names, or leave the position alone."""
    save = p.i
    p.take()
    names: list[str] = []
    while p.tok.kind == "ident":
        names.append(str(p.take().value))
        if not p.at(","):
            break
        p.take()
    if p.at(")") and p.peek().kind == "op" and p.peek().value == "=>":
        p.take()
        p.take()
        return names
    p.i = save
    return None


def lambda_body(p: Parser) -> A.Node:
    if p.at("{"):
        p.fail("lambda bodies must be a single expression")
    return p.expr()
