import os
from pathlib import Path

import pytest

from bench import cpu


def stat_line(pid: int, comm: str, ppid: int, ut: int, st: int, cut: int = 0, cst: int = 0) -> str:
    # fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
    #              utime stime cutime cstime priority nice threads itrealvalue starttime ...
    rest = ["S", ppid, 1, 1, 0, -1, 0, 0, 0, 0, 0, ut, st, cut, cst, 20, 0, 1, 0, 4242, 0, 0]
    return f"{pid} ({comm}) " + " ".join(map(str, rest)) + "\n"


def test_parse_comm_with_spaces_and_parens() -> None:
    st = cpu.parse_proc_stat(stat_line(77, "nginx: worker (x) y", 5, 120, 30, 7, 3))
    assert (st.pid, st.comm, st.ppid) == (77, "nginx: worker (x) y", 5)
    assert (st.utime, st.stime, st.cutime, st.cstime, st.starttime) == (120, 30, 7, 3, 4242)
    assert st.cpu_ticks == 160


def test_parse_rejects_short_line() -> None:
    with pytest.raises(ValueError):
        cpu.parse_proc_stat("1 (init) S 0 1 1\n")


def fake_proc(tmp_path: Path, lines: dict[int, str]) -> Path:
    for pid, text in lines.items():
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(text)
    (tmp_path / "self").mkdir()  # non-numeric entries are ignored
    (tmp_path / "999").mkdir()  # a process that vanished: no stat file
    return tmp_path


def test_tree_cpu_sums_descendants_only(tmp_path: Path) -> None:
    proc = fake_proc(
        tmp_path,
        {
            10: stat_line(10, "supervisor", 1, 5, 5, 100, 0),  # 100 from a reaped worker
            11: stat_line(11, "worker", 10, 300, 50),
            12: stat_line(12, "worker", 10, 200, 40),
            13: stat_line(13, "helper", 12, 1, 1),
            20: stat_line(20, "unrelated", 1, 9000, 9000),
        },
    )
    assert [s.pid for s in cpu.tree(10, cpu.all_stats(proc))] == [10, 11, 12, 13]
    assert cpu.tree_cpu_ticks(10, proc) == 110 + 350 + 240 + 2
    assert cpu.tree_cpu_ticks(12, proc) == 242
    assert cpu.tree_cpu_ticks(55, proc) == 0


def test_real_proc_has_this_process() -> None:
    st = cpu.read_stat(os.getpid())
    assert st is not None and st.pid == os.getpid() and st.ppid == os.getppid()


def test_us_per_request() -> None:
    hz = os.sysconf("SC_CLK_TCK")
    assert cpu.us_per_request(hz, 1_000_000) == pytest.approx(1.0)
    assert cpu.us_per_request(5, 0) is None
