"""Token counts of an OpenAI-style LLM call (chat completions, completions, embeddings).

* ``estimate_prompt(body)``: an estimate of the prompt's tokens from the request
  JSON (``messages[].content`` text parts, ``prompt``, ``input``): 4 characters
  per token, rounded up, plus 3 tokens per chat message and 3 for the reply's
  priming (OpenAI's rule of thumb; kubegate has no model tokenizer, so this is
  an estimate, as APIM's is).
* ``usage(request, response)``: ``(prompt, completion, total)`` from the
  response's ``usage`` object (``prompt_tokens``, ``completion_tokens``,
  ``total_tokens``; Azure OpenAI and OpenAI alike). A streamed response
  (``text/event-stream``) is read chunk by chunk: a chunk carrying ``usage`` wins,
  else the prompt is estimated and the completion counted from the streamed text.
"""

from __future__ import annotations

import json
import math
from typing import Any

CHARS_PER_TOKEN = 4
PER_MESSAGE = 3
PRIMING = 3


def _json(data: bytes | None) -> Any:
    if not data:
        return None
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None


def _text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN) if text else 0


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content
                        if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def estimate_prompt(body: bytes | None) -> int:
    req = _json(body)
    if not isinstance(req, dict):
        return 0
    messages = req.get("messages")
    if isinstance(messages, list):
        n = PRIMING
        for m in messages:
            if isinstance(m, dict):
                n += PER_MESSAGE + _text_tokens(_content_text(m.get("content")))
                n += _text_tokens(m["name"]) if isinstance(m.get("name"), str) else 0
        return n
    for key in ("prompt", "input"):
        value = req.get(key)
        if isinstance(value, str):
            return _text_tokens(value)
        if isinstance(value, list):
            return sum(_text_tokens(v) for v in value if isinstance(v, str))
    return 0


def is_stream(body: bytes | None) -> bool:
    req = _json(body)
    return isinstance(req, dict) and req.get("stream") is True


def _from_usage(u: Any) -> tuple[int, int, int] | None:
    if not isinstance(u, dict):
        return None
    def count(name: str) -> int | None:
        v = u.get(name)
        return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None
    prompt, completion = count("prompt_tokens") or 0, count("completion_tokens") or 0
    total = count("total_tokens")
    return prompt, completion, prompt + completion if total is None else total


def _stream_usage(data: bytes, prompt_estimate: int) -> tuple[int, int, int]:
    text_parts: list[str] = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        if not line.startswith("data:"):
            continue
        chunk = _json(line[5:].strip().encode())
        if not isinstance(chunk, dict):
            continue
        found = _from_usage(chunk.get("usage"))
        if found is not None:
            return found
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict):
                delta = choice.get("delta") or {}
                part = delta.get("content") if isinstance(delta, dict) else None
                if isinstance(part, str):
                    text_parts.append(part)
                elif isinstance(choice.get("text"), str):
                    text_parts.append(choice["text"])
    completion = _text_tokens("".join(text_parts))
    return prompt_estimate, completion, prompt_estimate + completion


def usage(request_body: bytes | None, response: Any) -> tuple[int, int, int] | None:
    """Tokens the call used, or ``None`` when the response reports none."""
    ctype = (response.Headers.get("Content-Type") or "").lower()
    data = response.Body.content
    if "text/event-stream" in ctype:
        return _stream_usage(data or b"", estimate_prompt(request_body))
    body = _json(data)
    return _from_usage(body.get("usage")) if isinstance(body, dict) else None
