from pathlib import Path

import pytest

from bench import nginx_conf, routing, run, scenarios
from kubegate.sources.yaml_config import load_config_text

VALUES = {
    "listen": "127.0.0.1:8001",
    "admin": "127.0.0.1:8002",
    "backend": "http://127.0.0.1:8003",
    "backend_port": "8003",
    "workdir": "/tmp/x",
}


def test_backend_conf(tmp_path: Path) -> None:
    conf = nginx_conf.backend_conf(tmp_path, 8003)
    assert 150 <= len(nginx_conf.BODY) <= 250
    assert "worker_processes 1;" in conf and "listen 127.0.0.1:8003" in conf
    assert "default_type application/json;" in conf
    assert f"return 200 '{nginx_conf.BODY}';" in conf
    assert "keepalive_requests 10000000;" in conf
    assert f"pid {tmp_path}/nginx.pid;" in conf
    assert conf.count("{") == conf.count("}")


def test_proxy_conf_keeps_upstream_alive_and_strips_prefix(tmp_path: Path) -> None:
    conf = nginx_conf.proxy_conf(tmp_path, 8001, 8003)
    for directive in (
        "server 127.0.0.1:8003;",
        "keepalive 1024;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "location /api/ {",
        "proxy_pass http://backend/;",
        "listen 127.0.0.1:8001",
        "worker_processes 1;",
    ):
        assert directive in conf
    assert conf.count("{") == conf.count("}")


def test_render_replaces_only_known_tokens() -> None:
    out = scenarios.render("{listen} {id} ${HOME} {backend}/{unknown}", VALUES)
    assert out == "127.0.0.1:8001 {id} ${HOME} http://127.0.0.1:8003/{unknown}"


def test_default_kubegate_config_is_valid_for_kubegate() -> None:
    logged = load_config_text(scenarios.render(scenarios.ACCESS_LOG_API, VALUES), "bench.yaml")
    assert (logged.gateway.observability.access_log or "").endswith("/access.log")
    cfg = load_config_text(scenarios.render(scenarios.SIMPLE_API, VALUES), "bench.yaml")
    (api,) = cfg.apis
    assert api.path == "/api" and api.backend == "http://127.0.0.1:8003"
    assert [(o.method, o.path) for o in api.operations or []] == [("GET", "/items/{id}")]


def test_scenarios_load_and_validate() -> None:
    loaded = scenarios.load(scenarios.SCENARIOS)
    assert [s.name for s in loaded] == ["nginx", "kubegate-1w", "kubegate-2w",
                                        "kubegate-access-log", "kubegate-ratelimit-memory", "kubegate-ratelimit-redis",
                                        "kubegate-key-auth", "kubegate-key-ratelimit-memory",
                                        "kubegate-key-ratelimit-redis", "kubegate-jwt"]
    assert [s.workers for s in loaded[1:3]] == [1, 2]
    assert loaded[1].path == "/api/items/1"
    assert [s.name for s in scenarios.select(loaded, ["kubegate-2w"])] == ["kubegate-2w"]
    with pytest.raises(ValueError, match="unknown scenarios"):
        scenarios.select(loaded, ["nope"])
    with pytest.raises(ValueError, match="duplicate"):
        scenarios.load([scenarios.SCENARIOS[0], scenarios.SCENARIOS[0]])
    with pytest.raises(ValueError, match="unknown keys"):
        scenarios.load([{"name": "x", "kind": "nginx", "header": {}}])
    with pytest.raises(ValueError, match="need a config"):
        scenarios.load([{"name": "x", "kind": "kubegate"}])


def test_extra_scenarios_from_yaml(tmp_path: Path) -> None:
    f = tmp_path / "extra.yaml"
    f.write_text(
        "- name: keyed\n  kind: kubegate\n  workers: 2\n  config: 'apis: []'\n"
        "  headers: {Ocp-Apim-Subscription-Key: abc}\n  files: {policy.xml: '<policies/>'}\n"
        "  target: {rps_ratio: 0.5}\n"
    )
    (s,) = scenarios.load(scenarios.load_file(f))
    assert s.headers == {"Ocp-Apim-Subscription-Key": "abc"}
    assert s.files == {"policy.xml": "<policies/>"} and s.target == {"rps_ratio": 0.5}
    f.write_text("name: not-a-list\n")
    with pytest.raises(ValueError, match="YAML list"):
        scenarios.load_file(f)


def test_routing_configs_are_valid_and_hit_the_middle() -> None:
    small, big = routing.scenario_dicts(apis=10, operations=20)
    assert small["path"] == big["path"] == "/svc0005/res10/1"
    cfg_small = load_config_text(scenarios.render(small["config"], VALUES), "small.yaml")
    cfg_big = load_config_text(scenarios.render(big["config"], VALUES), "big.yaml")
    assert [a.path for a in cfg_small.apis] == ["/svc0005"]
    assert len(cfg_big.apis) == 10
    assert sum(len(a.operations or []) for a in cfg_big.apis) == 200
    assert (cfg_big.apis[5].operations or [])[10].path == "/res10/{id}"
    assert big["target"] == {"rps_ratio": 0.95}


def test_full_size_routing_config_has_20000_operations() -> None:
    _, big = routing.scenario_dicts(apis=1000, operations=20)
    assert big["config"].count('{method: GET, path: "/res') == 20_000
    assert big["config"].count("  - name: api") == 1000


def test_run_arguments() -> None:
    a = run.parse_args(["--quick"])
    assert (a.duration, a.rounds, a.warmup, a.connections) == (3, 1, 1, [64, 256])
    a = run.parse_args(["--quick", "--rounds", "2", "--connections", "16"])
    assert (a.duration, a.rounds, a.connections) == (3, 2, [16])
    a = run.parse_args([])
    assert (a.duration, a.rounds, a.warmup, a.baseline) == (10, 3, 3, "nginx")
    a = run.parse_args([], {"baseline": "routing-1api", "connections": "64"})
    assert (a.baseline, a.connections) == ("routing-1api", [64])
    for bad in (["--connections", "0"], ["--rounds", "0"], ["--duration", "0.5"]):
        with pytest.raises(SystemExit):
            run.parse_args(bad)


def test_docs_scenario_example_loads_and_renders_to_a_valid_config(tmp_path: Path) -> None:
    doc = Path(__file__).resolve().parents[2] / "docs" / "benchmark.md"
    text = doc.read_text()
    start = text.index("```yaml\n- name: kubegate-keyed") + len("```yaml\n")
    f = tmp_path / "extra.yaml"
    f.write_text(text[start : text.index("```", start)])
    (s,) = scenarios.load(scenarios.load_file(f))
    assert s.headers == {"Ocp-Apim-Subscription-Key": "bench-key"}
    cfg = load_config_text(scenarios.render(s.config, VALUES), "extra.yaml")
    assert cfg.apis[0].policy == "/tmp/x/policy.xml"
