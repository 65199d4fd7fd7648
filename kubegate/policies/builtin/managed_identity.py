"""authentication-managed-identity: ``resource`` (required), ``client-id``,
``output-token-variable-name``, ``ignore-error`` (false).

kubegate does not talk to Azure by itself: the token comes from the
``"identity"`` service of the compile environment,
``async provider(resource, client_id) -> access token`` (for example Azure
workload identity in the cluster). The token is put in ``Authorization:
Bearer ...`` on the backend request (or only in the variable when one is
named). Without a provider, or when it fails, the request goes to on-error
(500, Reason ``ManagedIdentityUnavailable``) unless ``ignore-error``."""

from __future__ import annotations

from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..errors import PolicyFailure
from ..registry import register
from ..runtime import Step, trace
from ._util import evaluator, to_text


@register("authentication-managed-identity", sections={"inbound", "backend"},
          summary="bearer token from a managed-identity provider")
def compile_managed_identity(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("resource", "client-id", "output-token-variable-name", "ignore-error"),
                  required=("resource",))
    resource = evaluator(c.attr(el, "resource", ""))  # type: ignore[arg-type]
    client_id = c.const(el, "client-id")
    var = c.const(el, "output-token-variable-name")
    ignore = c.const_bool(el, "ignore-error", False)
    provider = c.env.services.get("identity")

    async def run(ctx: Any) -> None:
        res = to_text(resource(ctx))
        try:
            if provider is None:
                raise LookupError("no managed identity provider is configured")
            token = str(await provider(res, client_id))
        except Exception as exc:
            trace(ctx, f"authentication-managed-identity {res}: failed ({exc})")
            if ignore:
                return
            raise PolicyFailure(500, "ManagedIdentityUnavailable",
                                f"cannot get a token for {res}: {exc}",
                                source="authentication-managed-identity") from None
        if var:
            ctx.Variables[var] = token
        else:
            ctx.Request.Headers.set("Authorization", "Bearer " + token)
        trace(ctx, f"authentication-managed-identity {res}: token obtained")
    return c.step(el, path, run, is_async=True)
