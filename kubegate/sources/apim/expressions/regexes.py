"""``System.Text.RegularExpressions``: ``Regex`` statics and instances, ``Match``, ``Group``.

Patterns run on the ``regex`` package, which reads .NET's syntax for named
groups (``(?<name>...)``) and lookbehind, and every match is bounded by a
timeout (``MATCH_TIMEOUT`` seconds): a catastrophically backtracking pattern
fails with an ``ExpressionError`` instead of holding the gateway. Replacement
strings use .NET's ``$1``/``${name}``/``$$``/``$&`` syntax, applied through a
callback (never as a Python template)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import regex

from .budget import FORMATTED_PER_STEP, PARTS_PER_STEP, charge
from .builtins import MAX_STRING, check_length, is_digits
from .errors import BudgetExceeded, ExpressionError
from .runtime import cs_str, cs_type_name

Entry = tuple[str, Callable[..., Any]]
MATCH_TIMEOUT = 0.25
EVALUATION_BUDGET = 1.0  # seconds of matching for all regex calls of one evaluation
# remaining matching time of the evaluation in progress (set by CompiledExpression)
REGEX_BUDGET: ContextVar[list[float] | None] = ContextVar("regex_budget", default=None)
MAX_PATTERN = 4096
MAX_MATCHES = 10_000
# ``regex.compile`` unrolls counted repeats (``(a{1000}){1000}`` is a million nodes and
# takes minutes), so patterns are measured before compiling: one count is at most
# MAX_REPEAT, and the pattern unrolled (each atom times the counts around it) at most
# MAX_UNROLLED.
MAX_REPEAT = 1000
MAX_UNROLLED = 100_000
# RegexOptions values as .NET numbers them, and the ``regex`` flag for each
OPTIONS = {"None": 0, "IgnoreCase": 1, "Multiline": 2, "ExplicitCapture": 4, "Compiled": 8,
           "Singleline": 16, "IgnorePatternWhitespace": 32, "RightToLeft": 64,
           "ECMAScript": 256, "CultureInvariant": 512, "NonBacktracking": 1024}
FLAGS = {1: regex.IGNORECASE, 2: regex.MULTILINE, 8: 0, 16: regex.DOTALL, 32: regex.VERBOSE,
         256: regex.ASCII, 512: 0, 1024: 0}


def _flags(options: Any) -> int:
    if options is None:
        return 0
    if type(options) is not int or options < 0:
        raise ExpressionError("options must be RegexOptions values")
    flags = 0
    for bit in range(11):
        if options & (1 << bit):
            if (1 << bit) not in FLAGS:
                raise ExpressionError("RegexOptions.RightToLeft and ExplicitCapture are "
                                      "not supported")
            flags |= FLAGS[1 << bit]
    return flags


def _repeat_at(pattern: str, i: int) -> tuple[int, int] | None:
    """The counted quantifier ``{n}``, ``{n,}`` or ``{n,m}`` at ``i``: (largest count,
    end offset), or None when the ``{`` there is a literal."""
    j = i + 1
    while j < len(pattern) and pattern[j] in "0123456789":
        j += 1
    if j == i + 1:
        return None
    counts = [int(pattern[i + 1:j])]
    if j < len(pattern) and pattern[j] == ",":
        k = j + 1
        while k < len(pattern) and pattern[k] in "0123456789":
            k += 1
        if k > j + 1:
            counts.append(int(pattern[j + 1:k]))
        j = k
    if j >= len(pattern) or pattern[j] != "}":
        return None
    return max(counts), j + 1


def check_repeats(pattern: str) -> None:
    """Refuse a pattern whose counted repeats would unroll too far (before compiling it).

    Over-approximates: a ``{`` in a comment counts, an alternation adds its branches."""
    stack: list[int] = [0]  # unrolled size of each open group's content so far
    i = 0
    last = 0  # unrolled size of the atom just read (a quantifier multiplies it)
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 2
            if i - 1 < len(pattern) and pattern[i - 1] in "pPNxuk" and i < len(pattern) \
                    and pattern[i] in "{<'":  # \p{L}, \k<name>: skip the argument
                close = {"{": "}", "<": ">", "'": "'"}[pattern[i]]
                end = pattern.find(close, i + 1)
                i = len(pattern) if end < 0 else end + 1
            last = 1
        elif c == "[":
            j = i + 1
            if j < len(pattern) and pattern[j] == "^":
                j += 1
            if j < len(pattern) and pattern[j] == "]":
                j += 1
            while j < len(pattern) and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
            last = 1
        elif c == "(":
            stack.append(0)
            i += 1
            last = 0
            continue
        elif c == ")" and len(stack) > 1:
            last = max(stack.pop(), 1)
            i += 1
        elif c == "{" and (found := _repeat_at(pattern, i)) is not None:
            count, i = found
            if count > MAX_REPEAT:
                raise ExpressionError(f"regular expression repeat count {count} is too large "
                                      f"(at most {MAX_REPEAT})")
            # the atom was already added once: add the other count - 1 copies
            stack[-1] += last * (max(count, 1) - 1)
            last *= max(count, 1)
            if stack[-1] > MAX_UNROLLED or last > MAX_UNROLLED:
                raise ExpressionError("regular expression repeat counts are too large: the "
                                      f"pattern would unroll to more than {MAX_UNROLLED} "
                                      "elements")
            continue
        else:
            i += 1
            last = 1
        stack[-1] += last
        if stack[-1] > MAX_UNROLLED:
            raise ExpressionError("regular expression repeat counts are too large: the "
                                  f"pattern would unroll to more than {MAX_UNROLLED} elements")


@lru_cache(maxsize=256)
def _compile(pattern: str, flags: int) -> Any:
    if len(pattern) > MAX_PATTERN:
        raise ExpressionError("regular expression pattern is too long")
    check_repeats(pattern)
    try:
        return regex.compile(pattern, flags | regex.VERSION0)
    except (regex.error, ValueError, OverflowError) as e:
        raise ExpressionError(f"invalid regular expression pattern: {e}") from None


def check_pattern(pattern: str) -> str | None:
    """Compile-time check of a constant pattern: the error message, or None."""
    try:
        _compile(pattern, 0)
    except ExpressionError as e:
        return e.message
    return None


def _pattern(pattern: Any, options: Any = None) -> Any:
    if not isinstance(pattern, str):
        raise ExpressionError(f"a pattern must be a string, got {cs_type_name(pattern)}")
    return _compile(pattern, _flags(options))


def _input(text: Any) -> str:
    if text is None:
        raise ExpressionError("Value cannot be null. (Parameter 'input')")
    if not isinstance(text, str):
        raise ExpressionError(f"input must be a string, got {cs_type_name(text)}")
    return text


def _timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    budget = REGEX_BUDGET.get()
    limit = MATCH_TIMEOUT if budget is None else min(MATCH_TIMEOUT, budget[0])
    if limit <= 0:
        raise BudgetExceeded("regular expressions used up this expression's time budget")
    start = time.monotonic()
    try:
        return fn(*args, timeout=limit, **kwargs)
    except TimeoutError:
        raise ExpressionError(f"the regular expression match timed out (over {limit:g} s)") \
            from None
    finally:
        if budget is not None:
            budget[0] -= time.monotonic() - start


class Group:
    __cs_type__ = "Group"
    __cs_members__ = frozenset({"Success", "Value", "Index", "Length", "Name", "ToString"})
    __slots__ = ("Success", "Value", "Index", "Length", "Name")

    def __init__(self, name: str, success: bool, value: str, index: int) -> None:
        self.Name = name
        self.Success = success
        self.Value = value
        self.Index = index
        self.Length = len(value)

    def ToString(self) -> str:  # noqa: N802
        return self.Value

    def cs_string(self) -> str:
        return self.Value


class GroupCollection:
    __cs_type__ = "GroupCollection"
    __cs_members__ = frozenset({"Count", "Item", "ContainsKey", "Keys"})
    __slots__ = ("_groups",)

    def __init__(self, groups: list[Group]) -> None:
        self._groups = groups

    @property
    def Count(self) -> int:  # noqa: N802
        return len(self._groups)

    @property
    def Keys(self) -> list[str]:  # noqa: N802
        return [g.Name for g in self._groups]

    def ContainsKey(self, name: Any) -> bool:  # noqa: N802
        return any(g.Name == name for g in self._groups)

    def Item(self, key: Any) -> Group:  # noqa: N802
        if type(key) is int:
            if 0 <= key < len(self._groups):
                return self._groups[key]
        elif isinstance(key, str):
            for g in self._groups:
                if g.Name == key:
                    return g
        else:
            raise ExpressionError("a group is named by an int or a string")
        return Group(cs_str(key), False, "", 0)  # .NET returns an unsuccessful group

    def cs_items(self) -> list[Group]:
        return list(self._groups)


class Match(Group):
    __cs_type__ = "Match"
    __cs_members__ = frozenset({"Success", "Value", "Index", "Length", "Groups", "ToString",
                                "Name", "Result"})
    __slots__ = ("Groups",)

    def __init__(self, m: Any) -> None:
        if m is None:
            super().__init__("0", False, "", 0)
            self.Groups = GroupCollection([Group("0", False, "", 0)])
            return
        super().__init__("0", True, m.group(0), m.start())
        groups: list[Group] = [self]
        for name, i in _dotnet_order(m.re):
            start = m.start(i)
            groups.append(Group(name, start >= 0, m.group(i) or "", max(start, 0)))
        self.Groups = GroupCollection(groups)

    def Result(self, replacement: Any) -> str:  # noqa: N802
        return _substitute(cs_str(replacement), self)


@lru_cache(maxsize=256)
def _dotnet_order(compiled: Any) -> tuple[tuple[str, int], ...]:
    """The groups as .NET numbers them: unnamed groups first (left to right), then named
    groups in order of appearance; each as (.NET name, index in ``compiled``)."""
    named: dict[int, str] = {}
    for name, i in compiled.groupindex.items():
        named.setdefault(i, name)
    unnamed = [i for i in range(1, (compiled.groups or 0) + 1) if i not in named]
    order = [(str(n), i) for n, i in enumerate(unnamed, start=1)]
    return tuple(order + [(named[i], i) for i in sorted(named)])


def _substitute(template: str, match: Match, text: str = "") -> str:
    """Expand .NET substitutions ($1, ${name}, $$, $&, $`, $', $+, $_) for one match."""
    out = _Bounded()
    i = 0
    groups = match.Groups
    while i < len(template):
        dollar = template.find("$", i)
        if dollar != i:  # literal text up to the next "$" (or the end)
            end = len(template) if dollar < 0 else dollar
            out.append(template[i:end])
            i = end
            continue
        if i + 1 >= len(template):
            out.append("$")
            i += 1
            continue
        nxt = template[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "&":
            out.append(match.Value)
            i += 2
        elif nxt == "`":
            out.append(text[:match.Index])
            i += 2
        elif nxt == "'":
            out.append(text[match.Index + match.Length:])
            i += 2
        elif nxt == "_":
            out.append(text)
            i += 2
        elif nxt == "+":
            out.append(groups.Item(groups.Count - 1).Value if groups.Count > 1 else "")
            i += 2
        elif nxt == "{" and "}" in template[i + 2:]:
            end = template.index("}", i + 2)
            name = template[i + 2:end]
            key: Any = int(name) if is_digits(name) and len(name) < 10 else name
            if groups.ContainsKey(name) or (type(key) is int and key < groups.Count):
                out.append(groups.Item(key).Value)
            else:
                out.append(template[i:end + 1])
            i = end + 1
        elif nxt in DIGITS:
            j = i + 1
            while j < len(template) and template[j] in DIGITS and int(template[i + 1:j + 1]) \
                    < groups.Count:
                j += 1
            if j == i + 1:
                out.append("$")
                i += 1
            else:
                out.append(groups.Item(int(template[i + 1:j])).Value)
                i = j
        else:
            out.append("$")
            i += 1
    return out.text()


DIGITS = frozenset("0123456789")  # .NET's $n takes ASCII digits ("²".isdigit() is true)


class _Bounded:
    """A string builder refusing to pass MAX_STRING (checked as pieces are added)."""

    __slots__ = ("parts", "size")

    def __init__(self, size: int = 0) -> None:
        self.parts: list[str] = []
        self.size = size

    def append(self, piece: str) -> None:
        self.size += len(piece)
        if self.size > MAX_STRING:
            raise ExpressionError("string result too large")
        self.parts.append(piece)

    def text(self) -> str:
        check_length(self.size)
        return "".join(self.parts)


def is_match(text: Any, pattern: Any, options: Any = None) -> bool:
    return _timed(_pattern(pattern, options).search, _input(text)) is not None


def match(text: Any, pattern: Any, options: Any = None) -> Match:
    return Match(_timed(_pattern(pattern, options).search, _input(text)))


def matches(text: Any, pattern: Any, options: Any = None) -> list[Match]:
    compiled = _pattern(pattern, options)
    found = _timed(lambda s, timeout: list(itertools.islice(compiled.finditer(
        s, timeout=timeout), MAX_MATCHES + 1)), _input(text))
    if len(found) > MAX_MATCHES:
        raise ExpressionError("too many regular expression matches")
    charge(len(found) // FORMATTED_PER_STEP)  # a Match object each
    return [Match(m) for m in found]


def replace(text: Any, pattern: Any, replacement: Any, options: Any = None) -> str:
    source = _input(text)
    compiled = _pattern(pattern, options)
    size = [len(source)]  # the result's length so far: refused as soon as it is too long
    count = [0]

    def bounded(m: Any, piece: str) -> str:
        size[0] += len(piece) - (m.end() - m.start())
        if size[0] > MAX_STRING:
            raise ExpressionError("string result too large")
        count[0] += 1
        if count[0] % FORMATTED_PER_STEP == 0:  # a Match object each
            charge(1)
        return piece
    if callable(replacement):  # a MatchEvaluator lambda
        def evaluate(m: Any) -> str:
            return bounded(m, cs_str(replacement(Match(m))))
    else:
        template = cs_str(replacement)

        def evaluate(m: Any) -> str:
            return bounded(m, _substitute(template, Match(m), source))
    result: str = _timed(compiled.sub, evaluate, source)
    check_length(len(result))
    return result


def split(text: Any, pattern: Any, options: Any = None) -> list[str]:
    parts = _timed(_pattern(pattern, options).split, _input(text))
    charge(len(parts) // PARTS_PER_STEP)
    return [p if p is not None else "" for p in parts]


UNESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a", "e": "\x1b"}


def unescape(text: Any) -> str:
    """``Regex.Unescape``: ``\\n``-style escapes, ``\\xHH``, ``\\uHHHH``; any other
    escaped character stands for itself."""
    s = _input(text)
    out: list[str] = []
    i = 0
    while i < len(s):
        if s[i] != "\\" or i + 1 >= len(s):
            out.append(s[i])
            i += 1
            continue
        c = s[i + 1]
        width = {"x": 2, "u": 4}.get(c)
        if width is not None:
            digits = s[i + 2:i + 2 + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise ExpressionError("insufficient hexadecimal digits")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        else:
            out.append(UNESCAPES.get(c, c))
            i += 2
    return "".join(out)


RegexMatch = Match


class Regex:
    """``new Regex(pattern[, options])``."""

    __cs_type__ = "Regex"
    __cs_members__ = frozenset({"IsMatch", "Match", "Matches", "Replace", "Split", "ToString"})
    __slots__ = ("_pattern", "_options")

    def __init__(self, pattern: Any, options: Any = None) -> None:
        _pattern(pattern, options)  # fail now on a bad pattern
        self._pattern = pattern
        self._options = options

    def IsMatch(self, text: Any) -> bool:  # noqa: N802
        return is_match(text, self._pattern, self._options)

    def Match(self, text: Any) -> RegexMatch:  # noqa: N802
        return match(text, self._pattern, self._options)

    def Matches(self, text: Any) -> list[RegexMatch]:  # noqa: N802
        return matches(text, self._pattern, self._options)

    def Replace(self, text: Any, replacement: Any) -> str:  # noqa: N802
        return replace(text, self._pattern, replacement, self._options)

    def Split(self, text: Any) -> list[str]:  # noqa: N802
        return split(text, self._pattern, self._options)

    def ToString(self) -> str:  # noqa: N802
        return str(self._pattern)


REGEX: dict[str, Entry] = {
    "IsMatch": ("method", is_match),
    "Match": ("method", match),
    "Matches": ("method", matches),
    "Replace": ("method", replace),
    "Split": ("method", split),
    "Escape": ("method", lambda s: regex.escape(cs_str(s), special_only=True, literal_spaces=False)),
    "Unescape": ("method", unescape),
}
REGEX_OPTIONS: dict[str, Entry] = {
    name: ("prop", (lambda v: lambda env: v)(value)) for name, value in OPTIONS.items()
}
# pattern arguments checked at compile time when they are constants: member -> index
PATTERN_ARGUMENT = {"IsMatch": 1, "Match": 1, "Matches": 1, "Replace": 1, "Split": 1}
