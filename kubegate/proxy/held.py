"""A plain exchange that waits for a head check's verdict before it may start.

When a key check's policies reduce to one rate limit whose counters live in a
store that answers through futures (Redis), ``SubscriptionGate.admit_head``
sends the hit at once and hands back a ``HeadWait``; the request then needs no
policy context at all, only the verdict. A ``HeldExchange`` is that request: it
queues like any exchange and buffers its body like one whose upstream is not
attached yet, but ``start`` waits for the verdict. Admitted, it starts as a
plain exchange; refused, it answers the limit's response (429, or 503 when the
store is unreachable under fail-closed) instead of forwarding anything.

Invariants: nothing is sent upstream before the verdict; the verdict is read
once, when the future completes, and never after the client went away
(``finished``); the exchange starts at most once, when it is both decided and
at the head of its connection's queue.
"""

from __future__ import annotations

import logging
from typing import Any

from kubegate.policies.pipeline import INTERNAL_ERROR, JSON
from kubegate.policies.runtime import HeadWait
from kubegate.proxy.errors import response_bytes
from kubegate.proxy.exchange import Exchange

log = logging.getLogger("kubegate.proxy")


class HeldExchange(Exchange):
    deciding = True  # the verdict has not come yet
    wanted = False  # start() was called meanwhile

    def hold(self, wait: HeadWait) -> None:
        """Wait for `wait`'s verdict before starting (called once, at creation)."""
        self.wait = wait
        wait.future.add_done_callback(self._decided)

    def start(self) -> None:
        if self.deciding:
            self.wanted = True
            return
        Exchange.start(self)

    def _decided(self, future: Any) -> None:
        self.deciding = False
        if self.finished:
            return  # the client went away meanwhile
        wait = self.wait
        try:
            refusal = wait.settle(future, wait.arg)
        except Exception:  # noqa: BLE001 - a bug must answer 500, not leave the client hanging
            log.exception("rate-limit verdict failed")
            self._answer(500, JSON, INTERNAL_ERROR)
        else:
            if refusal is not None:
                self._answer(refusal.status, refusal.headers, refusal.body)
                if refusal.status == 429:  # a limit refused (a 503: the store failed)
                    api = self.target.api if self.target is not None else "-"
                    self.conn.server.metrics.reject(api, "rate-limit")
        if self.wanted:
            Exchange.start(self)

    def _answer(self, status: int, headers: Any, body: bytes) -> None:
        """Answer `status` instead of forwarding; a request body still to come is
        discarded (the connection closes after it unless it was complete)."""
        self.status = status
        self.keep_alive = self.keep_alive and self.req_done
        fields = [(n.encode("latin-1"), v.encode("latin-1")) for n, v in headers]
        if self.rid is not None:  # as on every response (observability.request_id_header)
            fields.append((self.conn.server.rid_header.encode("latin-1"), self.rid))
        self.local = response_bytes(status, body, keep_alive=self.keep_alive,
                                    content_type=b"", head_only=self.head_request,
                                    headers=fields)
        if self.buffered:
            self.buffer.clear()
            self.buffered = 0
            self.conn.resume_reading(2)
