"""Member access, indexers, method calls and ``?.`` chains; static types; ``new``.

A chain is compiled to a base closure plus a list of ``(conditional, op)``
steps; a ``?.`` step on null ends the whole chain with null, as in C#."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from types import FunctionType
from typing import TYPE_CHECKING, Any

from . import arrays, builtins, collections, regexes, uris, xlinq
from . import ast as A
from .budget import BYTES_PER_STEP, ELEMENTS_PER_STEP
from .crypto import HashAlgorithm, Random, SymmetricAlgorithm
from .errors import CsException, ExpressionError
from .jwt import Claims, Jwt
from .runtime import JObject, cs_type_name, iterate
from .schema import CONTEXT_MEMBERS
from .statics import ALIASES, CONSTRUCTORS, NAMESPACES, STATICS, TextEncoding

if TYPE_CHECKING:
    from .codegen import Scope

Fn = Callable[[Any], Any]
Compile = Callable[[A.Node, "Scope"], Fn]
Step = Callable[[Any, Any], Any]
TABLES = {**builtins.TABLES, **collections.TABLES,
          bytes: arrays.BYTE_ARRAY, bytearray: arrays.BYTE_ARRAY}
CS_CLASSES = (Jwt, Claims, collections.KeyValuePair, collections.JProperty, TextEncoding,
              HashAlgorithm, Random, SymmetricAlgorithm, CsException, arrays.IPAddress,
              regexes.Regex, regexes.Match, regexes.Group, regexes.GroupCollection, uris.Uri,
              uris.BasicAuthCredentials, xlinq.XDocument, xlinq.XElement, xlinq.XAttribute,
              xlinq.XName)
KNOWN_MEMBERS: frozenset[str] = frozenset().union(
    *(t.keys() for t in TABLES.values()), *CONTEXT_MEMBERS.values(),
    *(c.__cs_members__ for c in CS_CLASSES))
SETTABLE: frozenset[str] = frozenset().union(
    *(getattr(c, "__cs_settable__", frozenset()) for c in CS_CLASSES))
NULL = "Object reference not set to an instance of an object"
NO_KWARGS: dict[str, Any] = {}
_cache: dict[tuple[type, str], tuple[str, Any]] = {}


def lookup(value: Any, name: str) -> tuple[str, Any]:
    """How ``name`` applies to ``value``: ("data"|"call", None) for classes with
    ``__cs_members__``, else the entry of the value type's method table."""
    t = type(value)
    found = _cache.get((t, name))
    if found is not None:
        return found
    members = getattr(t, "__cs_members__", None)
    if members is not None:
        if name not in members:
            raise ExpressionError(f"'{name}' is not a member of {cs_type_name(value)}")
        attr = inspect.getattr_static(t, name, None)
        found = ("call", None) if isinstance(attr, FunctionType) else ("data", None)
    else:
        for klass in t.__mro__:
            table = TABLES.get(klass)
            if table is not None and name in table:
                found = table[name]
                break
        else:
            raise ExpressionError(f"'{name}' is not a member of {cs_type_name(value)}")
    _cache[(t, name)] = found
    return found


def get_member(value: Any, name: str) -> Any:
    if value is None:
        raise ExpressionError(f"{NULL} (reading '{name}')")
    if type(value) is collections.AnonymousObject:
        if name not in value.members:
            raise ExpressionError(f"'{name}' is not a member of this anonymous type")
        return value.members[name]
    kind, fn = lookup(value, name)
    if kind == "data":
        return getattr(value, name)
    if kind != "prop":
        raise ExpressionError(f"'{name}' is a method; call it with ()")
    return fn(value)


