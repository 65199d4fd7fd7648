"""A safe Liquid subset (DotLiquid as APIM uses it) for ``set-body template="liquid"``."""

from .parse import LiquidSyntaxError
from .render import Template
from .values import Drop, LiquidError, Pair

__all__ = ["Drop", "LiquidError", "LiquidSyntaxError", "Pair", "Template"]
