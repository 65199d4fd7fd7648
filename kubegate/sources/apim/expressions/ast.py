"""Syntax tree of the C# expression subset. Every node records its source offset."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Node:
    pos: int


@dataclass(slots=True)
class TypeRef:
    """A type name as written: ``string``, ``JObject``, ``string[]``, ``int?``."""

    name: str
    args: list[TypeRef] = field(default_factory=list)
    array: bool = False


@dataclass(slots=True)
class Literal(Node):
    value: object
    kind: str | None = None  # static type of numeric and char literals


@dataclass(slots=True)
class Interp(Node):
    parts: list[str | Node]


@dataclass(slots=True)
class Name(Node):
    name: str


@dataclass(slots=True)
class Member(Node):
    name: str
    cond: bool = False


@dataclass(slots=True)
class Index(Node):
    args: list[Node]
    cond: bool = False


@dataclass(slots=True)
class Call(Node):
    """Method call on the value to its left in a chain: ``.Name<T>(args)``."""

    name: str
    type_args: list[TypeRef]
    args: list[Node]
    kwargs: dict[str, Node]
    cond: bool = False


@dataclass(slots=True)
class Chain(Node):
    """``base`` followed by member accesses, indexers and method calls."""

    base: Node
    ops: list[Node]


@dataclass(slots=True)
class Unary(Node):
    op: str
    operand: Node


@dataclass(slots=True)
class Binary(Node):
    op: str
    left: Node
    right: Node


@dataclass(slots=True)
class Conditional(Node):
    cond: Node
    then: Node
    other: Node


@dataclass(slots=True)
class Cast(Node):
    type: TypeRef
    operand: Node


@dataclass(slots=True)
class TypeTest(Node):
    op: str  # "is" or "as"
    operand: Node
    type: TypeRef
    bind: str | None = None  # ``x is string s``


@dataclass(slots=True)
class Lambda(Node):
    params: list[str]
    body: Node


@dataclass(slots=True)
class New(Node):
    type: TypeRef
    args: list[Node]
    items: list[Node] | None = None  # collection/array initializer
    size: Node | None = None  # ``new byte[16]``
    inits: list[tuple[str, Node]] | None = None  # object initializer ``{ Key = k }``


@dataclass(slots=True)
class ElementInit(Node):
    """``{ key, value }`` inside a dictionary's collection initializer."""

    args: list[Node]


@dataclass(slots=True)
class Anonymous(Node):
    """``new { a = 1, b }``: an anonymous object with named members, in order."""

    members: list[tuple[str, Node]]


@dataclass(slots=True)
class Invoke(Node):
    """A call of a local function: ``Name(args)``."""

    name: str
    args: list[Node]


@dataclass(slots=True)
class VarDecl(Node):
    name: str
    type: TypeRef | None
    value: Node
    const: bool = False


@dataclass(slots=True)
class Assign(Node):
    name: str
    op: str
    value: Node


@dataclass(slots=True)
class IndexAssign(Node):
    """``target[key] = value;`` on a JSON object or array held by a local."""

    target: Node
    key: Node
    value: Node


@dataclass(slots=True)
class MemberAssign(Node):
    """``obj.Key = value;`` on a settable property of an object held by a local."""

    target: Node
    name: str
    value: Node


@dataclass(slots=True)
class ExprStmt(Node):
    expr: Node


@dataclass(slots=True)
class If(Node):
    cond: Node
    then: list[Node]
    other: list[Node] | None


@dataclass(slots=True)
class Return(Node):
    value: Node | None  # None: ``return;`` in a void local function


@dataclass(slots=True)
class Block(Node):
    """A nested ``{ ... }`` or ``unchecked { ... }`` block."""

    body: list[Node]


@dataclass(slots=True)
class Param:
    type: TypeRef
    name: str


@dataclass(slots=True)
class LocalFunction(Node):
    name: str
    ret: TypeRef
    params: list[Param]
    body: list[Node]


@dataclass(slots=True)
class Catch:
    type: str  # the exception type named, "Exception" for a bare ``catch``
    var: str | None
    body: list[Node]


@dataclass(slots=True)
class Try(Node):
    body: list[Node]
    catches: list[Catch]
    final: list[Node] | None


@dataclass(slots=True)
class Foreach(Node):
    var: str
    iterable: Node
    body: list[Node]