def call_method(value: Any, name: str, t: str | None, args: list[Any],
                kwargs: dict[str, Any]) -> Any:
    if value is None:
        raise ExpressionError(f"{NULL} (calling '{name}')")
    if name == "Count" and isinstance(value, list | tuple):
        return collections.SEQUENCE_COUNT_METHOD[1](value, *args)
    kind, fn = lookup(value, name)
    if kind == "call":
        if t is not None:
            kwargs = {**kwargs, "T": t}
        return getattr(value, name)(*args, **kwargs)
    if kind == "data":
        raise ExpressionError(f"'{name}' is not a method")
    if kwargs:
        raise ExpressionError(f"'{name}' does not take named arguments")
    if kind == "generic":
        return fn(value, t, *args)
    if kind != "method" or t is not None:
        raise ExpressionError(f"'{name}' cannot be called like this")
    return fn(value, *args)


def index(value: Any, keys: list[Any]) -> Any:
    if value is None:
        raise ExpressionError(f"{NULL} (indexer)")
    if len(keys) != 1:
        raise ExpressionError("only one-dimensional indexers are supported")
    key = keys[0]
    if isinstance(value, str | bytes | bytearray):
        if not isinstance(key, int) or isinstance(key, bool) or not 0 <= key < len(value):
            raise ExpressionError("index was outside the bounds of the string")
        return value[key]
    return call_method(value, "Item", None, [key], {})


def compile_chain(node: A.Chain, scope: Scope, compile_expr: Compile) -> Fn:
    from .codegen import CompileFailure

    base, rest = _static_base(node, scope)
    if base is None:
        base = compile_expr(node.base, scope)
        rest = node.ops
    steps: list[tuple[bool, Step]] = []
    for op in rest:
        if isinstance(op, A.Member | A.Call) and op.name not in KNOWN_MEMBERS \
                and not (isinstance(op, A.Member) and op.name in scope.anonymous):
            raise CompileFailure(f"unknown or unsupported member '{op.name}'", op.pos)
        steps.append((bool(getattr(op, "cond", False)), _step(op, scope, compile_expr)))
    first = base

    def run(env: Any) -> Any:
        value = first(env)
        for cond, step in steps:
            if cond and value is None:
                return None
            value = step(env, value)
        return value
    if (isinstance(node.base, A.Name) and node.base.name == "context"
            and "context" not in scope.names
            and all(isinstance(op, A.Member) and not op.cond for op in node.ops)):
        members = [step for _, step in steps]  # member reads do not use the Env

        def direct(ctx: Any) -> Any:
            value = ctx
            for step in members:
                value = step(None, value)
            return value
        run.direct = direct  # type: ignore[attr-defined]  # see CompiledExpression
    return run


class _Unseen:
    """No value has this type: a member step that has read nothing yet."""


def _member_step(name: str) -> Step:
    """Read member `name`; remembers the last type it was a plain data member of, so a
    chain over the context (`context.Request.IpAddress`) skips the lookup after once."""
    seen: list[type] = [_Unseen]  # the type last read as a data member

    def step(env: Any, v: Any) -> Any:
        if type(v) is seen[0]:
            return getattr(v, name)
        value = get_member(v, name)
        t = type(v)
        if (v is not None and t is not collections.AnonymousObject
                and lookup(v, name)[0] == "data"):
            seen[0] = t
        return value
    return step


def _step(op: A.Node, scope: Scope, compile_expr: Compile) -> Step:
    if isinstance(op, A.Member):
        return _member_step(op.name)
    if isinstance(op, A.Index):
        keys = [compile_expr(a, scope) for a in op.args]
        return lambda env, v: index(v, [k(env) for k in keys])
    assert isinstance(op, A.Call)
    call_name = op.name
    t = _type_arg(op)
    args = _arguments(op.args, scope, compile_expr)
    kwargs = {k: compile_expr(v, scope) for k, v in op.kwargs.items()}
    if not kwargs:
        return lambda env, v: call_method(v, call_name, t, [a(env) for a in args], NO_KWARGS)
    return lambda env, v: call_method(v, call_name, t, [a(env) for a in args],
                                      {k: f(env) for k, f in kwargs.items()})


def _type_arg(op: A.Call) -> str | None:
    from .codegen import CompileFailure

    if len(op.type_args) > 1:
        raise CompileFailure("only one generic type argument is supported", op.pos)
    return (op.type_args[0].name + ("[]" if op.type_args[0].array else "")) \
        if op.type_args else None


