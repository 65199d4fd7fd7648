from pathlib import Path

from click.testing import CliRunner

from kubegate.admin.changes import apply
from kubegate.admin.context import AdminContext
from kubegate.cli.export_cmd import export
from kubegate.compile.load import load
from kubegate.sources.yaml_config import load_config
from kubegate.store import Store

POLICY = "<policies><inbound><base /></inbound></policies>"


def test_export_round_trips(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "global.xml").write_text(POLICY)
    cfg = src / "kubegate.yaml"
    cfg.write_text("policy: global.xml\napis:\n  - name: a\n    path: /a\n"
                   "    backend: http://127.0.0.1:9\n")
    url = f"sqlite:///{tmp_path / 'kg.db'}"
    with Store(url) as store:
        ctx = AdminContext(store=store, declared=lambda: load_config(cfg), base_dir=src)
        from kubegate.model.config import Api

        api = Api(name="b", path="/b", backend="http://127.0.0.1:9", policy=POLICY)
        apply(ctx, "test", "api.put", "api:b",
              lambda ov: ov.model_copy(update={"apis": [api]}))
    out = tmp_path / "out"
    result = CliRunner().invoke(export, ["-c", str(cfg), "--store", url, "-o", str(out)])
    assert result.exit_code == 0, result.output
    config, snapshot = load(out / "kubegate.yaml")
    assert [a.name for a in config.apis] == ["a", "b"]
    assert config.policy == "policies/global.xml"
    assert (out / "policies" / "api-b.xml").read_text() == POLICY
    assert snapshot.describe()["apis"][1]["path"] == "/b"
