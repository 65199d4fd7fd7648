import pytest

from kubegate.compile.router import BadPath, Router, split_path


@pytest.mark.parametrize(
    ("raw", "segments", "forward"),
    [
        ("/", [], "/"),
        ("/a/b", ["a", "b"], "/a/b"),
        ("/a/b/", ["a", "b"], "/a/b/"),
        ("/a//b", ["a", "b"], "/a/b"),
        ("/a/./b", ["a", "b"], "/a/b"),
        ("/a/x/../b", ["a", "b"], "/a/b"),
        ("/a/%2e%2e/b", ["b"], "/b"),
        ("/a/%2E%2e/b", ["b"], "/b"),
        ("/a%2Fb/c", ["a/b", "c"], "/a%2Fb/c"),
        ("/caf%C3%A9", ["café"], "/caf%C3%A9"),
    ],
)
def test_split_path_normalises(raw: str, segments: list[str], forward: str) -> None:
    assert split_path(raw) == (segments, forward)


@pytest.mark.parametrize("raw", ["/..", "/a/../..", "/%2e%2e/etc", "relative", "/a/%00"])
def test_split_path_refuses_escapes(raw: str) -> None:
    with pytest.raises(BadPath):
        split_path(raw)


def build() -> Router[str]:
    router: Router[str] = Router()
    orders = router.api("/orders")
    orders.add("GET", "/items/{id}", "get-item")
    orders.add("GET", "/items/special", "special")
    orders.add("POST", "/items", "create")
    orders.add("GET", "/items/{id}/lines/{line}", "line")
    v2 = router.api("/orders/v2")
    v2.add("GET", "/items", "v2-list")
    router.api("/pass").add_catch_all("*", "pass")
    return router


def test_static_beats_parameter_and_parameters_are_captured() -> None:
    router = build()
    m = router.lookup("GET", ["orders", "items", "special"])
    assert m is not None and m.target == "special"
    m = router.lookup("GET", ["orders", "items", "42"])
    assert m is not None and (m.target, m.params, m.rest) == ("get-item", {"id": "42"}, ["items", "42"])
    m = router.lookup("GET", ["orders", "items", "7", "lines", "3"])
    assert m is not None and m.params == {"id": "7", "line": "3"}


def test_backtracks_from_static_to_parameter() -> None:
    router: Router[str] = Router()
    api = router.api("/a")
    api.add("GET", "/x/y", "static")
    api.add("GET", "/{p}/z", "param")
    m = router.lookup("GET", ["a", "x", "z"])
    assert m is not None and (m.target, m.params) == ("param", {"p": "x"})


def test_method_and_unknown_paths() -> None:
    router = build()
    assert router.lookup("DELETE", ["orders", "items", "1"]) is None
    assert router.lookup("GET", ["orders", "nothing"]) is None
    assert router.lookup("GET", ["elsewhere"]) is None
    head = router.lookup("HEAD", ["orders", "items", "1"])
    assert head is not None and head.target == "get-item"


def test_longest_api_prefix_owns_the_path() -> None:
    router = build()
    m = router.lookup("GET", ["orders", "v2", "items"])
    assert m is not None and m.target == "v2-list"
    # /orders/v2/... belongs to the v2 API even when only /orders has the operation
    assert router.lookup("POST", ["orders", "v2", "items"]) is None


def test_catch_all_api() -> None:
    router = build()
    m = router.lookup("PATCH", ["pass", "anything", "deep"])
    assert m is not None and (m.target, m.rest) == ("pass", ["anything", "deep"])


def test_duplicate_operation_is_refused() -> None:
    router: Router[str] = Router()
    api = router.api("/a")
    api.add("GET", "/x/{id}", "one")
    with pytest.raises(ValueError, match="duplicate"):
        api.add("GET", "/x/{id}", "two")


def test_lookup_cost_does_not_depend_on_api_count() -> None:
    router: Router[int] = Router()
    for i in range(1000):
        api = router.api(f"/api{i}")
        for j in range(20):
            api.add("GET", f"/res{j}/{{id}}", i * 100 + j)
    m = router.lookup("GET", ["api500", "res10", "x"])
    assert m is not None and m.target == 50010
