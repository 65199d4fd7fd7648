from bench import procs


def test_wait_until_returns_when_check_passes() -> None:
    calls = iter([False, False, True])
    assert procs.wait_until(lambda: next(calls), timeout_s=60, interval_s=0)


def test_wait_until_stops_when_process_dies() -> None:
    seen = []

    def check() -> bool:
        seen.append(1)
        return False

    assert not procs.wait_until(check, timeout_s=60, alive=lambda: False, interval_s=0)
    assert len(seen) == 1  # gave up at once instead of polling for 60 s
