"""FastAPI dependencies shared by the admin routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from kubegate.admin.auth import AuthError
from kubegate.admin.context import AdminContext


def context(request: Request) -> AdminContext:
    ctx: AdminContext = request.app.state.admin
    return ctx


async def admin_actor(request: Request) -> str:
    """The authenticated actor (for the audit log); 401/403 otherwise."""
    ctx = context(request)
    try:
        return await ctx.auth.authenticate(request.headers.get("authorization"))
    except AuthError as exc:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        raise HTTPException(exc.status, exc.message, headers=headers) from None


Ctx = Annotated[AdminContext, Depends(context)]
Actor = Annotated[str, Depends(admin_actor)]
