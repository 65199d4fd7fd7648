"""Fuzz targets shared by the hypothesis tests (CI, bounded) and the atheris harness
(`make fuzz`, longer): each takes untrusted text and must either succeed or raise
the loader's documented error, never anything else, and never hang."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kubegate.model.errors import ConfigError
from kubegate.sources.apim.expressions import ExpressionCompileError, compile_expression
from kubegate.sources.apim.xml_loader import load_policy_xml, parse_policy_xml
from kubegate.sources.yaml_config import load_config_text


class Hang(Exception):
    """An input took longer than the per-input budget."""


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Raise Hang if the block runs longer than `seconds` (main thread, SIGALRM)."""
    def alarm(signum: int, frame: Any) -> None:
        raise Hang(f"over {seconds}s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def yaml_target(text: str) -> None:
    try:
        load_config_text(text, "fuzz.yaml", env={})
    except ConfigError:
        pass


def xml_target(text: str) -> None:
    for load in (load_policy_xml, parse_policy_xml):
        try:
            load(text, "fuzz.xml")  # type: ignore[operator]
        except ConfigError:
            pass


def expression_target(text: str) -> None:
    for source in (text, f"@({text})", f"@{{{text}}}"):
        try:
            compile_expression(source)
        except ExpressionCompileError:
            pass


TARGETS: dict[str, Callable[[str], None]] = {
    "yaml": yaml_target, "xml": xml_target, "expression": expression_target,
}
