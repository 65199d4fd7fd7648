"""End-to-end fixtures (helpers live in e2e_support.py, next to this file).

Every process and backend a fixture starts is stopped in its finalizer, by PID.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_support import Backend, Gateway  # noqa: E402


@pytest.fixture
def backend() -> Iterator[Backend]:
    b = Backend()
    yield b
    b.close()


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

    def make(config: dict[str, Any], workers: int | None = None,
             extra_args: tuple[str, ...] = ()) -> Gateway:
        folder = tmp_path / f"gw{len(started)}"
        folder.mkdir()
        started.append(Gateway(folder, config, workers, extra_args))
        return started[-1]

    yield make
    for gw in started:
        gw.stop()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port bound but not listening: connecting to it is refused."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    yield s.getsockname()[1]
    s.close()
