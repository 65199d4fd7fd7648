"""Subscription-key admission in front of an operation's policies (APIM's rules).

How it works: a ``SubscriptionGate`` has the interface of a ``Pipeline``
(``needs_request_body``, ``needs_response_body``, ``execute(ctx, send)``), so
the data plane runs it like any pipeline. Per request it takes the key from the
API's header, else from its query parameter, and removes both from the request
that is forwarded. It then decides, in APIM's order:

* no key: an open product containing the API admits the request (its pipeline,
  ``context.Product`` set); otherwise an API that requires a subscription
  answers 401 *missing key*; otherwise the request goes on without a subscription;
* a key: one dictionary look-up in the key index. Unknown, or its scope does not
  cover the API: 401 *invalid key*. Known and covering but not active
  (suspended, cancelled, expired, submitted): 403. An open product containing
  the API turns both refusals into "handle as if no key was sent". An accepted
  key sets ``context.Subscription``/``User`` (and ``Product`` for a product
  subscription) and runs the pipeline compiled for that product; API-scoped and
  all-APIs subscriptions run the pipeline without product-scope policies.

A refusal fills ``context.LastError`` (Source ``authorization``) and runs the
``on-error`` section of the product-less pipeline on the refusal response.

When every pipeline the gate may choose has a ``head_check`` (no policy step,
or one rate limit in its usual form; ``admit_head`` is then set), the data plane
asks ``admit_head`` first, with the key header's value as received, the raw query
and the client address: it admits the common cases (a valid, active key in the
header; no key where none is needed; the chosen pipeline's head check passed, its
hit counted) without a context being built, and the request is forwarded as on a
plain route, less the key header (after its counter store's answer, for a head
check that waits on one). Anything else (a refusal, a limit reached, a key in the
query, an end date to check) it leaves to the full check (``FULL_CHECK``), having
counted nothing.

Invariants: a gate is immutable and shared by every request of its operation (but
for its caches of the context objects and the head decisions of admitted keys, which
only ever add entries equal to those it would make again, the latter valid for one
generation of the key index);
it never touches the store (the key index is refreshed elsewhere) and never
reads the clock except through ``ctx.now()``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final, Protocol

from kubegate.services.keys import ProductInfo as IndexProduct
from kubegate.services.keys import SubscriptionInfo as IndexSubscription

from .context import LastError, Response
from .context_info import ProductInfo, SubscriptionInfo, UserInfo
from .errors import STOP
from .key_guard import KeyGuard
from .pipeline import INTERNAL_ERROR, JSON, Pipeline, admit_all
from .runtime import HeadWait, Located, Send, run_block, trace

DEFAULT_HEADER = "Ocp-Apim-Subscription-Key"
DEFAULT_QUERY = "subscription-key"
MISSING_KEY = ("Access denied due to missing subscription key. Make sure to include "
               "subscription key when making requests to an API.")
INVALID_KEY = ("Access denied due to invalid subscription key. Make sure to provide a valid "
               "key for an active subscription.")
INACTIVE = ("Access denied due to {state} subscription. Make sure to provide a valid key "
            "for an active subscription.")


class KeyLookup(Protocol):
    """What the gate needs from the key index (``kubegate.services.keys.KeyIndex``)."""

    generation: object  # a new object whenever the index is rebuilt

    def lookup(self, key: str) -> IndexSubscription | None: ...
    def allows(self, info: IndexSubscription, api: str) -> bool: ...
    def product(self, name: str) -> IndexProduct | None: ...


class SubscriptionGate:
    __slots__ = ("api", "keys", "base", "products", "open_product", "open_pipeline",
                 "required", "header", "query", "needs_request_body", "needs_response_body",
                 "guard", "_contexts", "streams", "lane", "admit_head", "key_field",
                 "query_field", "_heads")

    def __init__(self, api: str, keys: KeyLookup, base: Pipeline, *, required: bool,
                 products: Mapping[str, Pipeline] | None = None,
                 open_product: str | None = None, header: str = DEFAULT_HEADER,
                 query: str = DEFAULT_QUERY, guard: KeyGuard | None = None) -> None:
        self.api = api
        self.guard = guard
        self.keys = keys
        self.base = base
        self.products = dict(products or {})
        self.open_product = open_product
        self.open_pipeline = self.products.get(open_product or "", base)
        self.required = required
        self.header = header
        self.query = query
        every = (base, *self.products.values())
        self.needs_request_body = any(p.needs_request_body for p in every)
        # id(key index entry) -> (entry, context.Subscription, context.User): see _admitted
        self._contexts: dict[int, tuple[IndexSubscription, SubscriptionInfo,
                                        UserInfo | None]] = {}
        self.needs_response_body = any(p.needs_response_body for p in every)
        self.streams = all(p.streams for p in every)
        self.lane = self._lane if all(p.lane is not None for p in every) else None
        # no policy acts on the request beyond what its head check does (see admit_head)
        bare = all(p.head_check is not None for p in every)
        self.admit_head = self._admit_head if bare else None
        # raw key -> (key index generation, subscription id, head check) of an admitted
        # key without an end date: valid while the index keeps that generation
        self._heads: dict[bytes, tuple[object, str, Any]] = {}
        self.key_field = header.lower().encode("latin-1")  # the key header, as the parser gives it
        self.query_field = query.encode("latin-1")

    def describe(self) -> dict[str, Any]:
        """A plain description, like ``Pipeline.describe`` plus the key check's settings."""
        return {**self.base.describe(),
                "subscription": {"required": self.required, "header": self.header,
                                 "query": self.query, "open_product": self.open_product},
                "products": {name: p.describe() for name, p in self.products.items()}}

    def take_key(self, ctx: Any) -> str | None:
        """The presented key (header first, then query); both are removed from the request."""
        values = ctx.Request.Headers.pop(self.header)
        key = values[0] if values else None
        url = ctx.Request.Url
        # cheap tests before parsing the query (most requests have none)
        if (url._raw_query or url._query is not None) and self.query in url.QueryString:
            params = url.Query
            found = params.values_of(self.query)
            if found is not None:
                params.delete(self.query)
                if not key:
                    key = found[0]
        return key or None

    def _admit_head(self, key: bytes | None, query: bytes, client_ip: bytes) -> str | None | object:
        """The decision from the key header's value (None: no key header; the caller
        leaves a key sent twice to the full check), the raw query and the client
        address, for a gate whose pipelines all have a head check: the subscription
        id (None: none) when the request goes on as it is, the chosen pipeline's head
        check passed; a HeadWait when that check answers later (the request waits for
        it, then goes on or gets its refusal); or FULL_CHECK when only the full check
        can tell (refusals, a limit reached, a key in the query, a subscription with
        an end date, an open product's fallback for a bad key). The key header is
        never forwarded."""
        # find(), not `in`: bytes.__contains__ first tries the operand as an int and
        # pays for a TypeError on every call
        if query and query.find(self.query_field) >= 0:
            return FULL_CHECK
        if not key:  # none, or empty: as if none was sent
            if self.open_product is None and self.required:
                return FULL_CHECK
            check = self.open_pipeline.head_check
            if check is admit_all:
                return None
            checked = check(None, client_ip)  # type: ignore[misc]
            return None if checked is True else _verdict(checked, None)
        generation = self.keys.generation
        known = self._heads.get(key)
        if known is not None and known[0] is generation:
            subscription, check = known[1], known[2]
        else:
            info = self.keys.lookup(key.decode("latin-1"))
            if info is None or info.expires is not None or info.state != "active" \
                    or not self.keys.allows(info, self.api):
                return FULL_CHECK
            subscription = info.id
            check = (self.base if info.product is None else self.products.get(
                info.product, self.base)).head_check
            if len(self._heads) >= 4096:
                self._heads.clear()
            self._heads[key] = (generation, subscription, check)
        if check is admit_all:
            return subscription
        checked = check(subscription, client_ip)  # type: ignore[misc]
        return subscription if checked is True else _verdict(checked, subscription)

    async def execute(self, ctx: Any, send: Send) -> None:
        outcome = self._admit(ctx)
        if outcome is _GUARDED:
            outcome = await self._guarded(ctx)
        if isinstance(outcome, tuple):
            return await self._refuse(ctx, *outcome)
        await outcome.execute(ctx, send)

    def _lane(self, ctx: Any, send: Send) -> object:
        """The ``lane`` (see Pipeline): the key decision and the chosen pipeline's
        inbound as plain calls, when every pipeline has a lane (on-error is then empty).
        Returns a coroutine setting the refusal when the key guard must be asked."""
        outcome = self._admit(ctx)
        if outcome is _GUARDED:
            return self._guarded_refusal(ctx)
        if isinstance(outcome, tuple):
            self._refusal(ctx, *outcome)
            return STOP
        return outcome.lane(ctx, send)

    def _admit(self, ctx: Any) -> Any:
        """APIM's decision, without waiting: the pipeline to run (context.Subscription,
        User and Product set), a refusal (status, reason, message, headers), or
        _GUARDED when an invalid key must be counted by the key guard first."""
        key = self.take_key(ctx)
        if key is None:
            if self.open_product is not None:
                return self._open(ctx)
            if self.required:
                return (401, "SubscriptionKeyNotFound", MISSING_KEY, None)
            return self.base
        info = self.keys.lookup(key)
        if info is None or not self.keys.allows(info, self.api):
            if self.open_product is not None:
                return self._open(ctx)
            guard = self.guard
            if guard is None:
                return (401, "SubscriptionKeyInvalid", INVALID_KEY, None)
            wait = guard.blocked_for(ctx.Request.IpAddress)
            return _GUARDED if wait is None else _throttled(wait)
        state = info.state if info.expires is None else info.effective_state(_now(ctx))
        if state != "active":
            if self.open_product is not None:
                return self._open(ctx)
            return (403, "SubscriptionNotActive", INACTIVE.format(state=state), None)
        ctx.Subscription, user = self._admitted(info, key)
        if hasattr(ctx, "trace_allowed"):
            ctx.trace_allowed = info.allow_tracing
        if user is not None:
            ctx.User = user
        pipeline = self.base
        if info.product is not None:
            ctx.Product = self._product(info.product)
            pipeline = self.products.get(info.product, self.base)
        if ctx.Tracing:
            trace(ctx, f"subscription {info.id} ({info.scope}) admitted")
        return pipeline

    async def _guarded(self, ctx: Any) -> tuple[int, str, str, list[tuple[str, str]] | None]:
        """The refusal of an invalid key once the key guard counted it."""
        assert self.guard is not None
        wait = await self.guard.failed(ctx.Request.IpAddress, self.api)
        if wait is not None:
            return _throttled(wait)
        return (401, "SubscriptionKeyInvalid", INVALID_KEY, None)

    async def _guarded_refusal(self, ctx: Any) -> None:
        self._refusal(ctx, *await self._guarded(ctx))

    def _admitted(self, info: IndexSubscription, key: str
                  ) -> tuple[SubscriptionInfo, UserInfo | None]:
        """`context.Subscription` and `context.User` for an admitted key: made once per
        key index entry (each entry is one key of one subscription) and then shared, as
        expressions only read them."""
        made = self._contexts.get(id(info))
        if made is not None and made[0] is info:
            return made[1], made[2]
        subscription = SubscriptionInfo(
            Id=info.id, Key=key, Name=info.name,
            PrimaryKey=key if info.key == "primary" else None,
            SecondaryKey=key if info.key == "secondary" else None,
            EndDate=info.expires)
        user = UserInfo(Id=info.user) if info.user is not None else None
        if len(self._contexts) >= 4096:
            self._contexts.clear()
        self._contexts[id(info)] = (info, subscription, user)
        return subscription, user

    def _open(self, ctx: Any) -> Pipeline:
        """The open product's pipeline, with ``context.Product`` set to it."""
        assert self.open_product is not None
        ctx.Product = self._product(self.open_product)
        return self.open_pipeline

    def _product(self, name: str) -> ProductInfo:
        found = self.keys.product(name)
        if found is None:
            return ProductInfo(Id=name, Name=name)
        return ProductInfo(Id=name, Name=name, SubscriptionRequired=found.subscription_required,
                           ApprovalRequired=found.approval_required)

    def _refusal(self, ctx: Any, status: int, reason: str, message: str,
                 headers: list[tuple[str, str]] | None) -> None:
        """APIM's refusal: 401/403/429 JSON and ``LastError`` filled; nothing may reach
        the backend from here."""
        ctx.send = None
        ctx.LastError = LastError(Source="authorization", Reason=reason, Message=message,
                                  Section="inbound")
        body = json.dumps({"statusCode": status, "message": message}).encode()
        phrase = {401: "Unauthorized", 429: "Too Many Requests"}.get(status, "Forbidden")
        ctx.Response = Response(status, phrase, [*JSON, *(headers or ())], body)
        trace(ctx, f"subscription key refused: {reason}")

    async def _refuse(self, ctx: Any, status: int, reason: str, message: str,
                      headers: list[tuple[str, str]] | None) -> None:
        """The refusal, then the ``on-error`` section of the product-less pipeline."""
        self._refusal(ctx, status, reason, message, headers)
        try:
            await run_block(self.base.on_error, ctx)
        except Located as located:
            trace(ctx, f"error in on-error {located.step.label}: {located.error}")
            ctx.Response = Response(500, "Internal Server Error", list(JSON), INTERNAL_ERROR)


_GUARDED: Final = object()  # see SubscriptionGate._admit
FULL_CHECK: Final = object()  # see SubscriptionGate._admit_head


def _verdict(checked: bool | HeadWait, subscription: str | None) -> str | None | object:
    """admit_head's answer from a head check's other than True: FULL_CHECK, or the
    HeadWait (naming the subscription)."""
    if checked is False:
        return FULL_CHECK
    checked.subscription = subscription  # type: ignore[union-attr]
    return checked


def _throttled(wait: int) -> tuple[int, str, str, list[tuple[str, str]]]:
    return (429, "SubscriptionKeyThrottled",
            f"Too many invalid subscription keys. Try again in {wait} seconds.",
            [("Retry-After", str(wait))])


def _now(ctx: Any) -> datetime:
    now: datetime = ctx.now()
    return now
