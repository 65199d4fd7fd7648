"""Responses the gateway writes itself, in APIM's JSON shape."""

from __future__ import annotations

import json
from http import HTTPStatus

REASONS = {s.value: s.phrase.encode() for s in HTTPStatus}


def reason(status: int) -> bytes:
    return REASONS.get(status, b"Unknown")


def response_bytes(
    status: int,
    body: bytes,
    *,
    keep_alive: bool,
    content_type: bytes = b"application/json",
    headers: list[tuple[bytes, bytes]] | None = None,
    head_only: bool = False,
) -> bytes:
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, reason(status))]
    if content_type and body:
        lines.append(b"content-type: " + content_type + b"\r\n")
    for name, value in headers or ():
        lines.append(name + b": " + value + b"\r\n")
    lines.append(b"content-length: %d\r\n" % len(body))
    if not keep_alive:
        lines.append(b"connection: close\r\n")
    lines.append(b"\r\n")
    if not head_only:
        lines.append(body)
    return b"".join(lines)


def json_error(status: int, message: str, *, keep_alive: bool = True, head_only: bool = False,
               headers: list[tuple[bytes, bytes]] | None = None) -> bytes:
    body = json.dumps({"statusCode": status, "message": message}).encode()
    return response_bytes(status, body, keep_alive=keep_alive, headers=headers, head_only=head_only)


NOT_FOUND_MESSAGE = "Resource not found"
