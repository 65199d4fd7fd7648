"""Errors the store raises; each message says what failed and what to do."""

from __future__ import annotations


class StoreError(Exception):
    """Base class of every store error."""


class StoreUnavailable(StoreError):
    """The database cannot be reached or written; the change was not made."""


class NotFound(StoreError):
    """The named product, subscription, user or group does not exist."""


class Conflict(StoreError):
    """The change contradicts what is stored (duplicate name, bad state transition...)."""


class SchemaError(StoreError):
    """The database schema is missing, out of date, or newer than this program."""
