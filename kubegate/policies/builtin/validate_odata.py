"""validate-odata-request: a request to an OData API against the OData 4.0/4.01 rules
for versions and system query options (APIM's attributes; no OpenAPI spec needed).

Checks, each a finding that ends the request with 400 (the policy has no actions):
* ``OData-Version``: a version number within ``min-odata-version`` ..
  ``max-odata-version``; absent, ``default-odata-version`` (4.0) is assumed, and must
  be within them too; ``OData-MaxVersion`` below ``min-odata-version`` cannot be served.
* ``max-size``: the request body's length in bytes.
* system query options (``$``-prefixed; case-insensitive from 4.01 on): known names
  only (``$compute``, ``$index``, ``$schemaversion`` from 4.01 on), each at most once,
  none empty; ``$top``/``$skip``/``$index`` non-negative integers, ``$count``
  ``true``/``false``, ``$format`` ``json``/``xml``/``atom`` or a media type,
  expressions with balanced parentheses and quotes.
Errors go to ``error-variable-name`` as APIM validation records (see ``_validation``).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from kubegate.model.policy import PolicyElement

from ..compiler import Compiler
from ..registry import register
from ..runtime import Step
from ._validation import Finding, finish, variable_name

OPTIONS_40 = frozenset({"$filter", "$select", "$expand", "$orderby", "$top", "$skip", "$count",
                        "$search", "$format", "$skiptoken", "$deltatoken", "$id", "$apply"})
OPTIONS_401 = OPTIONS_40 | {"$compute", "$index", "$schemaversion"}
EXPRESSIONS = frozenset({"$filter", "$select", "$expand", "$orderby", "$apply", "$compute",
                         "$search"})
_VERSION = re.compile(r"^\d+\.\d+$")
V401 = Decimal("4.01")


def version(text: str | None) -> Decimal | None:
    if text is None or not _VERSION.match(text.strip()):
        return None
    try:
        return Decimal(text.strip())
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return None


def balanced(text: str) -> bool:
    """Parentheses balance outside single-quoted strings ('' escapes a quote)."""
    depth, quoted = 0, False
    for ch in text:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0 and not quoted


def _option_problem(name: str, value: str) -> str | None:
    if not value.strip():
        return f"The query option {name} has no value."
    if name in ("$top", "$skip", "$index") and not value.strip().isdigit():
        return f"The value '{value}' of the query option {name} is not a non-negative integer."
    if name == "$count" and value.strip() not in ("true", "false"):
        return f"The value '{value}' of the query option $count is not true or false."
    if name == "$format" and value.strip().lower() not in ("json", "xml", "atom") \
            and "/" not in value:
        return f"The value '{value}' of the query option $format is not a known format."
    if name in EXPRESSIONS and not balanced(value):
        return f"The value of the query option {name} has unbalanced parentheses or quotes."
    return None


def _version_attr(c: Compiler, el: PolicyElement, name: str, default: str | None
                  ) -> Decimal | None:
    raw = c.const(el, name, default)
    found = version(raw)
    if raw is not None and found is None:
        c.attr_problem(el, name, f"expected an OData version such as 4.0 or 4.01, got {raw!r}")
    return found


@register("validate-odata-request", sections={"inbound"},
          summary="check an OData request's versions and system query options")
def compile_validate_odata(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("error-variable-name", "errors-variable-name", "default-odata-version",
                       "min-odata-version", "max-odata-version", "max-size"))
    c.check_children(el, ())
    variable = variable_name(c, el, "error-variable-name", "errors-variable-name")
    default = _version_attr(c, el, "default-odata-version", "4.0") or Decimal("4.0")
    low = _version_attr(c, el, "min-odata-version", None)
    high = _version_attr(c, el, "max-odata-version", None)
    if low is not None and high is not None and low > high:
        c.problem(el, f"min-odata-version {low} is above max-odata-version {high}")
    max_size = c.const_int(el, "max-size", None, minimum=0, maximum=2**62)

    def finding(name: str, kind: str, rule: str, text: str) -> Finding:
        return Finding(name, kind, rule, text, text, "prevent")

    def versions(ctx: Any) -> tuple[Decimal, list[Finding]]:
        headers, out = ctx.Request.Headers, []
        raw = headers.get("OData-Version")
        used = default if raw is None else version(raw)
        if used is None:
            out.append(finding("OData-Version", "RequestHeader", "IncorrectMessage",
                               f"The OData-Version header value '{raw}' is not a version."))
            return default, out
        if (low is not None and used < low) or (high is not None and used > high):
            out.append(finding("OData-Version", "RequestHeader", "IncorrectMessage",
                               f"OData version {used} is not supported: the API accepts "
                               f"{low or 'any'} to {high or 'any'}."))
        raw_max = headers.get("OData-MaxVersion")
        if raw_max is not None:
            most = version(raw_max)
            if most is None or (low is not None and most < low):
                out.append(finding("OData-MaxVersion", "RequestHeader", "IncorrectMessage",
                                   f"The OData-MaxVersion header value '{raw_max}' is below "
                                   f"the lowest supported version {low}."
                                   if most is not None else
                                   f"The OData-MaxVersion header value '{raw_max}' is not a "
                                   "version."))
        return used, out

    def run(ctx: Any) -> object | None:
        used, findings = versions(ctx)
        body = ctx.Request.Body.content or b""
        if max_size is not None and len(body) > max_size:
            findings.append(finding("", "RequestBody", "SizeLimit",
                                    f"Request's body is {len(body)} bytes long and it exceeds "
                                    f"the limit of {max_size} bytes."))
        known = OPTIONS_401 if used >= V401 else OPTIONS_40
        query = ctx.Request.Url.Query
        seen: set[str] = set()
        for raw_name in query.names():
            if not raw_name.startswith("$"):
                continue
            name = raw_name.lower() if used >= V401 else raw_name
            values = query.values_of(raw_name) or []
            if name not in known:
                findings.append(finding(raw_name, "QueryParameter", "Unspecified",
                                        f"The query option {raw_name} is not an OData {used} "
                                        "system query option."))
                continue
            if name in seen or len(values) > 1:
                findings.append(finding(raw_name, "QueryParameter", "IncorrectMessage",
                                        f"The query option {name} is given more than once."))
            seen.add(name)
            problem = _option_problem(name, values[0] if values else "")
            if problem:
                findings.append(finding(raw_name, "QueryParameter", "IncorrectMessage", problem))
        return finish(ctx, findings, variable, source="validate-odata-request",
                      section="inbound")
    if max_size is not None:
        c.needs_request_body = True
    return c.step(el, path, run, variable=variable, default_version=str(default))
