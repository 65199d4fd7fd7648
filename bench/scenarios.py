"""Benchmark scenarios as data.

A scenario is a dict (or YAML mapping) with:

* ``name`` — row label; unique.
* ``kind`` — ``"nginx"`` (the reverse-proxy peer) or ``"kubegate"``.
* ``workers`` — kubegate ``--workers`` (ignored for nginx).
* ``config`` — kubegate YAML template; ``{listen}``, ``{admin}``, ``{backend}``,
  ``{backend_port}`` and ``{workdir}`` are replaced, every other brace (such as
  ``{id}`` in a path template or ``${ENV}``) is left alone.
* ``path`` — request path sent by wrk (default ``/api/items/1``).
* ``headers`` — extra request headers for wrk (e.g. a subscription key).
* ``files`` — optional ``{file name: text}`` written into ``{workdir}`` first
  (policy XML and the like); the text is rendered like ``config``.
* ``target`` — optional ``{rps_ratio: 0.7, p99_ratio: 2.0}`` checked in the
  summary against the baseline scenario.
* ``vary_last_segment`` — wrk replaces the path's last segment with a random
  number on every request (``/svc/res/1`` -> ``/svc/res/48151623``), so each
  request is routed afresh instead of coming from the gateway's route cache.

Other issues add rows by appending to ``SCENARIOS`` or by passing
``--scenarios extra.yaml`` (a YAML list of such mappings) to ``bench/run.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

DEFAULT_PATH = "/api/items/1"


def bench_api(gateway: str = "", api: str = "", tail: str = "") -> str:
    """The benchmark's one-API config template: one worker, `GET /api/items/{id}`;
    `gateway` / `api` add lines to those sections (already indented), `tail` adds
    top-level sections."""
    return f"""\
gateway:
  listeners: [{{address: "{{listen}}"}}]
  admin: "{{admin}}"
  workers: 1
{gateway}apis:
  - name: bench
    path: /api
    backend: {{backend}}
{api}    operations:
      - method: GET
        path: "/items/{{id}}"
{tail}"""


SIMPLE_API = bench_api()

RATE_LIMITED_API = bench_api(gateway="  counters: {COUNTERS}\n",
                             api="    policy: {workdir}/limits.xml\n")

# Every request is checked and counted, on one key (wrk's address); the limit is
# far above any rate a benchmark reaches, so nothing is ever rejected.
RATE_LIMIT_POLICY = """\
<policies>
  <inbound>
    <rate-limit-by-key calls="100000000" renewal-period="1"
                       counter-key="@(context.Request.IpAddress)" />
  </inbound>
  <backend><forward-request /></backend>
  <outbound />
  <on-error />
</policies>
"""

# The simple API with one JSON access-log line per request, written to a file.
ACCESS_LOG_API = bench_api(gateway='  observability: {access_log: "{workdir}/access.log"}\n')

# A subscription key checked on every request (APIM's Ocp-Apim-Subscription-Key).
BENCH_KEY = "0123456789abcdef0123456789abcdef"
KEY_AUTH_API = bench_api(
    api="    subscription_required: true\n",
    tail=f'subscriptions:\n  - name: bench\n    scope: all\n    primary_key: "{BENCH_KEY}"\n')

# Issue 6's target case: a subscription key and APIM's per-subscription rate-limit on
# every request (the limit, again, never reached).
KEY_RATE_LIMITED_API = bench_api(
    gateway="  counters: {COUNTERS}\n",
    api="    subscription_required: true\n    policy: {workdir}/limits.xml\n",
    tail=f'subscriptions:\n  - name: bench\n    scope: all\n    primary_key: "{BENCH_KEY}"\n')
KEY_RATE_LIMIT_POLICY = """\
<policies>
  <inbound>
    <rate-limit calls="100000000" renewal-period="1" />
  </inbound>
  <backend><forward-request /></backend>
  <outbound />
  <on-error />
</policies>
"""
REDIS_COUNTERS = "{store: redis, redis_url: \"redis://127.0.0.1:6379/0\"}"



def limited(name: str, config: str, policy: str,
            headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """`<name>-memory` and `<name>-redis`: `config` on each counter store with `policy`
    as limits.xml, and issue 6's targets (0.7x nginx on memory, 0.5x on Redis)."""
    return [{"name": f"{name}-{store}", "kind": "kubegate", "workers": 1,
             "config": config.replace("{COUNTERS}", counters),
             "files": {"limits.xml": policy}, "headers": headers or {},
             "target": {"rps_ratio": ratio}}
            for store, counters, ratio in (("memory", "{store: memory}", 0.7),
                                           ("redis", REDIS_COUNTERS, 0.5))]


