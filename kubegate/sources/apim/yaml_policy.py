"""The YAML policy syntax: the same policy model as APIM XML, easier to write by hand.

A document is a mapping of sections (`inbound`, `backend`, `outbound`,
`on-error`) to lists of elements; `{fragment: [...]}` is a fragment. An element is:

* a bare name: `base`, `forward-request`;
* `{name: scalar}`: the element's text (`set-method: GET`, `set-body: "@(...)"`);
* `{name: [elements]}`: child elements only (`choose: [...]`);
* `{name: {attr: scalar, ...}}`: attributes, plus the reserved keys `children`
  (a list of child elements; `then` is its alias inside `when`), `text`, and, in
  `set-header`, `set-query-parameter`, `check-header` and `claim`, `value`
  (a scalar or list of scalars, each one becomes a `<value>` child).

Scalars are stored as text: `true`/`false` for booleans, digits for numbers.
Every element keeps its file, line and column (ruamel.yaml round-trip marks).
`dump_policy_yaml` writes a model back in this syntax, so XML converts to YAML.
"""

from __future__ import annotations

import io
import re
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from kubegate.model.errors import ConfigError, Problem
from kubegate.model.policy import (
    SECTIONS,
    TEXT_KEY,
    PolicyDocument,
    PolicyElement,
    PolicyFragment,
    Section,
)
from kubegate.sources.yaml_config import parse_yaml

VALUE_CHILD_ELEMENTS = frozenset({"set-header", "set-query-parameter", "check-header", "claim"})
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]*\Z")
Scalar = str | int | float | bool


class _Loader:
    def __init__(self, text: str | None, file: str | None) -> None:
        self.lines = text.splitlines() if text is not None else []
        self.file = file
        self.problems: list[Problem] = []

    def at(self, pos: tuple[int, int] | list[int], skip_quote: bool = False) -> tuple[int, int]:
        line, col = pos[0], pos[1]
        if skip_quote and line < len(self.lines) and self.lines[line][col : col + 1] in ("'", '"'):
            col += 1
        return line + 1, col + 1

    def problem(self, message: str, pos: tuple[int, int]) -> None:
        self.problems.append(Problem(message, self.file, pos[0], pos[1]))

    def elements(self, seq: Any, pos: tuple[int, int], what: str) -> Section:
        if seq is None:
            return ()
        if not isinstance(seq, CommentedSeq):
            self.problem(f"{what} must be a list of policy elements", pos)
            return ()
        out = []
        for i, item in enumerate(seq):
            el = self.element(item, self.at(seq.lc.item(i)))
            if el is not None:
                out.append(el)
        return tuple(out)

    def element(self, node: Any, pos: tuple[int, int]) -> PolicyElement | None:
        if isinstance(node, str):
            if not self.named(node, pos):
                return None
            return PolicyElement(node, line=pos[0], column=pos[1], file=self.file)
        if not isinstance(node, CommentedMap) or len(node) != 1:
            keys = (
                ", ".join(map(str, node)) if isinstance(node, CommentedMap) else type(node).__name__
            )
            self.problem(
                "a policy element is a name, or a mapping with one key (the element's "
                f"name); found {keys or 'an empty mapping'} (are the attributes indented "
                "under the name?)",
                pos,
            )
            return None
        name, body = next(iter(node.items()))
        pos = self.at(node.lc.key(name))
        if not self.named(name, pos):
            return None
        value_pos = self.at(node.lc.value(name), skip_quote=True)
        if body is None:
            return PolicyElement(name, line=pos[0], column=pos[1], file=self.file)
        if isinstance(body, Scalar):
            return PolicyElement(
                name,
                text=self.scalar(body),
                line=pos[0],
                column=pos[1],
                file=self.file,
                positions={TEXT_KEY: value_pos},
            )
        if isinstance(body, CommentedSeq):
            kids = self.elements(body, value_pos, f"<{name}>")
            return PolicyElement(name, children=kids, line=pos[0], column=pos[1], file=self.file)
        return self.mapping(name, body, pos)

    def mapping(self, name: str, body: CommentedMap, pos: tuple[int, int]) -> PolicyElement:
        attributes: dict[str, str] = {}
        positions: dict[str, tuple[int, int]] = {}
        children: list[PolicyElement] = []
        text: str | None = None
        for key, value in body.items():
            kpos = self.at(body.lc.key(key))
            vpos = self.at(body.lc.value(key), skip_quote=True)
            if key == "children" or (key == "then" and name == "when"):
                children.extend(self.elements(value, vpos, f"{key} of <{name}>"))
            elif key == "value" and name in VALUE_CHILD_ELEMENTS:
                items = value if isinstance(value, CommentedSeq) else [value]
                for i, v in enumerate(items):
                    vp = (
                        self.at(value.lc.item(i), True) if isinstance(value, CommentedSeq) else vpos
                    )
                    if not isinstance(v, Scalar):
                        self.problem(f"value of <{name}> must be a scalar or a list of scalars", vp)
                        continue
                    children.append(
                        PolicyElement(
                            "value",
                            text=self.scalar(v),
                            line=vp[0],
                            column=vp[1],
                            file=self.file,
                            positions={TEXT_KEY: vp},
                        )
                    )
            elif key == "text":
                if not isinstance(value, Scalar):
                    self.problem(f"text of <{name}> must be a scalar", vpos)
                else:
                    text = self.scalar(value)
                    positions[TEXT_KEY] = vpos
            elif not self.named(key, kpos, "attribute"):
                continue
            elif not isinstance(value, Scalar):
                self.problem(
                    f"attribute {key} of <{name}> must be a scalar; put child elements "
                    "under `children`",
                    vpos,
                )
            else:
                attributes[key] = self.scalar(value)
                positions[key] = vpos
        return PolicyElement(
            name, attributes, tuple(children), text, pos[0], pos[1], self.file, positions
        )

    def named(self, name: Any, pos: tuple[int, int], what: str = "element") -> bool:
        if isinstance(name, str) and _NAME.match(name):
            return True
        self.problem(f"invalid {what} name {name!r}", pos)
        return False

    @staticmethod
    def scalar(value: Scalar) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)


