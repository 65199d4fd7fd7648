"""Members of the ``context`` object graph that expressions may use.

The runtime classes in ``kubegate.policies.context`` take their
``__cs_members__`` allow-lists from here, so the compiler (which must not
import the policy layer) knows every legal member name."""

from __future__ import annotations

MULTI_MAP = frozenset({"GetValueOrDefault", "Item", "ContainsKey", "Count", "Keys"})

CONTEXT_MEMBERS: dict[str, frozenset[str]] = {
    "Context": frozenset({
        "Request", "Response", "Variables", "Subscription", "Product", "Api", "Operation",
        "User", "LastError", "Deployment", "RequestId", "Timestamp", "Elapsed", "Tracing",
    }),
    "Request": frozenset({"Method", "Url", "OriginalUrl", "Headers", "IpAddress", "Body",
                          "MatchedParameters", "Certificate"}),
    "Url": frozenset({"Scheme", "Host", "Port", "Path", "Query", "QueryString", "ToString"}),
    "Headers": MULTI_MAP,
    "Body": frozenset({"As", "AsFormUrlEncodedContent"}),
    "Response": frozenset({"StatusCode", "StatusReason", "Headers", "Body"}),
    "Subscription": frozenset({"Id", "Key", "Name", "PrimaryKey", "SecondaryKey",
                               "CreatedDate", "StartDate", "EndDate"}),
    "Product": frozenset({"Id", "Name", "SubscriptionRequired", "ApprovalRequired"}),
    "Api": frozenset({"Id", "Name", "Path", "Version", "Revision", "ServiceUrl", "Protocols",
                      "IsCurrentRevision"}),
    "Operation": frozenset({"Id", "Name", "Method", "UrlTemplate"}),
    "User": frozenset({"Id", "Email", "FirstName", "LastName", "Groups", "Note",
                       "RegistrationDate"}),
    "Group": frozenset({"Id", "Name"}),
    "LastError": frozenset({"Source", "Reason", "Message", "Scope", "Section", "Path",
                            "PolicyId"}),
    "Deployment": frozenset({"Region", "ServiceName", "ServiceId", "Gateway"}),
    "Gateway": frozenset({"Id", "InstanceId", "IsManaged"}),
    "X509Certificate2": frozenset({"Thumbprint", "Subject", "Issuer", "SerialNumber",
                                   "NotBefore", "NotAfter", "Version", "RawData"}),
}
