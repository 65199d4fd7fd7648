"""validate-jwt: check an access token with ``kubegate.services.jwt`` (see docs/jwt.md).

The element's attributes and children are those of APIM (parsed by
``rules_from_element``); ``{{named values}}`` are resolved first and
``token-value`` may be an expression. A failure goes to on-error with the
service's status (``failed-validation-httpcode``, default 401), Reason (e.g.
``TokenExpired``) and a ``{"statusCode", "message"}`` body. With
``output-token-variable-name`` the verified token is stored as a ``Jwt``.
Services used: ``"openid"`` (an ``OpenIdRegistry``; one is created if absent),
``"certificates"`` (APIM certificate id -> DER). ``jwt_step`` is shared with
validate-azure-ad-token, which builds a ``<validate-jwt>`` tree of its own."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from kubegate.model.errors import ConfigError, Problem
from kubegate.model.policy import PolicyElement
from kubegate.services.jwt import (
    JwtFailure,
    JwtRules,
    JwtVerifier,
    TokenSource,
    VerifiedToken,
    rules_from_element,
)
from kubegate.sources.apim.expressions import Jwt, resolve_named_values

from ..compiler import Compiler
from ..errors import PolicyFailure
from ..registry import register
from ..runtime import Step, Wait, trace
from ._util import evaluator, to_text


def _tree(el: PolicyElement, c: Compiler) -> dict[str, Any]:
    def value(text: str) -> str:
        if text.lstrip().startswith("@"):
            return text
        return resolve_named_values(text, c.named_values, line=el.line or 1)
    return {"name": el.name, "line": el.line,
            "attributes": {k: value(v) for k, v in el.attributes.items()},
            "text": value(el.text) if el.text is not None else None,
            "children": [_tree(ch, c) for ch in el.children]}


Extra = Callable[[JwtRules, VerifiedToken], JwtFailure | None]


@register("validate-jwt", sections={"inbound"}, summary="require a valid JWT")
def compile_validate_jwt(el: PolicyElement, c: Compiler, path: str) -> Step | None:
    return jwt_step(el, c, path, _tree(el, c))


def jwt_step(el: PolicyElement, c: Compiler, path: str, tree: dict[str, Any],
             extra: Extra | None = None) -> Step | None:
    """The step checking a token by the rules of ``tree`` (a ``<validate-jwt>`` element
    tree; validate-azure-ad-token builds one), then by ``extra`` when given."""
    source_name = el.name
    try:
        rules = rules_from_element(tree, certificates=c.env.services.get("certificates"))
        verifier = JwtVerifier(rules, openid=c.env.services.get("openid"))
    except ConfigError as exc:
        c.problems.extend(Problem(p.message.replace("<validate-jwt>", f"<{el.name}>"), el.file,
                                  p.line or el.line, None, p.field) for p in exc.problems)
        return None
    if rules.source is TokenSource.HEADER:
        header = rules.header_name or "Authorization"

        def token(ctx: Any) -> str | None:
            value: str | None = ctx.Request.Headers.get(header)
            return value
    elif rules.source is TokenSource.QUERY:
        param = rules.query_parameter_name or ""

        def token(ctx: Any) -> str | None:
            return ctx.Request.Url.Query.GetValueOrDefault(param, None)  # type: ignore[no-any-return]
    else:
        get = evaluator(c.attr(el, "token-value", ""))  # type: ignore[arg-type]

        def token(ctx: Any) -> str | None:
            return to_text(get(ctx))
    out = rules.output_token_variable_name

    def checked(ctx: Any, result: VerifiedToken | JwtFailure) -> None:
        if not isinstance(result, JwtFailure) and extra is not None:
            result = extra(rules, result) or result
        if isinstance(result, JwtFailure):
            trace(ctx, f"{source_name}: {result.reason}")
            body = json.dumps({"statusCode": result.status, "message": result.message})
            raise PolicyFailure(result.status, result.reason, result.detail,
                                body=body.encode(), source=source_name)
        if ctx.Tracing:
            trace(ctx, f"{source_name}: valid (sub={result.subject})")
        if out:
            ctx.Variables[out] = Jwt(result.header, result.claims)

    def verified(ctx: Any, done: Any, _: Any) -> None:
        checked(ctx, done.result())

    def soon(ctx: Any) -> Wait | None:
        """Without waiting when the token was verified before or the keys are at hand
        (the usual case); else a Wait on the verification (keys being fetched)."""
        value = token(ctx)
        now = ctx.now_seconds()
        result = verifier.try_verify(value, now)
        if result is None:
            return Wait(asyncio.ensure_future(verifier.verify(value, now)), verified)
        checked(ctx, result)
        return None

    async def run(ctx: Any) -> None:
        waiting = soon(ctx)
        if waiting is not None:
            checked(ctx, await waiting.future)
    return c.step(el, path, run, is_async=True, soon=soon, source=rules.source.name.lower())
