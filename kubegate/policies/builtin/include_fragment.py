"""include-fragment: ``fragment-id`` — inline a policy fragment at compile time.

The fragment is looked up, first match wins, as:

1. ``<base_dir>/fragments/<id>.xml`` (or ``.yaml``/``.yml``) — kubegate's layout;
2. ``<base_dir>/<id>.xml`` — a fragment stored beside the including document;
3. ``<dir>/policy fragments/<id>/policy.xml`` — the APIOps extractor's layout, where
   ``<dir>`` is ``base_dir`` or one of its ``APIOPS_LEVELS`` parents (an API or
   operation policy sits below the artifacts root, under ``apis/<api>/operations/<op>``).

The fragment's elements are compiled in the enclosing section, tagged with the
including element's scope. A fragment including itself (directly or not) is a
compile error, as is a missing file or a missing base directory."""

from __future__ import annotations

import re
from pathlib import Path

from kubegate.model.errors import ConfigError
from kubegate.model.policy import PolicyElement, PolicyFragment
from kubegate.sources.apim.xml_loader import load_fragment_xml
from kubegate.sources.apim.yaml_policy import load_policy_yaml

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step, run_block_sync_or_async

FRAGMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


APIOPS_DIR = "policy fragments"
APIOPS_LEVELS = 4


def candidates(base: Path, fid: str) -> list[Path]:
    """Where fragment ``fid`` may be, in lookup order."""
    paths = [base / "fragments" / f"{fid}.{ext}" for ext in ("xml", "yaml", "yml")]
    paths.append(base / f"{fid}.xml")
    for d in [base, *base.parents][:APIOPS_LEVELS + 1]:
        paths.append(d / APIOPS_DIR / fid / "policy.xml")
    return paths


def _load(c: Compiler, el: PolicyElement, fid: str) -> PolicyFragment | None:
    base = c.env.base_dir
    if base is None:
        c.attr_problem(el, "fragment-id", "no base directory for fragments is configured")
        return None
    for path in candidates(base, fid):
        if path.is_file():
            data = path.read_bytes()
            if path.suffix == ".xml":
                return load_fragment_xml(data, str(path))
            doc = load_policy_yaml(data.decode("utf-8-sig"), str(path))
            if not isinstance(doc, PolicyFragment):
                raise ConfigError.one("expected a fragment document", file=str(path))
            return doc
    c.attr_problem(el, "fragment-id", f"fragment {fid!r} not found (looked for "
                                      f"{base / 'fragments' / (fid + '.xml')}, "
                                      f"{base / (fid + '.xml')} and "
                                      f"{APIOPS_DIR}/{fid}/policy.xml)")
    return None


@register("include-fragment", summary="inline a policy fragment from a file")
def compile_include_fragment(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    c.check_attrs(el, ("fragment-id",), required=("fragment-id",))
    fid = c.const(el, "fragment-id", "") or ""
    if not FRAGMENT_ID.match(fid):
        c.attr_problem(el, "fragment-id", f"invalid fragment id {fid!r}")
        return None
    if fid in c.fragment_stack:
        c.attr_problem(el, "fragment-id",
                       f"fragment cycle: {' -> '.join([*c.fragment_stack, fid])}")
        return None
    fragment = _load(c, el, fid)
    if fragment is None:
        return None
    elements = [e.with_scope(el.scope) if el.scope else e for e in fragment.elements]
    c.fragment_stack.append(fid)
    try:
        steps = c.compile_block(elements, f"{path}({fid})")
    finally:
        c.fragment_stack.pop()
    is_async, run = run_block_sync_or_async(steps)
    return c.step(el, path, run, is_async=is_async, fragment=fid, steps=len(steps))
