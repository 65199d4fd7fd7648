"""Statements of ``@{ ... }`` blocks: declarations, assignment, if/else, return, foreach."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import ast as A

if TYPE_CHECKING:
    from .parser import Parser

ASSIGN_OPS = ("=", "+=", "-=", "*=", "/=", "%=", "??=")


def statement(p: Parser) -> A.Node:
    from .parser import UNSUPPORTED_STATEMENTS

    t = p.tok
    if t.kind == "op" and t.value == "{":
        p.fail("nested blocks are only supported after if/else/foreach")
    if t.kind != "ident":
        node = p.expr()
        p.fail("only method calls and assignments can be statements", p.tok if p.at(";") else None)
        return node
    word = str(t.value)
    if word in UNSUPPORTED_STATEMENTS:
        p.fail(f"'{word}' statements are not supported")
    if word == "return":
        p.take()
        value = p.expr()
        p.expect(";")
        return A.Return(t.pos, value)
    if word == "if":
        return if_statement(p)
    if word == "foreach":
        return foreach(p)
    decl = declaration(p)
    if decl is not None:
        return decl
    nxt = p.peek()
    if nxt.kind == "op" and nxt.value in ASSIGN_OPS:
        p.take()
        op = str(p.take().value)
        value = p.expr()
        p.expect(";")
        return A.Assign(t.pos, word, op, value)
    if nxt.kind == "op" and nxt.value in ("++", "--"):
        p.take()
        inc = p.take()
        p.expect(";")
        return A.Assign(t.pos, word, "+=" if inc.value == "++" else "-=", A.Literal(inc.pos, 1))
    expr = p.expr()
    if p.at("=") and isinstance(expr, A.Chain) and isinstance(expr.base, A.Name) \
            and isinstance(expr.ops[-1], A.Index) and not expr.ops[-1].cond \
            and len(expr.ops[-1].args) == 1:
        p.take()
        value = p.expr()
        p.expect(";")
        last = expr.ops[-1]
        target = A.Chain(expr.pos, expr.base, expr.ops[:-1]) if len(expr.ops) > 1 else expr.base
        return A.IndexAssign(last.pos, target, last.args[0], value)
    if p.tok.kind == "op" and p.tok.value in ASSIGN_OPS:
        p.fail("only local variables and JSON elements can be assigned")
    if not (isinstance(expr, A.Chain) and isinstance(expr.ops[-1], A.Call)):
        p.fail("only method calls and assignments can be statements", p.tok)
    p.expect(";")
    return A.ExprStmt(t.pos, expr)


def declaration(p: Parser) -> A.Node | None:
    save = p.i
    typ = p.try_type()
    if typ is None or p.tok.kind != "ident" or not (
            p.peek().kind == "op" and p.peek().value in ("=", ";")):
        p.i = save
        return None
    name = p.take()
    if p.at(";"):
        p.fail("declarations must have an initial value")
    p.expect("=")
    value = p.expr()
    p.expect(";")
    return A.VarDecl(name.pos, str(name.value), None if typ.name == "var" else typ, value)


def body(p: Parser) -> list[A.Node]:
    if p.at("{"):
        p.take()
        out: list[A.Node] = []
        while not p.at("}"):
            if p.tok.kind == "eof":
                p.fail("expected '}'")
            out.append(p.statement())
        p.take()
        return out
    return [p.statement()]


def if_statement(p: Parser) -> A.Node:
    t = p.take()
    p.expect("(")
    cond = p.expr()
    p.expect(")")
    then = body(p)
    other = None
    if p.at_kw("else"):
        p.take()
        other = body(p)
    return A.If(t.pos, cond, then, other)


def foreach(p: Parser) -> A.Node:
    t = p.take()
    p.expect("(")
    if p.try_type() is None:
        p.fail("expected a type or 'var'")
    name = p.ident()
    p.expect("in", "ident")
    iterable = p.expr()
    p.expect(")")
    return A.Foreach(t.pos, str(name.value), iterable, body(p))
