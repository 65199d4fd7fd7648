"""Routing benchmark: does lookup cost grow with the number of APIs?

    python bench/routing.py [--apis 1000] [--operations 20] [run.py options]

Runs kubegate (1 worker) twice in front of the same nginx backend: with one
API holding one operation, and with ``--apis`` APIs × ``--operations``
operations each. Both get the same request, for an operation in the middle
of the big table, so only the table size differs. Target: the big table's
rps within 5% of the small one's (ratio ≥ 0.95).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import run  # noqa: E402

HEAD = """\
gateway:
  listeners: [{address: "{listen}"}]
  admin: "{admin}"
  workers: 1
apis:
"""


def api_path(i: int) -> str:
    return f"/svc{i:04d}"


def op_path(j: int) -> str:
    return f"/res{j:02d}/{{id}}"


def config(api_indexes: list[int], op_indexes: list[int]) -> str:
    """kubegate YAML template with the given APIs, each with the given GET operations."""
    lines = [HEAD]
    for i in api_indexes:
        lines.append(f"  - name: api{i:04d}\n    path: {api_path(i)}\n    backend: {{backend}}\n")
        lines.append("    operations:\n")
        lines.extend(f'      - {{method: GET, path: "{op_path(j)}"}}\n' for j in op_indexes)
    return "".join(lines)


def scenario_dicts(apis: int, operations: int) -> list[dict[str, Any]]:
    mid_api, mid_op = apis // 2, operations // 2
    path = f"{api_path(mid_api)}/res{mid_op:02d}/1"
    return [
        {
            "name": "routing-1api",
            "kind": "kubegate",
            "config": config([mid_api], [mid_op]),
            "path": path,
            "vary_last_segment": True,
        },
        {
            "name": f"routing-{apis}x{operations}",
            "kind": "kubegate",
            "config": config(list(range(apis)), list(range(operations))),
            "path": path,
            "vary_last_segment": True,
            "target": {"rps_ratio": 0.95},
        },
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--apis", type=int, default=1000)
    p.add_argument("--operations", type=int, default=20)
    own, rest = p.parse_known_args(argv)
    if not (1 <= own.apis <= 100_000 and 1 <= own.operations <= 1000):
        p.error("--apis must be 1..100000 and --operations 1..1000")
    dicts = scenario_dicts(own.apis, own.operations)
    defaults = {"baseline": "routing-1api", "connections": "64", "ready_timeout": 120}
    return run.main(rest, kind="routing", dicts=dicts, defaults=defaults)


if __name__ == "__main__":
    sys.exit(main())
