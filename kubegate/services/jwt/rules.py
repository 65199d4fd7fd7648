"""validate-jwt configuration: an immutable rule set, built once per policy element."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class TokenSource(Enum):
    HEADER = "header"
    QUERY = "query"
    VALUE = "value"


class KeyKind(Enum):
    SYMMETRIC = "symmetric"  # base64 bytes, HS* only
    CERTIFICATE = "certificate"  # base64 DER X.509 certificate
    RSA = "rsa"  # modulus n / exponent e, base64url


@dataclass(frozen=True)
class SigningKeySpec:
    """One `<key>` of `<issuer-signing-keys>`; `value` is base64 for SYMMETRIC/CERTIFICATE."""

    kind: KeyKind
    value: str = ""
    n: str = ""
    e: str = ""
    key_id: str | None = None


@dataclass(frozen=True)
class ClaimRule:
    """One `<claim>` of `<required-claims>`: `match` is "all" or "any"."""

    name: str
    values: tuple[str, ...] = ()
    match: str = "all"
    separator: str | None = None


@dataclass(frozen=True)
class JwtRules:
    """Everything validate-jwt checks; defaults are APIM's."""

    source: TokenSource = TokenSource.HEADER
    header_name: str | None = "Authorization"
    query_parameter_name: str | None = None
    token_value: str | None = None  # expression source; the policy evaluates it
    failed_validation_httpcode: int = 401
    failed_validation_error_message: str | None = None
    require_expiration_time: bool = True
    require_scheme: str | None = None
    require_signed_tokens: bool = True
    clock_skew: int = 0
    output_token_variable_name: str | None = None
    openid_config_urls: tuple[str, ...] = ()
    signing_keys: tuple[SigningKeySpec, ...] = ()
    audiences: tuple[str, ...] = ()
    issuers: tuple[str, ...] = ()
    required_claims: tuple[ClaimRule, ...] = field(default=())

    @property
    def scheme_applies(self) -> bool:
        """APIM ignores require-scheme unless the token comes from the Authorization header."""
        return (
            self.require_scheme is not None
            and self.source is TokenSource.HEADER
            and (self.header_name or "").lower() == "authorization"
        )
