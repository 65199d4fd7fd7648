from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from expr_helpers import make_context  # noqa: E402

from kubegate.policies.context import Context  # noqa: E402


@pytest.fixture
def ctx() -> Context:
    return make_context()
