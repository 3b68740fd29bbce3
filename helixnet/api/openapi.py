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
#: What each error status means when the operation does not say more.
_ERRORS = {400: "malformed request (not JSON, not a form)", 401: "not authenticated", 403: "admins only",
           404: "not found", 413: "body too large", 422: "invalid input: each bad field is named"}  # fmt: skip
#: Request bodies that can be unreadable (400); raw bytes are always readable.
_PARSED_MEDIA = ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
BINARY = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}


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
        for candidate in (op.body, _inner_model(op.response), *op.error_models.values()):
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
        media: dict[str, Any] = {"schema": _schema_of(op.body, ref_of, "validation")}
        examples = op.body.model_json_schema().get("examples")
        if examples:  # Swagger UI pre-fills the media type's example (issue 9: it must be accepted)
            media["example"] = examples[0]
        spec["requestBody"] = {"required": True, "content": {"application/json": media}}
    elif op.body_content is not None:
        spec["requestBody"] = {"required": True, "content": op.body_content}
    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": "OK" if op.status < 300 else "done"}
    if op.response is bytes:
        success["content"] = BINARY
    elif op.response is not None:
        success["content"] = {"application/json": {"schema": _schema_of(op.response, ref_of, "serialization")}}
    if op.response_headers:
        success["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                              for name, text in op.response_headers.items()}  # fmt: skip
    responses[str(op.status)] = success
    for code, text in error_statuses(api_route).items():
        if str(code) in responses:
            continue
        if code < 400:
            responses[str(code)] = {"description": text}
            continue
        schema = _schema_of(op.error_models.get(code, ErrorBody), ref_of, "serialization")
        responses[str(code)] = {"description": text, "content": {"application/json": {"schema": schema}}}
    spec["responses"] = responses
    if op.auth:
        spec["security"] = [{"bearer": []}]
    return spec


def error_statuses(api_route: ApiRoute) -> dict[int, str]:
    """The statuses this operation can really answer, derived from what it declares (issue 9).

    A bearer token -> 401; admins only -> 403; an id in the path -> 404; a JSON body -> 400, 413
    and 422; another body -> 413, and 400 when it is parsed; query or header parameters -> 422.
    The rest (409, 429, 503, a 403 or 404 of its own) the operation lists in ``extra_responses``,
    so a generated client's return type names only what can come back.
    """
    op = api_route.operation
    codes: set[int] = set()
    if op.auth:
        codes.add(401)
    if op.admin:
        codes.add(403)
    if api_route.param_convertors:
        codes.add(404)
    if op.body is not None:
        codes |= {400, 413, 422}
    elif op.body_content is not None:
        codes.add(413)
        if any(media.startswith(_PARSED_MEDIA) for media in op.body_content):
            codes.add(400)
    if op.params:
        codes.add(422)
    described = {code: _ERRORS[code] for code in sorted(codes)}
    return dict(sorted({**described, **op.extra_responses}.items()))


__all__ = ["BINARY", "build_openapi", "error_statuses"]
