from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kubegate.cli.openapi_cmd import openapi
from kubegate.sources.yaml_config import load_config

SPECS = Path(__file__).resolve().parents[1] / "sources" / "openapi" / "specs"
ORDERS = str(SPECS / "swashbuckle-orders.json")
PETS = str(SPECS / "petstore-30.yaml")


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(openapi, list(args))
    return result.exit_code, result.output


def test_import_writes_a_loadable_snippet(tmp_path: Path) -> None:
    out = tmp_path / "api.yaml"
    code, text = run(
        "import", ORDERS, "--path", "/orders", "--backend", "http://orders:8080", "-o", str(out)
    )
    assert code == 0, text
    assert "operations: 5" in text and "explicit backend" in text
    config = load_config(out)
    (api,) = config.apis
    assert (api.name, api.path, api.backend) == ("orders", "/orders", "http://orders:8080")
    assert [o.id for o in api.operations or []][:2] == ["orders-getall", "post-api-orders"]


def test_import_json_summary_without_backend() -> None:
    code, text = run("import", ORDERS, "--path", "/orders", "--json")
    assert code == 0
    data = json.loads(text)
    assert data["summary"]["operation_count"] == 5
    assert data["summary"]["backend"] is None
    assert data["summary"]["backend_reason"] == "no backend URL: pass --backend or set backend:"
    assert data["api"]["openapi"] == ORDERS


def test_import_merges_into_existing_config_keeping_policies(tmp_path: Path) -> None:
    config = tmp_path / "kubegate.yaml"
    config.write_text(
        "# my gateway\n"
        "gateway:\n  listeners: [{address: '127.0.0.1:9000'}]\n"
        "apis:\n"
        "  - name: other\n    path: /other\n    backend: http://other\n"
        "  - name: pets\n    path: /pets\n    backend: http://old\n    policy: pets.xml\n"
        "    operations:\n"
        "      - {method: GET, path: /pets, id: listpets, policy: list.xml}\n"
        "      - {method: GET, path: /gone, id: gone}\n",
        encoding="utf-8",
    )
    code, text = run("import", PETS, "--path", "/pets", "--name", "pets", "-o", str(config))
    assert code == 0, text
    assert "removed: gone" in text
    body = config.read_text(encoding="utf-8")
    assert body.startswith("# my gateway")
    loaded = load_config(config)
    assert [a.name for a in loaded.apis] == ["other", "pets"]
    pets = loaded.apis[1]
    assert pets.policy == "pets.xml" and pets.backend == "https://pets.example.com:8443/v1"
    ops = {o.id: o for o in pets.operations or []}
    assert ops["listpets"].policy == "list.xml" and "gone" not in ops


def test_import_error_exit_code(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"openapi": "2.5"}', encoding="utf-8")
    code, text = run("import", str(bad), "--path", "/x")
    assert code == 1 and "unsupported OpenAPI version" in text


def test_fix_host(tmp_path: Path) -> None:
    out = tmp_path / "fixed.json"
    code, text = run("fix-host", ORDERS, "--host", "10.1.2.3:30080", "-o", str(out))
    assert code == 0, text
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["host"] == "10.1.2.3:30080" and doc["schemes"] == ["http"]
    assert len(doc["paths"]) == 3
    out_yaml = tmp_path / "fixed.yaml"
    code, _ = run(
        "fix-host", PETS, "--host", "node:31000", "--scheme", "https", "-o", str(out_yaml)
    )
    assert code == 0 and "url: https://node:31000/v1" in out_yaml.read_text(encoding="utf-8")
