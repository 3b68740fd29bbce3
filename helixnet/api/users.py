"""Sign-in, the caller's own account, and the admins' user management."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from helixnet.api.oauth import TOKEN_FORM, read_token_form, token_endpoint
from helixnet.api.routing import (
    Operation,
    Param,
    call,
    client_address,
    hx_of,
    json_body,
    list_response,
    model_response,
    path_id,
    query_int,
    route,
    url_to,
    user_of,
)
from helixnet.api.schemas import PasswordChange, Token, TokenError, UserAdminUpdate
from helixnet.core.schemas import UserCreate, UserRead, UserUpdate
from helixnet.errors import AuthenticationFailed, Conflict, ValidationFailed


@route("POST", "/auth/token", Operation(
    "Get a bearer token (OAuth2 password grant: username is the email)", "auth", response=Token,
    body_content=TOKEN_FORM, auth=False, error_models={400: TokenError},
    extra_responses={400: "OAuth2 error: invalid_request, invalid_grant (wrong credentials) or unsupported_grant_type",
                     429: "too many failures: wait Retry-After seconds"},
))  # fmt: skip
@token_endpoint
async def issue_token(request: Request) -> Response:
    form = await read_token_form(request)
    hx = hx_of(request)
    user = await call(hx.users.authenticate, form.username, form.password, source=client_address(request))
    return model_response(await _token_for(request, user))


async def _token_for(request: Request, user: UserRead) -> Token:
    hx = hx_of(request)
    token = await call(hx.users.issue_token, user)
    return Token(access_token=token, expires_in=hx.users.token_max_age_seconds)


@route("GET", "/users/me", Operation("The caller's account", "users", response=UserRead))
async def read_me(request: Request) -> Response:
    return model_response(user_of(request))


@route("PUT", "/users/me", Operation(
    "Change the caller's profile (fullname, phone_number, web_url); nothing else changes this way",
    "users", response=UserRead, body=UserUpdate,
))  # fmt: skip
async def update_me(request: Request) -> Response:
    changes = await json_body(request, UserUpdate)
    user = await call(hx_of(request).users.update, user_of(request), changes)
    return model_response(user)


@route("POST", "/users/me/password", Operation(
    "Change the caller's password; every token issued before stops working, a new one is returned",
    "users", response=Token, body=PasswordChange,
))  # fmt: skip
async def change_password(request: Request) -> Response:
    body = await json_body(request, PasswordChange)
    hx, user = hx_of(request), user_of(request)
    try:
        await call(hx.users.set_password, user, body.new_password, current_password=body.current_password,
                   source=client_address(request))  # fmt: skip
    except AuthenticationFailed:  # the token is fine: a 401 would tell the client to sign in again
        raise ValidationFailed.field(["body", "current_password"], "incorrect password") from None
    return model_response(await _token_for(request, user))


@route("GET", "/users", Operation("All users (admins only)", "admin", response=list[UserRead], admin=True, params=(
    Param("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100}),
    Param("offset", {"type": "integer", "minimum": 0, "default": 0}),
)))  # fmt: skip
async def list_users(request: Request) -> Response:
    limit = query_int(request, "limit", 100, 1, 1000)
    offset = query_int(request, "offset", 0, 0, 10**9)
    return list_response(await call(hx_of(request).users.list, limit=limit, offset=offset))


@route("POST", "/users", Operation(
    "Create a user (admins only)", "admin", response=UserRead, status=201, body=UserCreate, admin=True,
    extra_responses={409: "email already registered"},
))  # fmt: skip
async def create_user(request: Request) -> Response:
    body = await json_body(request, UserCreate)
    user = await call(hx_of(request).users.create, body.email, body.password, body.fullname, body.is_admin)
    return model_response(user, 201, {"Location": url_to(request, f"/users/{user.id}")})


@route("GET", "/users/{user_id:uuid}", Operation("One user (admins only)", "admin", response=UserRead, admin=True))
async def read_user(request: Request) -> Response:
    return model_response(await call(hx_of(request).users.get, path_id(request, "user_id")))


@route("PATCH", "/users/{user_id:uuid}", Operation(
    "Deactivate or reactivate, make or unmake admin, reset the password (admins only)", "admin",
    response=UserRead, body=UserAdminUpdate, admin=True, extra_responses={409: "an admin cannot lock themselves out"},
))  # fmt: skip
async def patch_user(request: Request) -> Response:
    body = await json_body(request, UserAdminUpdate)
    hx, me, user_id = hx_of(request), user_of(request), path_id(request, "user_id")
    if user_id == me.id and (body.is_active is False or body.is_admin is False):
        raise Conflict("an admin cannot deactivate or demote themselves; ask another admin")
    target = await call(hx.users.get, user_id)
    if body.password is not None:
        await call(hx.users.set_password, target, body.password)
    if body.fullname is not None:
        await call(hx.users.update, target, {"fullname": body.fullname})
    user = await call(hx.users.set_flags, target, is_active=body.is_active, is_admin=body.is_admin)
    return model_response(user)


ROUTES = [issue_token, read_me, update_me, change_password, list_users, create_user, read_user, patch_user]

__all__ = ["ROUTES"]
