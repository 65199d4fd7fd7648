"""OpenAPI / Swagger import: Swagger 2.0, OpenAPI 3.0 and 3.1 into one model."""

from kubegate.sources.openapi.backend import NO_BACKEND, BackendChoice, resolve_backend
from kubegate.sources.openapi.importer import (
    ImportResult,
    ImportSummary,
    ReimportReport,
    import_api,
    load_spec,
    reimport,
)
from kubegate.sources.openapi.model import ApiSpec, SpecOperation
from kubegate.sources.openapi.rewrite import client_spec, fix_host
from kubegate.sources.openapi.validate import RequestData, compile_validator

__all__ = [
    "NO_BACKEND",
    "ApiSpec",
    "BackendChoice",
    "ImportResult",
    "ImportSummary",
    "ReimportReport",
    "RequestData",
    "SpecOperation",
    "client_spec",
    "compile_validator",
    "fix_host",
    "import_api",
    "load_spec",
    "reimport",
    "resolve_backend",
]
