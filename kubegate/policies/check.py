"""Offline checking of one policy document (``kubegate policy check``, corpus runs).

A document is checked on its own, as if at global scope: ``<base/>`` is a no-op.
A ``<fragment>`` is checked as an inbound section. Every problem is collected."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kubegate.model.errors import ConfigError, Problem
from kubegate.model.policy import SECTIONS, PolicyDocument, PolicyElement, PolicyFragment, Section
from kubegate.sources.apim.xml_loader import parse_policy_xml
from kubegate.sources.apim.yaml_policy import load_policy_yaml

from .compiler import CompileEnv
from .pipeline import Pipeline, compile_pipeline_collect


class StandaloneSections:
    """A single document's sections with ``<base/>`` removed (global scope)."""

    def __init__(self, sections: dict[str, Section]) -> None:
        self.sections = sections

    @classmethod
    def of(cls, doc: PolicyDocument | PolicyFragment) -> StandaloneSections:
        if isinstance(doc, PolicyFragment):
            return cls({"inbound": _strip(doc.elements)})
        return cls({name: _strip(doc.section(name) or ()) for name in SECTIONS})

    def section(self, name: str) -> Section:
        return self.sections.get(name, ())


def _strip(elements: Iterable[PolicyElement]) -> Section:
    return tuple(e.with_scope("global") for e in elements if e.name != "base")


def load_document(path: Path) -> PolicyDocument | PolicyFragment:
    data = path.read_bytes()
    if path.suffix.lower() in (".yaml", ".yml"):
        return load_policy_yaml(data.decode("utf-8-sig"), str(path))
    return parse_policy_xml(data, str(path))


@dataclass
class CheckResult:
    file: str
    kind: str = "policies"
    problems: list[Problem] = field(default_factory=list)
    pipeline: Pipeline | None = None
    parsed: bool = True

    @property
    def ok(self) -> bool:
        return not self.problems


def check_file(path: Path, env: CompileEnv | None = None) -> CheckResult:
    try:
        doc = load_document(path)
    except ConfigError as exc:
        return CheckResult(str(path), "unparsed", list(exc.problems), parsed=False)
    except OSError as exc:
        return CheckResult(str(path), "unreadable", [Problem(str(exc), str(path))], parsed=False)
    if env is None:
        env = CompileEnv(base_dir=path.parent, placeholder_named_values=True)
    pipeline, problems = compile_pipeline_collect(StandaloneSections.of(doc), env)
    kind = "fragment" if isinstance(doc, PolicyFragment) else "policies"
    return CheckResult(str(path), kind, list(problems.problems), pipeline)


def problem_key(p: Problem) -> str:
    """A short category for frequency tables: the element or the expression issue."""
    msg = p.message
    if msg.endswith(": unsupported policy element"):
        return "element " + msg.split(":", 1)[0]
    if ": expression: " in msg:
        return "expression: " + msg.split(": expression: ", 1)[1]
    if "unknown named value" in msg:
        return "named value (not configured)"
    return msg