def policy_from_yaml_node(
    node: Any, file: str | None = None, text: str | None = None
) -> PolicyDocument | PolicyFragment:
    """Build a policy from a parsed ruamel.yaml node (e.g. embedded in the config file).

    `text` is the YAML source, used to point columns past an opening quote.
    """
    loader = _Loader(text, file)
    if not isinstance(node, CommentedMap):
        raise ConfigError.one(
            "a policy must be a mapping of sections (inbound, backend, "
            "outbound, on-error) or {fragment: [...]}",
            file=file,
            line=1,
        )
    if "fragment" in node:
        pos = loader.at(node.lc.key("fragment"))
        if len(node) > 1:
            loader.problem("a fragment has no sections: only the `fragment` key is allowed", pos)
        elements = loader.elements(
            node["fragment"], loader.at(node.lc.value("fragment")), "fragment"
        )
        if loader.problems:
            raise ConfigError(loader.problems)
        return PolicyFragment(elements, file)
    sections: dict[str, Section | None] = {}
    for key, value in node.items():
        pos = loader.at(node.lc.key(key))
        if key not in SECTIONS:
            loader.problem(f"unknown section {key!r}; expected one of: {', '.join(SECTIONS)}", pos)
            continue
        sections[key] = loader.elements(value, loader.at(node.lc.value(key)), f"section {key}")
    if loader.problems:
        raise ConfigError(loader.problems)
    return PolicyDocument.from_sections(sections, file)


def load_policy_yaml(text: str, file: str | None = None) -> PolicyDocument | PolicyFragment:
    """Load a policy document (or fragment) written in the YAML syntax."""
    text = text.removeprefix("\ufeff")
    return policy_from_yaml_node(parse_yaml(text, file or "<policy>"), file, text)


def _element_data(el: PolicyElement) -> Any:
    if not el.attributes and el.text is None and not el.children:
        return el.name
    if not el.attributes and not el.children:
        return {el.name: el.text}
    if not el.attributes and el.text is None:
        return {el.name: [_element_data(c) for c in el.children]}
    reserved = {"children", "text"} | ({"then"} if el.name == "when" else set())
    reserved |= {"value"} if el.name in VALUE_CHILD_ELEMENTS else set()
    clash = reserved.intersection(el.attributes)
    if clash:
        raise ValueError(f"<{el.name}> attribute {sorted(clash)[0]!r} has no YAML form")
    body: dict[str, Any] = dict(el.attributes)
    if el.text is not None:
        body["text"] = el.text
    if el.children:
        body["then" if el.name == "when" else "children"] = [_element_data(c) for c in el.children]
    return {el.name: body}


def policy_to_yaml_data(doc: PolicyDocument | PolicyFragment) -> dict[str, Any]:
    """Plain data in the YAML policy syntax (the inverse of `policy_from_yaml_node`)."""
    if isinstance(doc, PolicyFragment):
        return {"fragment": [_element_data(e) for e in doc.elements]}
    out: dict[str, Any] = {}
    for name in SECTIONS:
        sec = doc.section(name)
        if sec is not None:
            out[name] = [_element_data(e) for e in sec]
    return out


def dump_policy_yaml(doc: PolicyDocument | PolicyFragment) -> str:
    """The policy written in the YAML syntax."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[attr-defined,assignment]
    yaml.width = 4096
    out = io.StringIO()
    yaml.dump(policy_to_yaml_data(doc), out)
    return out.getvalue()
