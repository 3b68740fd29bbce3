"""``POST /auth/token`` as OAuth2 clients expect it (RFC 6749 §4.3, §5.1, §5.2), issue 9.

The password grant is a form, and the OpenAPI document declares only the form: a generated
client sends exactly that. A JSON body is still read, silently, for clients written before.

An error is HTTP 400 with ``error`` (``invalid_request``, ``invalid_grant``,
``unsupported_grant_type``) and ``error_description``, so OAuth2 libraries raise on it; our own
``detail`` and ``errors`` stay beside them. The lockout stays 429 with ``Retry-After``. Every
answer, success or error, carries ``Cache-Control: no-store`` (§5.1): tokens are never cached.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from helixnet.api.errors import MalformedRequest, helixnet_error
from helixnet.api.routing import Handler, json_body
from helixnet.api.schemas import TokenForm
from helixnet.core.validation import from_pydantic
from helixnet.errors import AuthenticationFailed, HelixNetError, ValidationFailed

#: The one request body the document declares for the token endpoint.
TOKEN_FORM = {"application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/TokenForm"}}}
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class OAuthError(HelixNetError):
    """A token request refused with one of RFC 6749 §5.2's error codes."""

    def __init__(self, error: str, detail: str, *, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(detail, errors=errors)
        self.error = error


class _AnyFields(BaseModel):
    """A JSON object with any fields: read first, so the grant type is judged before its fields."""

    model_config = ConfigDict(extra="allow")


async def read_token_form(request: Request) -> TokenForm:
    """The grant's fields: a form (the standard), or JSON (clients from before issue 9).

    Another grant type is named as such (unsupported_grant_type) before the password grant's own
    fields are checked: a client_credentials request has no username to complain about.
    """
    data: dict[str, Any]
    if request.headers.get("content-type", "").startswith("application/json"):
        data = (await json_body(request, _AnyFields)).model_dump()
    else:
        try:
            raw = await request.form(max_files=0, max_fields=20)
            data = {key: value for key, value in raw.items() if isinstance(value, str)}
        except Exception as exc:  # python-multipart's parse errors, a file where a field was expected
            raise MalformedRequest(f"not a form: {exc}") from exc
    grant = data.get("grant_type", "password")
    if grant != "password":
        raise OAuthError("unsupported_grant_type", f"grant_type {str(grant)[:100]!r} is not supported; use password",
                         errors=[{"loc": ["body", "grant_type"], "msg": "only password is supported"}])  # fmt: skip
    try:
        return TokenForm.model_validate(data)
    except ValidationError as exc:
        raise from_pydantic(exc, "invalid token request", prefix=["body"]) from exc


def oauth_error(error: str, detail: str, errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    body = {"error": error, "error_description": detail, "detail": detail,
            "errors": [{"loc": list(e.get("loc", [])), "msg": str(e.get("msg", ""))} for e in errors or []]}  # fmt: skip
    return JSONResponse(body, status_code=400)


def token_endpoint(handler: Handler) -> Handler:
    """Answer the handler's failures the OAuth2 way, and mark every answer ``no-store``."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        response: Response
        try:
            response = await handler(request)
        except OAuthError as exc:
            response = oauth_error(exc.error, exc.detail, exc.errors)
        except AuthenticationFailed as exc:  # wrong password, unknown or deactivated account
            response = oauth_error("invalid_grant", exc.detail)
        except (MalformedRequest, ValidationFailed) as exc:  # a missing field, a body that is not a form
            response = oauth_error("invalid_request", exc.detail, exc.errors)
        except HelixNetError as exc:  # the lockout (429, Retry-After), a body too large, a backend down
            response = await helixnet_error(request, exc)
        response.headers.update(NO_STORE)
        return response

    return endpoint


__all__ = ["TOKEN_FORM", "OAuthError", "read_token_form", "token_endpoint"]
