"""ip-filter: ``action`` (``allow`` | ``forbid``), ``<address>`` and
``<address-range from to>`` children (IPv4 and IPv6; IPv4-mapped IPv6 client
addresses are compared as IPv4). A denied caller gets 403 (Reason
``CallerIpNotAllowed``) through on-error."""

from __future__ import annotations

import ipaddress
from typing import Any

from kubegate.model.policy import TEXT_KEY, PolicyElement

from ..compiler import Compiler
from ..errors import PolicyFailure
from ..registry import register
from ..runtime import Step, trace

Addr = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(text: str) -> Addr | None:
    try:
        ip = ipaddress.ip_address(text.strip().strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


@register("ip-filter", sections={"inbound"}, summary="allow or forbid caller IP addresses")
def compile_ip_filter(el: PolicyElement, c: Compiler, path: str) -> Step:
    c.check_attrs(el, ("action",), required=("action",))
    c.check_children(el, ("address", "address-range"))
    action = c.const_choice(el, "action", ("allow", "forbid"), "allow")
    ranges: list[tuple[int, Addr, Addr]] = []
    for child in el.children:
        if child.name == "address":
            c.check_attrs(child, ())
            ip = parse_ip(str(c.text(child).value or ""))
            if ip is None:
                c.problem(child, f"not an IP address: {child.text!r}", TEXT_KEY)
                continue
            ranges.append((ip.version, ip, ip))
        else:
            c.check_attrs(child, ("from", "to"), required=("from", "to"))
            lo = parse_ip(c.const(child, "from", "") or "")
            hi = parse_ip(c.const(child, "to", "") or "")
            if lo is None or hi is None or lo.version != hi.version or lo > hi:  # type: ignore[operator]
                c.problem(child, "needs 'from' and 'to' IP addresses of the same family, "
                                 "from <= to")
                continue
            ranges.append((lo.version, lo, hi))
    allow = action == "allow"

    def run(ctx: Any) -> None:
        ip = parse_ip(ctx.Request.IpAddress or "")
        listed = ip is not None and any(
            v == ip.version and lo <= ip <= hi for v, lo, hi in ranges)  # type: ignore[operator]
        if listed != allow:
            trace(ctx, f"ip-filter: {ctx.Request.IpAddress} denied")
            raise PolicyFailure(403, "CallerIpNotAllowed",
                                f"Caller IP address {ctx.Request.IpAddress} is not allowed. "
                                "Access denied.", source="ip-filter")
        if ctx.Tracing:
            trace(ctx, f"ip-filter: {ctx.Request.IpAddress} allowed")
    return c.step(el, path, run, action=action, entries=len(ranges))
