"""Jinja2 templates shared by the portal and the console (autoescaped)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                  autoescape=select_autoescape(["html"]))


def page(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    message = request.session.pop("flash", None) if "session" in request.scope else None
    values.setdefault("message", message[0] if message else None)
    values.setdefault("error", message[1] if message else False)
    return HTMLResponse(env.get_template(template).render(**values), status_code=status)


def flash(request: Request, message: str, error: bool = False) -> None:
    request.session["flash"] = [message, error]
