"""Request validation against the OpenAPI spec an API was imported from
(APIM's validate-content / validate-parameters, switched on per API with
`validate_requests: true`).

The validator of each operation is compiled once, at import; a request that
fails gets 400 with the schema errors and never reaches the backend or the
operation's policies.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from kubegate.policies.context import Response
from kubegate.sources.openapi.validate import RequestData

Validator = Callable[[RequestData], list[str]]


class ValidatedPipeline:
    """Validates, then runs the operation's pipeline (or forwards when it has none)."""

    needs_request_body = True
    lane = None  # validation reads the whole request: never on the synchronous path

    def __init__(self, validator: Validator, inner: Any | None) -> None:
        self.validator = validator
        self.inner = inner
        self.needs_response_body = bool(inner is not None and inner.needs_response_body)
        self.streams = inner is None or inner.streams

    async def execute(self, ctx: Any, send: Callable[[Any], Any]) -> None:
        request = ctx.Request
        headers = {name.lower(): value for name, value in request.Headers.to_list()}
        query = {name: values[0] for name in request.Url.Query.names()
                 if (values := request.Url.Query.values_of(name))}
        errors = self.validator(RequestData(
            path_params=dict(request.MatchedParameters), query=query, headers=headers,
            content_type=headers.get("content-type"), body=request.Body.content))
        if errors:
            body = json.dumps({"statusCode": 400, "message": f"Request is invalid: {errors[0]}",
                               "errors": errors}).encode()
            ctx.Response = Response(400, "Bad Request", [("Content-Type", "application/json")],
                                    body)
            return
        if self.inner is not None:
            await self.inner.execute(ctx, send)
        else:
            await send(ctx)

    def describe(self) -> dict[str, Any]:
        return {"validate_requests": True,
                "then": self.inner.describe() if self.inner is not None else "forward"}