def _arguments(nodes: list[A.Node], scope: Scope, compile_expr: Compile) -> list[Fn]:
    from .codegen import compile_lambda

    return [compile_lambda(a, scope) if isinstance(a, A.Lambda) else compile_expr(a, scope)
            for a in nodes]


def _static_base(node: A.Chain, scope: Scope) -> tuple[Fn | None, list[A.Node]]:
    """Resolve ``System.Text.Encoding.UTF8``-style prefixes to a static member."""
    from .codegen import CompileFailure

    if not isinstance(node.base, A.Name) or node.base.name in scope.names \
            or node.base.name == "context":
        return None, node.ops
    name, pos, ops = node.base.name, node.base.pos, list(node.ops)
    while name in NAMESPACES and ops and isinstance(ops[0], A.Member):
        name, pos, ops = ops[0].name, ops[0].pos, ops[1:]
    type_name = ALIASES.get(name, name)
    table = STATICS.get(type_name)
    if table is None:
        raise CompileFailure(f"unknown name '{name}'", pos)
    if not ops or not isinstance(ops[0], A.Member | A.Call):
        raise CompileFailure(f"'{name}' is a type, not a value", pos)
    first = ops[0]
    entry = table.get(first.name)
    if entry is None:
        raise CompileFailure(f"'{name}.{first.name}' is not supported", first.pos)
    kind, fn = entry
    if isinstance(first, A.Member):
        if kind != "prop":
            raise CompileFailure(f"'{name}.{first.name}' is a method", first.pos)
        return (lambda env: fn(env)), ops[1:]
    if kind == "prop":
        raise CompileFailure(f"'{name}.{first.name}' is not a method", first.pos)
    if first.kwargs:
        raise CompileFailure("named arguments are not supported here", first.pos)
    if type_name == "Regex":
        _check_pattern(first.args, regexes.PATTERN_ARGUMENT.get(first.name, -1))
    if type_name == "BitConverter" and first.name == "GetBytes" and len(first.args) == 1:
        fn = _typed_get_bytes(first.args[0], scope)
    return _static_call(first, kind, fn, scope), ops[1:]


def _typed_get_bytes(arg: A.Node, scope: Scope) -> Callable[..., Any]:
    """``BitConverter.GetBytes`` overloads on the argument's static type; where the
    compiler knows it, that type gives the width, else the value does."""
    from .numeric import static_type

    static = static_type(arg, scope)
    return lambda value: arrays.get_bytes(value, static)


def _check_pattern(args: list[A.Node], index: int) -> None:
    """A constant regular expression pattern is checked when the policy loads."""
    from .codegen import CompileFailure

    if 0 <= index < len(args):
        arg = args[index]
        if isinstance(arg, A.Literal) and isinstance(arg.value, str):
            error = regexes.check_pattern(arg.value)
            if error is not None:
                raise CompileFailure(error, arg.pos)


def _static_call(call: A.Call, kind: str, fn: Callable[..., Any], scope: Scope) -> Fn:
    from .codegen import compile_expr

    args = _arguments(call.args, scope, compile_expr)
    if kind == "generic":
        t = _type_arg(call)
        return lambda env: fn(t, *[a(env) for a in args])
    return lambda env: fn(*[a(env) for a in args])


MAX_ARRAY = 1_000_000
ARRAY_DEFAULTS = {"bool": False, "double": 0.0, "char": "\0", **{
    t: 0 for t in ("sbyte", "short", "ushort", "int", "uint", "long", "ulong")}}


def _new_array(element: str, size: Any, items: list[Any] | None) -> Any:
    if size is not None:
        if type(size) is not int or not 0 <= size <= MAX_ARRAY:
            raise ExpressionError("array size must be an int between 0 and 1000000")
        if items is not None and len(items) != size:
            raise ExpressionError("the array initializer does not match the array size")
    if element == "byte":
        data = bytearray(size or 0) if items is None else bytearray()
        for item in items or ():
            if type(item) is not int or not 0 <= item <= 255:
                raise ExpressionError("a byte array element must be a byte (0-255)")
            data.append(item)
        return data
    if items is not None:
        return items
    return [ARRAY_DEFAULTS.get(element)] * (size or 0)


