"""Descriptive records of the policy context: API, operation, product, subscription,
user, last error and deployment. Plain slot classes; every field defaults to None."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubegate.sources.apim.expressions import CONTEXT_MEMBERS


class _Record:
    __slots__: tuple[str, ...] = ()

    def __init__(self, **fields: Any) -> None:
        for name in self.__slots__:
            setattr(self, name, fields.pop(name, None))
        if fields:
            raise TypeError(f"unknown fields for {type(self).__name__}: {sorted(fields)}")

    def __repr__(self) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({inner})"


def _members(kind: str) -> frozenset[str]:
    return CONTEXT_MEMBERS[kind]


class ApiInfo(_Record):
    __cs_type__ = "Api"
    __cs_members__ = _members("Api")
    __slots__ = ("Id", "Name", "Path", "Version", "Revision", "ServiceUrl", "Protocols",
                 "IsCurrentRevision")
    Id: str | None
    Name: str | None
    Path: str | None
    Version: str | None


class OperationInfo(_Record):
    __cs_type__ = "Operation"
    __cs_members__ = _members("Operation")
    __slots__ = ("Id", "Name", "Method", "UrlTemplate")
    Id: str | None
    Name: str | None
    Method: str | None
    UrlTemplate: str | None


class ProductInfo(_Record):
    __cs_type__ = "Product"
    __cs_members__ = _members("Product")
    __slots__ = ("Id", "Name", "SubscriptionRequired", "ApprovalRequired")


class SubscriptionInfo(_Record):
    __cs_type__ = "Subscription"
    __cs_members__ = _members("Subscription")
    __slots__ = ("Id", "Key", "Name", "PrimaryKey", "SecondaryKey", "CreatedDate",
                 "StartDate", "EndDate")
    CreatedDate: datetime | None


class Group(_Record):
    __cs_type__ = "Group"
    __cs_members__ = _members("Group")
    __slots__ = ("Id", "Name")


class UserInfo(_Record):
    __cs_type__ = "User"
    __cs_members__ = _members("User")
    __slots__ = ("Id", "Email", "FirstName", "LastName", "Groups", "Note", "RegistrationDate")
    Groups: list[Group] | None


class LastError(_Record):
    """``context.LastError``; the policy engine fills it before ``on-error`` runs."""

    __cs_type__ = "LastError"
    __cs_members__ = _members("LastError")
    __slots__ = ("Source", "Reason", "Message", "Scope", "Section", "Path", "PolicyId")


class GatewayInfo(_Record):
    __cs_type__ = "Gateway"
    __cs_members__ = _members("Gateway")
    __slots__ = ("Id", "InstanceId", "IsManaged")


class DeploymentInfo(_Record):
    __cs_type__ = "Deployment"
    __cs_members__ = _members("Deployment")
    __slots__ = ("Region", "ServiceName", "ServiceId", "Gateway")
    Gateway: GatewayInfo | None
