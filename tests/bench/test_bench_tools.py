import shutil
from typing import Any

import pytest

from bench import harness


class FakeApt:
    def __init__(self, installed: set[str], installs: bool = True) -> None:
        self.installed = installed
        self.installs = installs
        self.calls: list[list[str]] = []

    def which(self, name: str) -> str | None:
        return f"/usr/bin/{name}" if name in self.installed else None

    def run(self, cmd: list[str], **kw: Any) -> None:
        assert kw["check"] is True and kw["env"]["DEBIAN_FRONTEND"] == "noninteractive"
        self.calls.append(cmd)
        if self.installs and "install" in cmd:
            self.installed |= set(cmd[cmd.index("-y") + 1 :])


def test_nothing_installed_when_both_present() -> None:
    apt = FakeApt({"nginx", "wrk"})
    tools = harness.ensure_tools(lambda _: None, apt.which, apt.run)
    assert tools == {"nginx": "/usr/bin/nginx", "wrk": "/usr/bin/wrk"}
    assert apt.calls == []


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs an apt-get binary to name")
def test_missing_wrk_is_installed_with_apt_get() -> None:
    apt = FakeApt({"nginx"})
    said: list[str] = []
    tools = harness.ensure_tools(said.append, apt.which, apt.run)
    assert tools["wrk"] == "/usr/bin/wrk"
    assert [c[-2:] for c in apt.calls] == [[shutil.which("apt-get"), "update"], ["-y", "wrk"]]
    assert said == ["installing wrk with apt-get"]


@pytest.mark.skipif(shutil.which("apt-get") is None, reason="needs an apt-get binary to name")
def test_failed_install_is_reported() -> None:
    apt = FakeApt(set(), installs=False)
    with pytest.raises(RuntimeError, match="nginx and wrk still missing"):
        harness.ensure_tools(lambda _: None, apt.which, apt.run)
