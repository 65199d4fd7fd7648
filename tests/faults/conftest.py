"""Fault-injection fixtures: helpers live in faults_support.py and ../e2e/e2e_support.py.

Every process, server and thread a fixture starts is stopped in its finalizer;
processes by their PID only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
for folder in (HERE, HERE.parent / "e2e", HERE.parent / "security"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from e2e_support import Backend, Gateway  # noqa: E402


@pytest.fixture
def make_backend() -> Iterator[Callable[[], Backend]]:
    made: list[Backend] = []

    def make() -> Backend:
        made.append(Backend())
        return made[-1]

    yield make
    for b in made:
        b.close()


@pytest.fixture
def make_gateway(tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
    started: list[Gateway] = []

    def make(config: dict[str, Any], workers: int | None = None) -> Gateway:
        folder = tmp_path / f"gw{len(started)}"
        folder.mkdir()
        started.append(Gateway(folder, config, workers))
        return started[-1]

    yield make
    for gw in started:
        gw.stop()
