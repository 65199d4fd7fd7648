"""OpenID Connect discovery and JWKS cache, one per configuration URL.

How it works: `refresh(now)` fetches the discovery document, then its `jwks_uri`, and on
success replaces the (issuer, keys) snapshot atomically. Invariants:
* at most one fetch runs at a time; concurrent callers await the same one;
* a failed fetch never drops keys: the last good snapshot stays, the failure is logged and
  counted in `stats`;
* `needs_refresh(now)` is true when there are no keys yet or they are an hour old, but never
  sooner than 5 minutes after the previous attempt (so failures back off);
* `may_refetch_for_unknown_kid(now)`: an unknown kid triggers at most one fetch per 5 minutes.
Time is always passed in (`now`, seconds), so tests need no real clock.
"""

from __future__ import annotations

import asyncio
import logging
import urllib.request
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from kubegate.services.jwt.compact import TokenError, strict_json_object
from kubegate.services.jwt.keys import UnusableKey, VerificationKey, keys_from_jwks

log = logging.getLogger("kubegate.jwt")

Fetcher = Callable[[str], Awaitable[bytes]]
REFRESH_INTERVAL = 3600.0
MIN_REFETCH_INTERVAL = 300.0
MAX_DOCUMENT_BYTES = 1 << 20


class FetchError(Exception):
    """A discovery or JWKS document could not be fetched or used."""


@dataclass(frozen=True)
class ProviderKeys:
    issuer: str | None
    keys: tuple[VerificationKey, ...]

    def kids(self) -> frozenset[str]:
        return frozenset(k.kid for k in self.keys if k.kid is not None)


@dataclass
class FetchStats:
    fetches: int = 0
    failures: int = 0
    last_error: str | None = None


def urllib_fetcher(timeout: float = 10.0) -> Fetcher:
    """Default fetcher: urllib in the default executor, http(s) only, 1 MiB cap."""

    def get(url: str) -> bytes:
        if not url.startswith(("https://", "http://")):
            raise FetchError(f"refusing non-http(s) URL {url!r}")
        req = urllib.request.Request(url, headers={"Accept": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (scheme checked)
            body: bytes = resp.read(MAX_DOCUMENT_BYTES + 1)
        if len(body) > MAX_DOCUMENT_BYTES:
            raise FetchError(f"{url}: document larger than {MAX_DOCUMENT_BYTES} bytes")
        return body

    async def fetch(url: str) -> bytes:
        return await asyncio.get_running_loop().run_in_executor(None, get, url)

    return fetch


@dataclass
class OpenIdSource:
    url: str
    fetch: Fetcher
    refresh_interval: float = REFRESH_INTERVAL
    min_refetch_interval: float = MIN_REFETCH_INTERVAL
    stats: FetchStats = field(default_factory=FetchStats)
    current: ProviderKeys | None = None
    _last_attempt: float | None = None
    _last_success: float | None = None
    _inflight: asyncio.Future[ProviderKeys | None] | None = None

    def _backed_off(self, now: float) -> bool:
        return self._last_attempt is not None and now - self._last_attempt < self.min_refetch_interval

    def needs_refresh(self, now: float) -> bool:
        """True when keys are missing or an hour old (or a fetch is running: join it)."""
        if self._inflight is not None:
            return True
        if self._backed_off(now):
            return False
        return self._last_success is None or now - self._last_success >= self.refresh_interval

    def may_refetch_for_unknown_kid(self, now: float) -> bool:
        return self._inflight is not None or not self._backed_off(now)

    async def refresh(self, now: float) -> ProviderKeys | None:
        """Fetch now (joining a fetch already running); return the current snapshot."""
        if self._inflight is not None:
            return await asyncio.shield(self._inflight)
        self._last_attempt = now
        self._inflight = asyncio.get_running_loop().create_future()
        try:
            self.stats.fetches += 1
            try:
                self.current = await self._load()
                self._last_success = now
            except Exception as exc:  # noqa: BLE001 - every failure keeps the last good keys
                self.stats.failures += 1
                self.stats.last_error = str(exc) or type(exc).__name__
                log.warning("openid-config %s: fetch failed, keeping %s keys: %s", self.url,
                            "last good" if self.current else "no", self.stats.last_error)
            self._inflight.set_result(self.current)
            return self.current
        finally:
            self._inflight = None

    async def _json(self, url: str) -> dict[str, object]:
        body = await self.fetch(url)
        try:
            return strict_json_object(body, url)
        except TokenError as exc:
            raise FetchError(str(exc)) from exc

    async def _load(self) -> ProviderKeys:
        doc = await self._json(self.url)
        jwks_uri, issuer = doc.get("jwks_uri"), doc.get("issuer")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise FetchError(f"{self.url}: discovery document has no http(s) jwks_uri")
        if issuer is not None and not isinstance(issuer, str):
            raise FetchError(f"{self.url}: issuer is not a string")
        try:
            keys, skipped = keys_from_jwks(await self._json(jwks_uri))
        except UnusableKey as exc:
            raise FetchError(f"{jwks_uri}: {exc}") from exc
        for reason in skipped:
            log.info("openid-config %s: skipped key %s", self.url, reason)
        return ProviderKeys(issuer, tuple(keys))


class OpenIdRegistry:
    """Shares one OpenIdSource per URL across all verifiers of a gateway process."""

    def __init__(self, fetch: Fetcher | None = None) -> None:
        self._fetch = fetch or urllib_fetcher()
        self._sources: dict[str, OpenIdSource] = {}

    def source(self, url: str) -> OpenIdSource:
        if url not in self._sources:
            self._sources[url] = OpenIdSource(url, self._fetch)
        return self._sources[url]

    def stats(self) -> dict[str, FetchStats]:
        return {url: s.stats for url, s in self._sources.items()}
