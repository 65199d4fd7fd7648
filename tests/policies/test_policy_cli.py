"""`kubegate policy check` and `kubegate policy run` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kubegate.cli.policy_cmd import policy

DOC = """<policies>
  <inbound>
    <base />
    <check-header name="X-Key" failed-check-httpcode="401"
                  failed-check-error-message="key please" ignore-case="true" />
    <set-header name="X-Env" exists-action="override"><value>{{env}}</value></set-header>
    <rewrite-uri template="/v2/orders/{id}" />
  </inbound>
  <outbound>
    <set-header name="X-Served-By" exists-action="override"><value>kubegate</value></set-header>
  </outbound>
  <on-error>
    <set-header name="X-Error" exists-action="override">
      <value>@(context.LastError.Reason)</value></set-header>
  </on-error>
</policies>
"""

BAD = """<policies>
  <inbound>
    <frobnicate />
    <set-variable name="a" value="@(context.Nope)" />
    <xsl-transform />
  </inbound>
</policies>
"""


def _write(tmp_path: Path, text: str, name: str = "p.xml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_check_ok_and_json(tmp_path: Path) -> None:
    file = _write(tmp_path, DOC)
    result = CliRunner().invoke(policy, ["check", file])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    result = CliRunner().invoke(policy, ["check", file, "--json"])
    data = json.loads(result.output)
    assert data["ok"] and data["pipeline"]["inbound"][0]["path"] == "inbound/check-header[1]"


def test_check_lists_every_problem_with_position(tmp_path: Path) -> None:
    file = _write(tmp_path, BAD)
    result = CliRunner().invoke(policy, ["check", file, "--json"])
    assert result.exit_code == 1
    problems = json.loads(result.output)["problems"]
    assert [(p["line"], p["message"].split(":")[0]) for p in problems] == [
        (3, "<frobnicate>"), (4, "<set-variable>"), (5, "<xsl-transform>")]
    assert all("column" in p for p in problems)
    result = CliRunner().invoke(policy, ["check", file])
    assert result.exit_code == 1 and f"{file}:3:5: <frobnicate>" in result.output


def test_check_strict_named_values(tmp_path: Path) -> None:
    file = _write(tmp_path, DOC)
    result = CliRunner().invoke(policy, ["check", file, "--strict-named-values"])
    assert result.exit_code == 1 and "unknown named value 'env'" in result.output
    result = CliRunner().invoke(policy, ["check", file, "--strict-named-values",
                                         "--named-value", "env=prod"])
    assert result.exit_code == 0


def test_check_yaml_and_malformed(tmp_path: Path) -> None:
    file = _write(tmp_path, "inbound:\n  - set-method: POST\n", "p.yaml")
    assert CliRunner().invoke(policy, ["check", file]).exit_code == 0
    file = _write(tmp_path, "<policies><inbound></policies>")
    result = CliRunner().invoke(policy, ["check", file])
    assert result.exit_code == 1 and "malformed XML" in result.output


def test_run_shows_backend_request_response_and_trace(tmp_path: Path) -> None:
    file = _write(tmp_path, DOC)
    body = tmp_path / "resp.json"
    body.write_text('{"id": 1}')
    result = CliRunner().invoke(policy, [
        "run", file, "--request", "GET /orders/1?x=1", "-H", "X-Key: abc", "--param", "id=1",
        "--named-value", "env=prod", "--backend-response", f"200:@{body}", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    req = data["backend_requests"][0]
    assert (req["method"], req["path"], req["query"]) == ("GET", "/v2/orders/1", "?x=1")
    assert ["X-Env", "prod"] in req["headers"]
    assert data["response"]["status"] == 200 and data["response"]["body"] == '{"id": 1}'
    assert ["X-Served-By", "kubegate"] in data["response"]["headers"]
    assert any("rewrite-uri: /v2/orders/1?x=1" in t for t in data["trace"])


def test_run_failure_path_text_output(tmp_path: Path) -> None:
    file = _write(tmp_path, DOC)
    result = CliRunner().invoke(policy, ["run", file, "--request", "GET /orders/1"])
    assert result.exit_code == 0, result.output
    assert "== backend not called" in result.output
    assert "401 Unauthorized" in result.output and "X-Error: HeaderNotFound" in result.output
    assert "check-header X-Key: missing -> 401" in result.output


def test_run_rejects_bad_input(tmp_path: Path) -> None:
    file = _write(tmp_path, BAD)
    result = CliRunner().invoke(policy, ["run", file])
    assert result.exit_code == 1 and "<frobnicate>" in result.output
    file = _write(tmp_path, DOC)
    assert CliRunner().invoke(policy, ["run", file, "--request", "nope"]).exit_code == 2
    assert CliRunner().invoke(policy, ["run", file, "--backend-response", "x"]).exit_code == 2
