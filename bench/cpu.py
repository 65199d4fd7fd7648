"""CPU accounting of a process tree from /proc.

How it works: ``tree_cpu_ticks(root)`` finds every live descendant of ``root``
by scanning ``/proc/*/stat`` for parent PIDs, and sums ``utime + stime +
cutime + cstime`` over the tree. ``cutime``/``cstime`` hold the time of
children already reaped, so a worker that exits between two snapshots is
still counted once (first as a live process, then inside its parent's
``cutime``). Invariant: the difference of two snapshots of one tree is the
CPU the tree used in between (clock-tick resolution, ``SC_CLK_TCK``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    comm: str
    state: str
    ppid: int
    utime: int
    stime: int
    cutime: int
    cstime: int
    starttime: int

    @property
    def cpu_ticks(self) -> int:
        return self.utime + self.stime + self.cutime + self.cstime


def parse_proc_stat(text: str) -> ProcStat:
    """Parse one ``/proc/<pid>/stat`` line (``comm`` may hold spaces and parens)."""
    lpar, rpar = text.index("("), text.rindex(")")
    pid = int(text[:lpar].strip())
    comm = text[lpar + 1 : rpar]
    rest = text[rpar + 1 :].split()
    # rest[0] is field 3 (state); field n is rest[n - 3].
    if len(rest) < 20:
        raise ValueError(f"short /proc stat line for pid {pid}: {len(rest)} fields after comm")
    return ProcStat(
        pid=pid,
        comm=comm,
        state=rest[0],
        ppid=int(rest[1]),
        utime=int(rest[11]),
        stime=int(rest[12]),
        cutime=int(rest[13]),
        cstime=int(rest[14]),
        starttime=int(rest[19]),
    )


def read_stat(pid: int, proc: Path = PROC) -> ProcStat | None:
    try:
        return parse_proc_stat((proc / str(pid) / "stat").read_text())
    except (OSError, ValueError):
        return None


def all_stats(proc: Path = PROC) -> dict[int, ProcStat]:
    stats: dict[int, ProcStat] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            st = read_stat(int(entry.name), proc)
            if st is not None:
                stats[st.pid] = st
    return stats


def tree(root: int, stats: dict[int, ProcStat]) -> list[ProcStat]:
    """``root`` and all its live descendants (breadth first)."""
    children: dict[int, list[ProcStat]] = {}
    for st in stats.values():
        children.setdefault(st.ppid, []).append(st)
    if root not in stats:
        return []
    out, queue, seen = [], [stats[root]], {root}
    while queue:
        st = queue.pop(0)
        out.append(st)
        for child in children.get(st.pid, []):
            if child.pid not in seen:
                seen.add(child.pid)
                queue.append(child)
    return out


def tree_cpu_ticks(root: int, proc: Path = PROC) -> int:
    """Total CPU ticks used so far by ``root``'s process tree (0 if gone)."""
    return sum(st.cpu_ticks for st in tree(root, all_stats(proc)))


def ticks_to_seconds(ticks: int) -> float:
    return ticks / os.sysconf("SC_CLK_TCK")


def us_per_request(ticks: int, requests: int) -> float | None:
    """CPU microseconds per request, ``None`` when nothing was served."""
    if requests <= 0:
        return None
    return ticks_to_seconds(ticks) * 1e6 / requests
