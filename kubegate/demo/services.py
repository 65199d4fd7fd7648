"""Two small sample REST services, in the style of ASP.NET Core apps with Swashbuckle.

Each serves its own Swagger document at `/swagger/v1/swagger.json` with no host
and no servers, exactly the output that had to be hand-edited before import.
"Orders" describes itself in OpenAPI 3.0.1 (Swashbuckle 5+), "Inventory" in
Swagger 2.0 (Swashbuckle 4). State lives in memory, guarded by a lock.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Handler = Callable[[dict[str, str], Any], tuple[int, Any]]


class Service:
    def __init__(self, title: str, swagger_version: str) -> None:
        self.title = title
        self.swagger_version = swagger_version
        self.routes: list[tuple[str, str, re.Pattern[str], str, Handler]] = []
        self.lock = threading.Lock()

    def route(self, method: str, template: str, op_id: str) -> Callable[[Handler], Handler]:
        pattern = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template) + "$")

        def register(fn: Handler) -> Handler:
            self.routes.append((method, template, pattern, op_id, fn))
            return fn

        return register

    def swagger(self) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for method, template, _, op_id, _fn in self.routes:
            params = [
                {"name": p, "in": "path", "required": True,
                 **({"schema": {"type": "string"}} if self.swagger_version != "2.0" else {"type": "string"})}
                for p in re.findall(r"\{(\w+)\}", template)
            ]
            op: dict[str, Any] = {"tags": [self.title], "operationId": op_id,
                                  "summary": op_id.replace("_", " "),
                                  "responses": {"200": {"description": "Success"}}}
            if params:
                op["parameters"] = params
            paths.setdefault(template, {})[method.lower()] = op
        info = {"title": self.title, "version": "v1"}
        if self.swagger_version == "2.0":
            return {"swagger": "2.0", "info": info, "paths": paths}
        return {"openapi": "3.0.1", "info": info, "paths": paths}

    def handle(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        if method == "GET" and path == "/swagger/v1/swagger.json":
            return 200, self.swagger()
        if method == "GET" and path == "/healthz":
            return 200, {"status": "ok"}
        for m, _t, pattern, _id, fn in self.routes:
            match = pattern.match(path)
            if match and m == method:
                with self.lock:
                    return fn(match.groupdict(), body)
        return 404, {"error": f"no route for {method} {path}"}

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
        service = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _run(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    status, result = 400, {"error": "body is not JSON"}
                else:
                    status, result = service.handle(self.command, self.path.split("?")[0], body)
                data = json.dumps(result).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _run

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer((host, port), RequestHandler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name=self.title, daemon=True).start()
        return server


def orders_service() -> Service:
    svc = Service("Orders", "3.0.1")
    orders: dict[str, dict[str, Any]] = {
        "1": {"id": "1", "item": "keyboard", "quantity": 1, "status": "shipped"},
        "2": {"id": "2", "item": "monitor", "quantity": 2, "status": "pending"},
    }

    @svc.route("GET", "/api/orders", "Orders_List")
    def list_orders(_: dict[str, str], __: Any) -> tuple[int, Any]:
        return 200, list(orders.values())

    @svc.route("GET", "/api/orders/{id}", "Orders_Get")
    def get_order(p: dict[str, str], _: Any) -> tuple[int, Any]:
        return (200, orders[p["id"]]) if p["id"] in orders else (404, {"error": "no such order"})

    @svc.route("POST", "/api/orders", "Orders_Create")
    def create_order(_: dict[str, str], body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or "item" not in body:
            return 400, {"error": "expected {\"item\": ..., \"quantity\": ...}"}
        oid = str(len(orders) + 1)
        orders[oid] = {"id": oid, "item": body["item"], "quantity": body.get("quantity", 1),
                       "status": "pending"}
        return 201, orders[oid]

    return svc


def inventory_service() -> Service:
    svc = Service("Inventory", "2.0")
    stock = {"keyboard": 12, "monitor": 3, "mouse": 40}

    @svc.route("GET", "/api/items", "Items_List")
    def list_items(_: dict[str, str], __: Any) -> tuple[int, Any]:
        return 200, [{"sku": k, "stock": v} for k, v in stock.items()]

    @svc.route("GET", "/api/items/{sku}", "Items_Get")
    def get_item(p: dict[str, str], _: Any) -> tuple[int, Any]:
        sku = p["sku"]
        return (200, {"sku": sku, "stock": stock[sku]}) if sku in stock else (404, {"error": "no such item"})

    @svc.route("PUT", "/api/items/{sku}/stock", "Items_SetStock")
    def set_stock(p: dict[str, str], body: Any) -> tuple[int, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("stock"), int):
            return 400, {"error": "expected {\"stock\": <int>}"}
        stock[p["sku"]] = body["stock"]
        return 200, {"sku": p["sku"], "stock": body["stock"]}

    return svc