def compile_new(node: A.New, scope: Scope, compile_expr: Compile) -> Fn:
    from .codegen import CompileFailure
    from .numeric import canonical

    args = [compile_expr(a, scope) for a in node.args]
    name = node.type.name.split(".")[-1]
    pairs = [i for i in node.items or [] if isinstance(i, A.ElementInit)]
    if pairs and name not in ("Dictionary", "IDictionary"):
        raise CompileFailure("'{ key, value }' initializers are only supported for Dictionary",
                             pairs[0].pos)
    if name in ("Dictionary", "IDictionary") and not node.type.array:
        return _compile_dictionary(node, scope, compile_expr)
    items = [compile_expr(a, scope) for a in node.items or []]
    if node.type.array:
        if args:
            raise CompileFailure("arrays take a size in brackets: new T[n]", node.pos)
        element = canonical(name)
        size = compile_expr(node.size, scope) if node.size is not None else None
        has_items = node.items is not None

        def new_array(env: Any) -> Any:
            n = None if size is None else size(env)
            if type(n) is int and n > 0:  # allocating is work too: 8-byte slots cost more
                env.step(1 + n // (BYTES_PER_STEP if element == "byte" else ELEMENTS_PER_STEP))
            return _new_array(element, n, [i(env) for i in items] if has_items else None)
        return new_array
    if name in ("List", "IList"):
        def new_list(env: Any) -> Any:
            first = [a(env) for a in args]
            out = [] if not first or type(first[0]) is int else list(iterate(first[0]))
            return out + [i(env) for i in items]
        return new_list
    ctor = CONSTRUCTORS.get(name)
    if ctor is None:
        raise CompileFailure(f"'new {node.type.name}' is not supported", node.pos)
    if name == "Regex":
        _check_pattern(node.args, 0)
    if items and name != "JObject":
        raise CompileFailure("collection initializers are not supported here", node.pos)
    inits = [(k, compile_expr(v, scope)) for k, v in node.inits or []]
    for member, _ in inits:
        settable: frozenset[str] = getattr(ctor, "__cs_settable__", frozenset())
        if member not in settable:
            raise CompileFailure(f"'{member}' cannot be set on {name}", node.pos)

    def construct(env: Any) -> Any:
        try:
            obj = ctor(*[a(env) for a in args], *[i(env) for i in items])
        except TypeError:
            raise ExpressionError(f"no constructor of {name} takes these arguments") from None
        for member, value in inits:
            setattr(obj, member, value(env))
        return obj
    return construct


def _compile_dictionary(node: A.New, scope: Scope, compile_expr: Compile) -> Fn:
    from .codegen import CompileFailure

    if node.args or node.inits:
        raise CompileFailure("Dictionary constructors take no arguments here", node.pos)
    entries: list[tuple[Fn, Fn]] = []
    for item in node.items or []:
        if not isinstance(item, A.ElementInit) or len(item.args) != 2:
            raise CompileFailure("expected '{ key, value }'", item.pos)
        entries.append((compile_expr(item.args[0], scope), compile_expr(item.args[1], scope)))

    def new_dictionary(env: Any) -> Any:
        d = collections.CsDictionary()
        for k, v in entries:
            collections.CS_DICTIONARY["Add"][1](d, k(env), v(env))
        return d
    return new_dictionary


def compile_anonymous(node: A.Anonymous, scope: Scope, compile_expr: Compile) -> Fn:
    members = [(k, compile_expr(v, scope)) for k, v in node.members]
    scope.anonymous.update(k for k, _ in members)
    return lambda env: collections.AnonymousObject({k: v(env) for k, v in members})


__all__ = ["JObject", "KNOWN_MEMBERS", "call_method", "compile_chain", "get_member", "index"]
