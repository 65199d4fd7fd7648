"""Supervisor for `--workers N`: N data-plane processes sharing the port.

How this works: each worker is a fresh interpreter running `kubegate run ...`
with `--worker-slot`, binding the listeners with SO_REUSEPORT so the kernel
spreads connections across them. A worker reports readiness by writing one byte
to a pipe it inherits. The supervisor restarts a worker that exits unasked
(after a back-off that grows while it keeps crashing), forwards SIGHUP after
validating the configuration itself, and on SIGTERM/SIGINT forwards SIGTERM,
waits for the workers to drain, kills stragglers, and returns.

Invariants: `procs[slot]` is the live process of that slot or None while it is
(re)starting; once `stopping` is set no worker is started again.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable

log = logging.getLogger("kubegate.supervisor")


class Supervisor:
    def __init__(self, argv: Callable[[int, int], list[str]], count: int, grace: float,
                 validate: Callable[[], bool]) -> None:
        self.argv = argv  # (slot, ready_fd) -> command line
        self.count = count
        self.grace = grace
        self.validate = validate
        self.procs: list[asyncio.subprocess.Process | None] = [None] * count
        self.ready = [False] * count
        self.restarts = 0
        self.stopping = asyncio.Event()

    def is_ready(self) -> bool:
        return any(self.ready) and not self.stopping.is_set()

    def pids(self) -> list[int | None]:
        return [p.pid if p else None for p in self.procs]

    async def _spawn(self, slot: int) -> asyncio.subprocess.Process:
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv(slot, write_fd), pass_fds=(write_fd,), stdin=asyncio.subprocess.DEVNULL
            )
        finally:
            os.close(write_fd)

        def on_ready() -> None:
            data = os.read(read_fd, 16)
            if data:
                self.ready[slot] = True
            loop.remove_reader(read_fd)
            os.close(read_fd)

        loop.add_reader(read_fd, on_ready)
        return proc

    async def _keep(self, slot: int) -> None:
        backoff = 0.1
        while not self.stopping.is_set():
            started = time.monotonic()
            proc = self.procs[slot] = await self._spawn(slot)
            code = await proc.wait()
            self.procs[slot] = None
            self.ready[slot] = False
            if self.stopping.is_set():
                return
            self.restarts += 1
            log.error("worker %d (pid %d) exited with %s; restarting", slot, proc.pid, code)
            backoff = 0.1 if time.monotonic() - started > 10 else min(backoff * 2, 5.0)
            try:
                await asyncio.wait_for(self.stopping.wait(), backoff)
            except TimeoutError:
                pass

    def reload(self) -> None:
        if not self.validate():
            return
        for slot, proc in enumerate(self.procs):
            # a worker still starting reads the new configuration anyway
            if proc is not None and proc.returncode is None and self.ready[slot]:
                proc.send_signal(signal.SIGHUP)

    async def run(self, on_started: Callable[[], Awaitable[None]] | None = None) -> None:
        loop = asyncio.get_running_loop()
        keepers = [loop.create_task(self._keep(i)) for i in range(self.count)]
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        try:
            if on_started is not None:
                await on_started()
            await self.stopping.wait()
            for proc in self.procs:
                if proc is not None and proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
            waits = [p.wait() for p in self.procs if p is not None]
            if waits:
                done, pending = await asyncio.wait(
                    [asyncio.ensure_future(w) for w in waits], timeout=self.grace + 5
                )
                if pending:
                    for proc in self.procs:
                        if proc is not None and proc.returncode is None:
                            proc.kill()
                    await asyncio.wait(pending, timeout=5)
            await asyncio.wait(keepers, timeout=5)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
