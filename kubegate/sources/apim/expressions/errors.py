"""Errors raised by the expression compiler (compile time) and by compiled code (run time)."""

from __future__ import annotations


class ExpressionCompileError(Exception):
    """The source is outside the supported subset or malformed.

    ``line``/``column`` are 1-based and relative to the policy document (the
    offsets given to the compiler are applied)."""

    def __init__(self, message: str, line: int, column: int, source: str = "") -> None:
        super().__init__(f"{line}:{column}: {message}")
        self.message = message
        self.line = line
        self.column = column
        self.source = source


class ExpressionError(Exception):
    """A compiled expression failed while running (null dereference, bad cast, bad parse).

    The policy engine turns it into APIM's on-error flow; ``reason`` is the
    value APIM puts in ``context.LastError.Reason``."""

    reason = "ExpressionValueEvaluationFailure"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BudgetExceeded(ExpressionError):
    """The work budget, the call depth or the regex time ran out; ``catch`` does not stop it."""


class CsException:
    """The value bound by ``catch (Exception e)``."""

    __cs_type__ = "Exception"
    __cs_members__ = frozenset({"Message", "ToString"})
    __slots__ = ("Message",)

    def __init__(self, message: str) -> None:
        self.Message = message

    def ToString(self) -> str:  # noqa: N802
        return f"System.Exception: {self.Message}"

    def cs_string(self) -> str:
        return self.ToString()


def position(source: str, offset: int, line: int, column: int) -> tuple[int, int]:
    """Line and column of ``offset`` in ``source`` when ``source`` starts at (line, column)."""
    before = source[:offset]
    newlines = before.count("\n")
    if newlines == 0:
        return line, column + offset
    return line + newlines, offset - before.rfind("\n")
