"""Statements of ``@{ ... }`` blocks: declarations, assignment, if/else, return, foreach,
nested and ``unchecked`` blocks, try/catch/finally and local functions."""

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
        return A.Block(t.pos, body(p))
    if t.kind == "ident" and t.value == "unchecked" and p.peek().kind == "op" \
            and p.peek().value == "{":
        p.take()  # arithmetic is unchecked anyway
        return A.Block(t.pos, body(p))
    if t.kind != "ident":
        node = p.expr()
        p.fail("only method calls and assignments can be statements", p.tok if p.at(";") else None)
        return node
    word = str(t.value)
    if word in UNSUPPORTED_STATEMENTS:
        p.fail(f"'{word}' statements are not supported")
    if word == "return":
        p.take()
        if p.at(";"):
            p.take()
            return A.Return(t.pos, None)
        value = p.expr()
        p.expect(";")
        return A.Return(t.pos, value)
    if word == "try":
        return try_statement(p)
    if word == "const":
        p.take()
        decl = declaration(p)
        if not isinstance(decl, A.VarDecl) or decl.type is None:
            p.fail("expected a typed constant declaration")
            raise AssertionError
        decl.const = True
        return decl
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
        return A.Assign(t.pos, word, "+=" if inc.value == "++" else "-=", A.Literal(inc.pos, 1, "int"))
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
    if p.at("=") and isinstance(expr, A.Chain) and isinstance(expr.base, A.Name) \
            and isinstance(expr.ops[-1], A.Member) and not expr.ops[-1].cond:
        p.take()
        value = p.expr()
        p.expect(";")
        member = expr.ops[-1]
        assert isinstance(member, A.Member)
        target = A.Chain(expr.pos, expr.base, expr.ops[:-1]) if len(expr.ops) > 1 else expr.base
        return A.MemberAssign(member.pos, target, member.name, value)
    if p.tok.kind == "op" and p.tok.value in ASSIGN_OPS:
        p.fail("only local variables, JSON elements and settable properties can be assigned")
    if not (isinstance(expr, A.Chain) and isinstance(expr.ops[-1], A.Call)) \
            and not isinstance(expr, A.Invoke):
        p.fail("only method calls and assignments can be statements", p.tok)
    p.expect(";")
    return A.ExprStmt(t.pos, expr)


def declaration(p: Parser) -> A.Node | None:
    save = p.i
    typ = p.try_type()
    if typ is not None and p.tok.kind == "ident" and p.peek().kind == "op" \
            and p.peek().value == "(":
        return local_function(p, typ)
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


def local_function(p: Parser, ret: A.TypeRef) -> A.Node:
    name = p.take()
    p.expect("(")
    params: list[A.Param] = []
    while not p.at(")"):
        if p.tok.kind == "ident" and p.tok.value in ("out", "ref", "in", "params", "this"):
            p.fail(f"'{p.tok.value}' parameters are not supported")
        typ = p.try_type()
        if typ is None or typ.name == "var":
            p.fail("expected a parameter type")
            raise AssertionError
        params.append(A.Param(typ, str(p.ident().value)))
        if p.at("="):
            p.fail("optional parameters are not supported")
        if not p.at(","):
            break
        p.take()
    p.expect(")")
    if not p.at("{"):
        p.fail("expected '{' (expression-bodied local functions are not supported)")
    return A.LocalFunction(name.pos, str(name.value), ret, params, body(p))


def try_statement(p: Parser) -> A.Node:
    t = p.take()
    if not p.at("{"):
        p.fail("expected '{'")
    block = body(p)
    catches: list[A.Catch] = []
    while p.at_kw("catch"):
        p.take()
        type_name, var = "Exception", None
        if p.at("("):
            p.take()
            typ = p.try_type()
            if typ is None:
                p.fail("expected an exception type")
                raise AssertionError
            type_name = typ.name
            if p.tok.kind == "ident":
                var = str(p.take().value)
            p.expect(")")
        if p.at_kw("when"):
            p.fail("exception filters ('when') are not supported")
        if not p.at("{"):
            p.fail("expected '{'")
        catches.append(A.Catch(type_name, var, body(p)))
    final = None
    if p.at_kw("finally"):
        p.take()
        if not p.at("{"):
            p.fail("expected '{'")
        final = body(p)
    if not catches and final is None:
        p.fail("expected 'catch' or 'finally'")
    return A.Try(t.pos, block, catches, final)
