"""The OpenAPI 3.1 document, built from the routes' Operations and the pydantic models they name."""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from helixnet.api.routing import ApiRoute, Operation
from helixnet.api.schemas import ErrorBody, TokenForm

REF = "#/components/schemas/{model}"
_PATH_PARAM = re.compile(r"{([^}:]+)(?::[^}]+)?}")
_ERRORS = {400: "malformed request", 401: "not authenticated", 403: "not allowed", 404: "not found",
           409: "conflict", 413: "too large", 422: "invalid input", 429: "too many attempts",
           503: "a backend (database, queue, storage) is unavailable"}  # fmt: skip


def build_openapi(routes: Iterable[ApiRoute], *, prefix: str, title: str, version: str) -> dict[str, Any]:
    routes = list(routes)
    models = _models(routes)
    modes: tuple[JsonSchemaMode, ...] = ("validation", "serialization")
    keyed = [(model, mode) for model in models for mode in modes]
    names, defs = models_json_schema(keyed, ref_template=REF)
    ref_of = {key: schema for key, schema in names.items()}
    paths: dict[str, dict[str, Any]] = {}
    for api_route in routes:
        path = prefix + _PATH_PARAM.sub(r"{\1}", api_route.path)
        paths.setdefault(path, {})[api_route.method.lower()] = _operation(api_route, ref_of)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version,
                 "description": "HelixNet REST API. Sign in with POST /auth/token, then send "
                                "`Authorization: Bearer <token>`."},  # fmt: skip
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "oauth2", "flows": {"password": {
                "tokenUrl": f"{prefix}/auth/token", "scopes": {}}}}},
        },  # fmt: skip
    }


def _models(routes: list[ApiRoute]) -> list[type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {"ErrorBody": ErrorBody, "TokenForm": TokenForm}
    for api_route in routes:
        op = api_route.operation
        for candidate in (op.body, _inner_model(op.response)):
            if candidate is not None:
                found[candidate.__name__] = candidate
    return list(found.values())


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = typing.get_args(annotation)
    return _inner_model(args[0]) if args else None


def _schema_of(annotation: Any, ref_of: dict[Any, Any], mode: str) -> dict[str, Any]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return dict(ref_of[(annotation, mode)])
    if typing.get_origin(annotation) is list:
        return {"type": "array", "items": _schema_of(typing.get_args(annotation)[0], ref_of, mode)}
    return TypeAdapter(annotation).json_schema(ref_template=REF)


def _path_schema(convertor: Any) -> dict[str, Any]:
    from starlette.convertors import UUIDConvertor

    if isinstance(convertor, UUIDConvertor):
        return {"type": "string", "format": "uuid"}
    return {"type": "string", "minLength": 1}


def _operation(api_route: ApiRoute, ref_of: dict[Any, Any]) -> dict[str, Any]:
    op: Operation = api_route.operation
    spec: dict[str, Any] = {"summary": op.summary, "operationId": api_route.name, "tags": [op.tag]}
    if op.description:
        spec["description"] = op.description
    params = [{"name": name, "in": "path", "required": True, "schema": _path_schema(convertor)}
              for name, convertor in api_route.param_convertors.items()]  # fmt: skip
    for param in op.params:
        item: dict[str, Any] = {"name": param.name, "in": param.location, "required": param.required,
                                "schema": param.schema}  # fmt: skip
        if param.description:
            item["description"] = param.description
        params.append(item)
    if params:
        spec["parameters"] = params
    if op.body is not None:
        spec["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": _schema_of(op.body, ref_of, "validation")}}}  # fmt: skip
    elif op.body_content is not None:
        spec["requestBody"] = {"required": True, "content": op.body_content}
    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": "OK" if op.status < 300 else "done"}
    if op.response is not None:
        success["content"] = {"application/json": {"schema": _schema_of(op.response, ref_of, "serialization")}}
    if op.response_headers:
        success["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                              for name, text in op.response_headers.items()}  # fmt: skip
    responses[str(op.status)] = success
    error = {"content": {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}}}
    codes = dict(_ERRORS)
    if not op.auth:
        codes.pop(401)
    for code, text in {**codes, **op.extra_responses}.items():
        if str(code) in responses:
            continue
        if code < 400:
            responses[str(code)] = {"description": text}
        elif code == 200:
            continue
        else:
            responses[str(code)] = {"description": text, **error}
    spec["responses"] = responses
    if op.auth:
        spec["security"] = [{"bearer": []}]
    return spec


__all__ = ["build_openapi"]
