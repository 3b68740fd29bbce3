"""Bodies that exist only at the HTTP boundary; the core's schemas (JobRead, UserRead...) are reused."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from helixnet.core.schemas import ArtifactRead
from helixnet.storage.checksums import SHA256_HEX_PATTERN


class ErrorItem(BaseModel):
    loc: list[str | int]
    msg: str


class ErrorBody(BaseModel):
    """Every error: a sentence for people, and one item per field for programs."""

    detail: str
    errors: list[ErrorItem] = Field(default_factory=list)


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the token expires")


class TokenForm(BaseModel):
    """OAuth2 password grant: ``username`` is the email."""

    model_config = ConfigDict(extra="ignore")  # OAuth2 clients also send scope, client_id...

    username: str = Field(min_length=1, max_length=320)
    password: str = Field(min_length=1, max_length=1024)
    # Any string is read, so another grant is answered unsupported_grant_type (RFC 6749 §5.2)
    # rather than a generic validation error; the document shows the one grant there is.
    grant_type: str = Field(default="password", max_length=100, json_schema_extra={"enum": ["password"]})


class TokenError(ErrorBody):
    """A refused token request: RFC 6749 §5.2's fields for OAuth2 clients, ours beside them."""

    error: Literal["invalid_request", "invalid_grant", "unsupported_grant_type"]
    error_description: str


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"current_password": "correct horse battery", "new_password": "a longer passphrase still"}]})  # fmt: skip

    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class UserAdminUpdate(BaseModel):
    """What an admin may change about an account."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"is_active": True}]})

    is_active: bool | None = None
    is_admin: bool | None = None
    password: str | None = Field(default=None, min_length=1, max_length=1024, description="reset the password")
    fullname: str | None = Field(default=None, max_length=200)


class PluginInfo(BaseModel):
    name: str
    title: str
    description: str
    params_schema: dict[str, Any]
    inputs: list[dict[str, Any]]
    accepts_any_inputs: bool = Field(default=False, description="inputs under other names are accepted too")
    package: str | None = None
    version: str | None = None


class UploadRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"filename": "book.txt", "content_type": "text/plain", "size": 11}]})  # fmt: skip

    filename: str = Field(min_length=1, max_length=1000)
    content_type: str | None = Field(default=None, max_length=255, pattern=r"^[\w.+-]+/[\w.+-]+(;.*)?$")
    size: int = Field(ge=0, description="exact size in bytes of what will be uploaded")
    sha256: str | None = Field(
        default=None, pattern=SHA256_HEX_PATTERN,
        description="SHA-256 of the bytes (64 lowercase hex), if known: storage refuses other bytes, and on S3 "
                    "completion reads nothing back. Without it, an S3 artifact's sha256 is null until computed.",
    )  # fmt: skip


class UploadTicket(BaseModel):
    artifact: ArtifactRead
    upload_url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str] = Field(description="send exactly these with the PUT: they are signed "
                                    "(with a declared sha256 on S3, x-amz-checksum-sha256 among them)")
    expires_at: datetime


class DownloadTicket(BaseModel):
    url: str
    expires_at: datetime


class StoredObject(BaseModel):
    size: int
    sha256: str


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    version: str
    database: str
    queue: str
    workers: int


__all__ = [
    "DownloadTicket", "ErrorBody", "ErrorItem", "Health", "PasswordChange", "PluginInfo", "StoredObject",
    "Token", "TokenError", "TokenForm", "UploadRequest", "UploadTicket", "UserAdminUpdate",
]  # fmt: skip
