"""Safe compiler for APIM policy expressions (a documented C# subset) to Python closures.

See docs/expressions.md for the supported subset."""

from .api import (
    CompiledExpression,
    compile_expression,
    compile_value,
    is_expression,
    resolve_named_values,
)
from .errors import ExpressionCompileError, ExpressionError
from .jwt import Jwt, ReadOnlyMultiMap
from .runtime import JArray, JObject, cs_str, parse_json
from .schema import CONTEXT_MEMBERS
from .uris import parse_form
from .xlinq import body_as as xml_body

__all__ = [
    "CONTEXT_MEMBERS",
    "CompiledExpression",
    "ExpressionCompileError",
    "ExpressionError",
    "JArray",
    "JObject",
    "Jwt",
    "ReadOnlyMultiMap",
    "compile_expression",
    "compile_value",
    "cs_str",
    "is_expression",
    "parse_form",
    "parse_json",
    "resolve_named_values",
    "xml_body",
]
