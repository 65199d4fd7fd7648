"""Who may use the admin API: an admin token, or a JWT carrying an admin role.

The token comes from `KUBEGATE_ADMIN_TOKEN_FILE` (a mounted Secret) or
`KUBEGATE_ADMIN_TOKEN`, and is compared with `hmac.compare_digest` (constant
time). A JWT is checked by kubegate's validate-jwt verifier (issuer, audience,
signature, expiry from `JwtRules`); it must carry `admin_role` in the claim
`role_claim` (a string, or a list of strings). With neither configured, every
admin request is refused (403): the admin API is never open by accident.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable
from pathlib import Path

from kubegate.services.jwt import JwtFailure, JwtRules, JwtVerifier


class AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class AdminAuth:
    def __init__(self, token: str | None = None, *, jwt: JwtRules | None = None,
                 role_claim: str = "roles", admin_role: str = "admin",
                 clock: Callable[[], float] = time.time) -> None:
        if token is not None and len(token) < 16:
            raise ValueError("the admin token must be at least 16 characters")
        self._token = token.encode() if token else None
        self.verifier = JwtVerifier(jwt) if jwt is not None else None
        self.role_claim = role_claim
        self.admin_role = admin_role
        self.clock = clock

    @classmethod
    def from_env(cls, jwt: JwtRules | None = None) -> AdminAuth:
        path = os.environ.get("KUBEGATE_ADMIN_TOKEN_FILE")
        token = Path(path).read_text(encoding="utf-8").strip() if path else \
            os.environ.get("KUBEGATE_ADMIN_TOKEN") or None
        return cls(token, jwt=jwt)

    @property
    def configured(self) -> bool:
        return self._token is not None or self.verifier is not None

    def check_token(self, token: str) -> bool:
        return self._token is not None and hmac.compare_digest(token.encode(), self._token)

    async def authenticate(self, authorization: str | None) -> str:
        """The actor name for the audit log, or AuthError (401 no/bad credentials, 403)."""
        if not self.configured:
            raise AuthError(403, "the admin API is disabled: configure an admin token or JWT")
        scheme, _, credential = (authorization or "").strip().partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            raise AuthError(401, "send Authorization: Bearer <admin token or JWT>")
        if self.check_token(credential):
            return "admin-token"
        if self.verifier is None or credential.count(".") != 2:
            raise AuthError(401, "invalid admin credentials")
        result = await self.verifier.verify(f"Bearer {credential}", self.clock())
        if isinstance(result, JwtFailure):
            raise AuthError(401, f"invalid token: {result.detail}")
        roles = result.claims.get(self.role_claim)
        roles = [roles] if isinstance(roles, str) else roles if isinstance(roles, list) else []
        if self.admin_role not in roles:
            raise AuthError(403, f"the token lacks the {self.admin_role!r} role "
                                 f"in claim {self.role_claim!r}")
        return f"jwt:{result.subject or result.issuer or 'unknown'}"
