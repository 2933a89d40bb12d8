"""The OpenAPI 3.1 document of the API, built from the route table and the pydantic models."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from oms_chain import __version__
from oms_chain.service.api.models import ErrorOut

if TYPE_CHECKING:
    from oms_chain.service.api._http import Route


def _fills_query() -> type[BaseModel]:
    from oms_chain.service.api._http import FillsQuery

    return FillsQuery


__all__ = ["openapi_document"]

_REF = "#/components/schemas/{model}"
_ERRORS = {
    "401": "No token, or an unknown or revoked one",
    "403": "The token is read-only",
    "422": "The request does not match its schema, or the session refused its values",
    "429": "Rate limit of the token exceeded (see Retry-After)",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": _REF.format(model=model.__name__)}


def openapi_document(routes: Sequence[Route]) -> dict[str, Any]:
    """OpenAPI 3.1 for ``routes``: schemas from the models (inputs in validation mode,
    outputs in serialization mode), bearer authentication on every ``/api`` route."""
    inputs = {r.body for r in routes if r.body is not None}
    outputs = {r.response for r in routes if r.response is not None} | {ErrorOut}
    _, schema = models_json_schema(
        [(m, "validation") for m in sorted(inputs, key=lambda m: m.__name__)]
        + [(m, "serialization") for m in sorted(outputs, key=lambda m: m.__name__)],
        ref_template=_REF,
    )
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        op: dict[str, Any] = {
            "operationId": r.handler.__name__,
            "summary": r.summary,
            "security": [{"bearer": []}],
        }
        if r.handler.__doc__:
            op["description"] = " ".join(r.handler.__doc__.split())
        params: list[dict[str, Any]] = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in r.path_params
        ]
        if r.query is not None:
            qs = r.query.model_json_schema()
            for name, prop in qs.get("properties", {}).items():
                params.append(
                    {
                        "name": name,
                        "in": "query",
                        "required": name in qs.get("required", []),
                        "schema": prop,
                    }
                )
        if params:
            op["parameters"] = params
        if r.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": _ref(r.body)}},
            }
        ok: dict[str, Any] = {"description": r.summary}
        if r.response is not None:
            schema_ref: dict[str, Any] = _ref(r.response)
            if r.many:
                schema_ref = {"type": "array", "items": schema_ref}
            ok["content"] = {"application/json": {"schema": schema_ref}}
        elif not r.websocket:
            ok["content"] = {"application/json": {"schema": {"type": "object"}}}
        responses: dict[str, Any] = {str(r.status): ok}
        errors = dict(_ERRORS)
        if r.path_params or r.query is _fills_query():
            errors["404"] = "No such " + ("structure" if "structure" in r.path else "order")
        if r.not_configured:
            errors["404"] = " / ".join(x for x in (errors.get("404"), r.not_configured) if x)
        if r.scope is not None and r.scope.value == "trade":
            errors["409"] = (
                "Refused: the engine is not ready, the order is already terminal, or the "
                "intent id was already submitted with different content (kind intent_conflict)"
            )
        for code, text in sorted(errors.items()):
            if code == "403" and r.scope is not None and r.scope.value == "read":
                continue
            responses[code] = {
                "description": text,
                "content": {"application/json": {"schema": _ref(ErrorOut)}},
            }
        if r.websocket:
            op["description"] = (
                "Upgrade to a websocket. Authenticate with the Authorization header or send "
                '{"token": "..."} as the first message. Messages: {"type": "ready", "after": n}, '
                'then {"type": "event", "event": EventOut} in position order; reconnect with '
                "after=<last position received> to resume without gaps or repeats."
            )
        op["responses"] = responses
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "oms-chain API",
            "version": __version__,
            "description": "Orders, fills, positions, balances, settlement and audit events of "
            "one trading session; submit and cancel with a trade token.",
        },
        "paths": paths,
        "components": {
            "schemas": schema.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
