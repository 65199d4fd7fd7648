"""Policy tests run twice where a module asks for it
(``pytestmark = pytest.mark.usefixtures("both_paths")``): through ``execute``, and
through the synchronous ``lane`` the data plane takes for requests without a body
(``helpers.execute``). Both must give the same results."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .helpers import PATH


@pytest.fixture(params=["execute", "lane"])
def both_paths(request: pytest.FixtureRequest) -> Iterator[str]:
    PATH["lane"] = request.param == "lane"
    yield request.param
    PATH["lane"] = False
