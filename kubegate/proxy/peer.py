"""The certificate a client presented on an HTTPS listener that asks for one.

A listener with `client_certificate: optional|required` verifies the chain to its
`client_ca` in the handshake (dates are left to validate-client-certificate), so a
certificate found here is marked `chain_verified`."""

from __future__ import annotations

from typing import Any

from kubegate.policies.x509 import X509Certificate


def peer_certificate(transport: Any) -> X509Certificate | None:
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return X509Certificate(der, chain_verified=True) if der else None
