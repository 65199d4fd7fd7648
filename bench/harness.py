"""Start the backend and the targets, drive them with wrk, collect rows.

How it works: ``Bench`` owns a temp work directory and a ``ProcessGroup``.
It starts one fixed nginx backend, then every scenario's proxy (nginx peer
or kubegate) at once; idle targets cost nothing while another is measured.
``run_matrix`` warms each ready target up, then measures rounds in
interleaved order (round → connections → scenario), reading the proxy
tree's CPU ticks before and after each wrk run. A target that fails to
start or dies gets failed rows with the reason; the others keep going.
Every wait and every wrk run has a time bound; all processes are stopped
by PID when the ``Bench`` context exits, Ctrl-C and exceptions included.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench import cpu, nginx_conf, procs, wrk
from bench.report import Row
from bench.scenarios import Scenario, render

REPO = Path(__file__).resolve().parents[1]
TOOLS = {"nginx": "nginx", "wrk": "wrk"}  # binary -> Debian package


@dataclass
class Target:
    scenario: Scenario
    port: int
    managed: procs.Managed | None = None
    admin_port: int | None = None
    failure: str | None = None

    @property
    def url(self) -> str:
        return f"http://{procs.HOST}:{self.port}{self.scenario.path}"


def find_tool(name: str) -> str | None:
    """``name`` on PATH, or in an sbin directory (nginx lives in /usr/sbin)."""
    found = shutil.which(name)
    for d in ("/usr/sbin", "/usr/local/sbin", "/sbin"):
        if found is None and os.access(f"{d}/{name}", os.X_OK):
            found = f"{d}/{name}"
    return found


def ensure_tools(
    say: Callable[[str], None] = print,
    which: Callable[[str], str | None] = find_tool,
    runner: Callable[..., object] = subprocess.run,
) -> dict[str, str]:
    """Paths of nginx and wrk, installing the Debian packages with apt-get if missing."""
    missing = [pkg for name, pkg in TOOLS.items() if which(name) is None]
    if missing:
        apt = shutil.which("apt-get")
        if apt is None:
            raise RuntimeError(f"{' and '.join(missing)} missing and no apt-get to install them")
        sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        say(f"installing {' '.join(missing)} with apt-get")
        for cmd in ([*sudo, apt, "update"], [*sudo, apt, "install", "-y", *missing]):
            runner(cmd, env=env, check=True, timeout=900)
    found = {name: which(name) for name in TOOLS}
    absent = [n for n, p in found.items() if p is None]
    if absent:
        raise RuntimeError(f"{' and '.join(absent)} still missing after apt-get install")
    return {n: p for n, p in found.items() if p is not None}


class Bench:
    def __init__(
        self,
        tools: dict[str, str],
        ready_timeout_s: float = 30.0,
        kubegate_cmd: list[str] | None = None,
    ) -> None:
        self.tools = tools
        self.kubegate_cmd = kubegate_cmd or [sys.executable, "-m", "kubegate"]
        self.ready_timeout_s = ready_timeout_s
        self.workdir = Path(tempfile.mkdtemp(prefix="kubegate-bench-"))
        self.group = procs.ProcessGroup()
        self.script = wrk.write_script(self.workdir)
        self.backend_port = 0
        self.keep_workdir = False  # set when something failed: its logs are kept

    def __enter__(self) -> Bench:
        return self

    def __exit__(self, *exc: object) -> None:
        self.group.stop_all()
        if self.keep_workdir:
            print(f"configs and logs kept in {self.workdir}", file=sys.stderr)
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _nginx(self, name: str, conf_text: str) -> procs.Managed:
        prefix = self.workdir / name
        prefix.mkdir()
        conf = prefix / "nginx.conf"
        conf.write_text(conf_text)
        cmd = nginx_conf.command(self.tools["nginx"], prefix, conf)
        return self.group.start(name, cmd, prefix / "stdout.log")

    def start_backend(self) -> None:
        port = procs.free_port()
        m = self._nginx("backend", nginx_conf.backend_conf(self.workdir / "backend", port))
        ok = procs.wait_until(lambda: procs.http_status(port, "/items/1") == 200, 10, m.alive)
        if not ok:
            raise RuntimeError(f"nginx backend did not start:\n{_logs(m, 'backend')}")
        self.backend_port = port

    def start_target(self, sc: Scenario) -> Target:
        t = Target(sc, procs.free_port())
        try:
            if sc.kind == "nginx":
                prefix = self.workdir / sc.name
                t.managed = self._nginx(sc.name, nginx_conf.proxy_conf(prefix, t.port, self.backend_port))
            else:
                t.admin_port = procs.free_port()
                t.managed = self._kubegate(sc, t.port, t.admin_port)
        except OSError as e:
            t.failure = f"could not start: {e}"
            return t
        self._wait_ready(t)
        return t

    def _kubegate(self, sc: Scenario, port: int, admin: int) -> procs.Managed:
        d = self.workdir / sc.name
        d.mkdir()
        values = {
            "listen": f"{procs.HOST}:{port}",
            "admin": f"{procs.HOST}:{admin}",
            "backend": f"http://{procs.HOST}:{self.backend_port}",
            "backend_port": str(self.backend_port),
            "workdir": str(d),
        }
        for fname, text in sc.files.items():
            (d / fname).write_text(render(text, values))
        conf = d / "kubegate.yaml"
        conf.write_text(render(sc.config, values))
        cmd = [*self.kubegate_cmd, "run", "-c", str(conf), "--workers", str(sc.workers)]
        cmd += ["--listen", values["listen"], "--admin", values["admin"]]
        return self.group.start(sc.name, cmd, d / "kubegate.log", cwd=REPO)

    def _wait_ready(self, t: Target) -> None:
        m = t.managed
        assert m is not None
        limit = self.ready_timeout_s
        admin = t.admin_port
        if admin is not None and not procs.wait_until(
            lambda: procs.http_status(admin, "/health/ready") == 200, limit, m.alive
        ):
            t.failure = f"admin GET /health/ready on :{admin} gave no 200"
        elif not procs.wait_until(
            lambda: procs.http_status(t.port, t.scenario.path, t.scenario.headers) == 200,
            limit,
            m.alive,
        ):
            status = procs.http_status(t.port, t.scenario.path, t.scenario.headers)
            t.failure = f"GET {t.scenario.path} gave {status or 'no answer'}, expected 200"
        if t.failure:
            why = f"exited with {m.proc.returncode}" if not m.alive() else f"not ready in {limit:g}s"
            t.failure += f" (process {why}): {_tail(m)}"

    def _script_for(self, t: Target) -> Path:
        if not t.scenario.vary_last_segment:
            return self.script
        prefix = t.scenario.path.rsplit("/", 1)[0] + "/"
        return wrk.write_script(self.workdir, prefix, name=f"wrk_{t.scenario.name}")

    def run_wrk(self, t: Target, connections: int, duration_s: float) -> wrk.WrkResult:
        cmd = wrk.command(
            t.url,
            connections=connections,
            duration_s=duration_s,
            headers=t.scenario.headers,
            script=self._script_for(t),
            wrk=self.tools["wrk"],
        )
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration_s + 30)
        if out.returncode != 0:
            raise RuntimeError(f"wrk exited {out.returncode}: {out.stderr.strip()[-300:]}")
        return wrk.parse_output(out.stdout)

    def measure(self, t: Target, connections: int, duration_s: float, rnd: int) -> Row:
        row = Row(t.scenario.name, connections, rnd)
        m = t.managed
        if t.failure or m is None or not m.alive():
            if t.failure is None and m is not None:
                t.failure = f"process exited with {m.proc.returncode}: {_tail(m)}"
            row.failure = t.failure or "not started"
            return row
        try:
            before = cpu.tree_cpu_ticks(m.proc.pid)
            res = self.run_wrk(t, connections, duration_s)
            used = cpu.tree_cpu_ticks(m.proc.pid) - before
        except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
            row.failure = str(e)
            return row
        if not m.alive():
            t.failure = f"process died during the run: {_tail(m)}"
            row.failure = t.failure
            return row
        row.rps, row.p50_ms, row.p99_ms = res.rps, res.p50_ms, res.p99_ms
        row.errors, row.requests = res.errors, res.requests
        row.socket_errors, row.timeouts = res.socket_errors, res.timeouts
        row.cpu_us_per_req = cpu.us_per_request(used, res.requests)
        return row


def _logs(m: procs.Managed, name: str) -> str:
    return f"[{name}] {m.log_tail()}"


def _tail(m: procs.Managed) -> str:
    """The last two log lines, on one line (for a traceback: where and what)."""
    lines = [ln.strip() for ln in m.log_tail(20).splitlines() if ln.strip()]
    return " / ".join(lines[-2:]) or f"(empty log {m.log})"


def run_matrix(
    bench: Bench,
    scenarios: list[Scenario],
    *,
    rounds: int,
    connections: list[int],
    duration_s: float,
    warmup_s: float,
    rows: list[Row],
    say: Callable[[str], None] = print,
) -> list[Target]:
    """Start everything, warm up, then append one ``Row`` per run to ``rows``."""
    out = say
    bench.start_backend()
    out(f"backend nginx on 127.0.0.1:{bench.backend_port}")
    targets = []
    for sc in scenarios:
        t = bench.start_target(sc)
        bench.keep_workdir |= t.failure is not None
        out(f"{sc.name}: " + (f"FAILED to start: {t.failure}" if t.failure else f"ready, {t.url}"))
        targets.append(t)
    for t in targets:
        if t.failure is None and warmup_s > 0:
            try:
                bench.run_wrk(t, max(connections), warmup_s)
            except (RuntimeError, ValueError, subprocess.TimeoutExpired) as e:
                out(f"{t.scenario.name}: warm-up failed: {e}")
    for rnd in range(1, rounds + 1):
        for conns in connections:
            for t in targets:
                row = bench.measure(t, conns, duration_s, rnd)
                bench.keep_workdir |= not row.ok
                rows.append(row)
                out(_progress(row))
    return targets


def _progress(r: Row) -> str:
    head = f"round {r.round} c={r.connections:<4} {r.scenario:<16}"
    if not r.ok:
        return f"{head} FAILED: {' '.join((r.failure or '').split())[:300]}"
    return (
        f"{head} {r.rps:>10,.0f} rps  p50 {r.p50_ms:.2f} ms  p99 {r.p99_ms:.2f} ms  "
        f"cpu {r.cpu_us_per_req if r.cpu_us_per_req is not None else float('nan'):.1f} µs/req  "
        f"errors {r.errors}" + (f" ({r.socket_errors} socket, {r.timeouts} timeouts)" if r.errors else "")
    )