# validate-jwt with a symmetric key; the same (long-lived) token on every request,
# so this measures the verified-token cache.
JWT_API = bench_api(api="    policy: {workdir}/jwt.xml\n")
JWT_POLICY = """\
<policies>
  <inbound>
    <validate-jwt header-name="Authorization" require-scheme="Bearer">
      <issuer-signing-keys>
        <key>a3ViZWdhdGUtYmVuY2gtc2VjcmV0LWtleS0wMTIzNDU2Nzg5YWJjZGVm</key>
      </issuer-signing-keys>
      <audiences><audience>bench</audience></audiences>
      <issuers><issuer>https://bench.invalid</issuer></issuers>
    </validate-jwt>
  </inbound>
  <backend><forward-request /></backend>
  <outbound />
  <on-error />
</policies>
"""
BENCH_JWT = (  # HS256, sub "bench", expires 2100-01-01
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiZW5jaCIsImlzcyI6Imh0dHBzOi8vYmVuY2gu"
    "aW52YWxpZCIsImF1ZCI6ImJlbmNoIiwiZXhwIjo0MTAyNDQ0ODAwfQ.ih8CIxtBka5faNO4L2mIYsRxUwQ96L"
    "p1qzONnwSnmh0")

SCENARIOS: list[dict[str, Any]] = [
    {"name": "nginx", "kind": "nginx"},
    {
        "name": "kubegate-1w",
        "kind": "kubegate",
        "workers": 1,
        "config": SIMPLE_API,
        "target": {"rps_ratio": 0.7, "p99_ratio": 2.0},
    },
    {
        "name": "kubegate-2w",
        "kind": "kubegate",
        "workers": 2,
        "config": SIMPLE_API,
        "target": {"rps_ratio": 0.8},
    },
    {
        "name": "kubegate-access-log",
        "kind": "kubegate",
        "workers": 1,
        "config": ACCESS_LOG_API,
    },
    *limited("kubegate-ratelimit", RATE_LIMITED_API, RATE_LIMIT_POLICY),
    {
        "name": "kubegate-key-auth",
        "kind": "kubegate",
        "workers": 1,
        "config": KEY_AUTH_API,
        "headers": {"Ocp-Apim-Subscription-Key": BENCH_KEY},
    },
    *limited("kubegate-key-ratelimit", KEY_RATE_LIMITED_API, KEY_RATE_LIMIT_POLICY,
             {"Ocp-Apim-Subscription-Key": BENCH_KEY}),
    {
        "name": "kubegate-jwt",
        "kind": "kubegate",
        "workers": 1,
        "config": JWT_API,
        "files": {"jwt.xml": JWT_POLICY},
        "headers": {"Authorization": f"Bearer {BENCH_JWT}"},
    },
]


@dataclass(frozen=True)
class Scenario:
    name: str
    kind: str
    workers: int = 1
    config: str = ""
    path: str = DEFAULT_PATH
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    target: dict[str, float] = field(default_factory=dict)
    vary_last_segment: bool = False

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Scenario:
        unknown = set(d) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"scenario {d.get('name')!r}: unknown keys {sorted(unknown)}")
        if d.get("kind") not in ("nginx", "kubegate"):
            raise ValueError(f"scenario {d.get('name')!r}: kind must be 'nginx' or 'kubegate'")
        if d["kind"] == "kubegate" and not d.get("config"):
            raise ValueError(f"scenario {d['name']!r}: kubegate scenarios need a config")
        return cls(
            name=str(d["name"]),
            kind=str(d["kind"]),
            workers=int(d.get("workers", 1)),
            config=str(d.get("config", "")),
            path=str(d.get("path", DEFAULT_PATH)),
            headers={str(k): str(v) for k, v in (d.get("headers") or {}).items()},
            files={str(k): str(v) for k, v in (d.get("files") or {}).items()},
            target={str(k): float(v) for k, v in (d.get("target") or {}).items()},
            vary_last_segment=bool(d.get("vary_last_segment", False)),
        )


def render(template: str, values: dict[str, str]) -> str:
    """Replace only the known ``{key}`` tokens; all other braces stay as they are."""
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", value)
    return out


def load(dicts: list[dict[str, Any]]) -> list[Scenario]:
    scenarios = [Scenario.from_dict(d) for d in dicts]
    names = [s.name for s in scenarios]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"duplicate scenario names: {dupes}")
    return scenarios


def load_file(path: Path) -> list[dict[str, Any]]:
    data = YAML(typ="safe").load(path.read_text())
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise ValueError(f"{path}: expected a YAML list of scenario mappings")
    return data


def select(scenarios: list[Scenario], names: list[str] | None) -> list[Scenario]:
    if not names:
        return scenarios
    known = {s.name for s in scenarios}
    missing = [n for n in names if n not in known]
    if missing:
        raise ValueError(f"unknown scenarios {missing}; known: {sorted(known)}")
    return [s for s in scenarios if s.name in names]
