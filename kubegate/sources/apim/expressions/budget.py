"""The work budget as builtins see it.

Loops, lambdas and local function calls charge ``Env.step`` directly; builtins
that do work proportional to their input (``string.Join``, ``Split``,
``Replace``, ``new T[n]``, string building) charge the budget of the evaluation
in progress through ``charge``, so one call over a million elements costs as
much as the loop it replaces. ``CompiledExpression`` sets ``WORK`` for the
duration of an evaluation; outside one (builtins called directly) nothing is
charged."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

# the Env of the evaluation in progress (anything with ``step(cost)``)
WORK: ContextVar[Any] = ContextVar("expression_work", default=None)
# how many characters of a built string cost one step (a 4 MiB string costs 4096)
CHARS_PER_STEP = 1024
# elements per step: formatting an element (Join, Concat) or building a regex Match is about
# a quarter of a loop iteration; splitting off a part is cheaper (Replace is charged by the
# characters it builds)
FORMATTED_PER_STEP = 4
PARTS_PER_STEP = 16
# ``new T[n]``: byte arrays one step per 256 elements, other arrays (8-byte slots) 8x more
BYTES_PER_STEP = 256
ELEMENTS_PER_STEP = 32


def charge(units: int) -> None:
    """Spend ``units`` steps of the current evaluation's budget (BudgetExceeded when out)."""
    if units > 0:
        env = WORK.get()
        if env is not None:
            env.step(units)


def charge_chars(length: int) -> None:
    if length >= CHARS_PER_STEP:
        charge(length // CHARS_PER_STEP)
