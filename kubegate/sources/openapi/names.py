"""Operation names the way APIM makes them, and path templates the router accepts."""

from __future__ import annotations

import re

from kubegate.model.config import check_template

MAX_ID = 76
_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def normalise_id(raw: str) -> str:
    """Lower-case, runs of non-alphanumerics -> '-', trimmed, at most 76 characters."""
    text = _NON_ALNUM.sub("-", raw.lower()).strip("-")
    return text[:MAX_ID].rstrip("-")


def id_from_route(method: str, path: str) -> str:
    return normalise_id(f"{method} {path}") or method.lower()


class IdAllocator:
    """Hands out unique ids: the first keeps its name, then `-1`, `-2` ... `-999`."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, wanted: str) -> str | None:
        if wanted not in self.used:
            self.used.add(wanted)
            return wanted
        for n in range(1, 1000):
            candidate = f"{wanted}-{n}"
            if candidate not in self.used:
                self.used.add(candidate)
                return candidate
        return None


def router_template(path: str) -> str:
    """The spec's path as a router template; raises ValueError when it cannot route."""
    return check_template(path)


def template_key(path: str) -> str:
    """Two templates that match the same requests share a key (`/a/{x}` ~ `/a/{y}`)."""
    return re.sub(r"\{[^}]*\}", "{}", path)
