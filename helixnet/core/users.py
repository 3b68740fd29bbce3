"""Users: accounts, passwords and tokens."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError
from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from helixnet.core.db import Database
from helixnet.core.models import User
from helixnet.core.schemas import UserRead, UserUpdate, normalize_email
from helixnet.core.security import TokenSigner, check_password_shape, hash_password, verify_password
from helixnet.core.throttle import LoginThrottle
from helixnet.core.validation import from_pydantic, refuse_nul
from helixnet.errors import AuthenticationFailed, Conflict, NotFound, ValidationFailed

UserRef = UserRead | User | str

_USER_BY_ID = select(
    *(User.__table__.c[name] for name in (*UserRead.model_fields, "token_version"))
).where(User.__table__.c.id == bindparam("p_id"))


def user_id_of(user: UserRef) -> str:
    return user if isinstance(user, str) else user.id


class UserService:
    def __init__(
        self,
        db: Database,
        signer: TokenSigner,
        *,
        bcrypt_rounds: int = 12,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self._db = db
        self._signer = signer
        self._rounds = bcrypt_rounds
        self.throttle = throttle or LoginThrottle(db, max_failures=5, lockout_seconds=60.0)
        # Checked against on unknown emails too, so timing does not tell which accounts exist.
        self._dummy_hash = hash_password("dummy-password-for-timing", rounds=bcrypt_rounds)

    def create(
        self, email: str, password: str, fullname: str | None = None, is_admin: bool = False
    ) -> UserRead:
        normalized = _email(email)
        refuse_nul(fullname, ["fullname"])
        password_hash = hash_password(password, rounds=self._rounds)
        try:
            with self._db.write() as session:
                user = User(email=normalized, password_hash=password_hash, fullname=fullname, is_admin=is_admin)
                session.add(user)
                session.flush()
                return UserRead.model_validate(user)
        except IntegrityError as exc:
            raise Conflict(
                f"a user with email {normalized} already exists",
                errors=[{"loc": ["email"], "msg": "already registered"}],
            ) from exc

    def get(self, user_id: str) -> UserRead:
        with self._db.read() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound(f"user {user_id} not found")
            return UserRead.model_validate(user)

    def get_by_email(self, email: str) -> UserRead | None:
        try:
            normalized = normalize_email(email)
        except ValueError:
            return None
        with self._db.read() as session:
            user = session.scalar(select(User).where(User.email == normalized))
            return UserRead.model_validate(user) if user else None

    def list(self, *, limit: int = 100, offset: int = 0) -> list[UserRead]:
        with self._db.read() as session:
            rows = session.scalars(select(User).order_by(User.created_at, User.id).limit(limit).offset(offset))
            return [UserRead.model_validate(row) for row in rows]

    def count(self) -> int:
        from sqlalchemy import func

        with self._db.read() as session:
            return int(session.scalar(select(func.count()).select_from(User)) or 0)

    def authenticate(self, email: str, password: str, *, source: str | None = None) -> UserRead:
        """The user for these credentials, or AuthenticationFailed (same message either way).

        Each attempt is counted before the password is checked, per account and ``source`` (the
        client's address) and per account (see ``throttle``); past the limit RateLimited is raised,
        known account or not, so the answer tells nothing about which accounts exist. A password
        no account can have is a ValidationFailed and counts for nothing.
        """
        check_password_shape(password)
        try:
            normalized = normalize_email(email)
        except ValueError:
            normalized = None
        account = normalized or str(email)[:320]
        attempt = self.throttle.attempt(account, source)
        with self._db.read() as session:
            user = session.scalar(select(User).where(User.email == normalized)) if normalized else None
            if user is None or not user.is_active:
                verify_password(password, self._dummy_hash)
                ok = False
            else:
                ok = verify_password(password, user.password_hash)
            if not ok:
                raise AuthenticationFailed("incorrect email or password")
            attempt.succeeded()
            return UserRead.model_validate(user)

    def ensure_admin(self, email: str | None, password: str | None) -> tuple[UserRead, str | None] | None:
        """Create the first admin when there are no users; returns it and the password if generated.

        None when users already exist. The generated password is returned, never logged: the
        caller shows it once.
        """
        if self.count():
            return None
        import secrets

        generated = None if password else secrets.token_urlsafe(15)
        try:
            user = self.create(email or "admin@example.org", password or generated or "", is_admin=True)
        except Conflict:  # another process created it first
            return None
        return user, generated

    def update(self, user: UserRef, changes: UserUpdate | dict[str, object]) -> UserRead:
        """Profile fields only (UserUpdate); email, admin flag and password never change this way."""
        try:
            update = changes if isinstance(changes, UserUpdate) else UserUpdate.model_validate(changes)
        except ValidationError as exc:
            raise from_pydantic(exc, "invalid profile") from exc
        with self._db.write() as session:
            row = self._row(session, user_id_of(user))
            for name, value in update.model_dump(exclude_unset=True).items():
                setattr(row, name, value)
            session.flush()
            return UserRead.model_validate(row)

    def set_password(
        self, user: UserRef, new_password: str, *, current_password: str | None = None, source: str | None = None
    ) -> None:
        """Change the password and revoke every token issued before.

        With ``current_password`` (a user changing their own), a wrong one is a guess like a failed
        sign-in and is throttled the same way, per account and ``source``.
        """
        password_hash = hash_password(new_password, rounds=self._rounds)
        checked_hash: str | None = None
        if current_password is not None:
            check_password_shape(current_password, "current_password")
            with self._db.read() as session:
                row = self._row(session, user_id_of(user))
                email, checked_hash = row.email, row.password_hash
            # bcrypt runs outside the write transaction: SQLite has one writer at a time.
            attempt = self.throttle.attempt(email, source)
            if not verify_password(current_password, checked_hash):
                raise AuthenticationFailed(
                    "current password is incorrect",
                    errors=[{"loc": ["current_password"], "msg": "incorrect"}],
                )
            attempt.succeeded()
        with self._db.write() as session:
            row = self._row(session, user_id_of(user))
            if checked_hash is not None and row.password_hash != checked_hash:
                raise Conflict("the password changed meanwhile; try again")
            row.password_hash = password_hash
            row.token_version += 1

    def set_flags(self, user: UserRef, *, is_active: bool | None = None, is_admin: bool | None = None) -> UserRead:
        """Admin actions; deactivating also revokes the user's tokens."""
        with self._db.write() as session:
            row = self._row(session, user_id_of(user))
            if is_admin is not None:
                row.is_admin = is_admin
            if is_active is not None and is_active != row.is_active:
                row.is_active = is_active
                row.token_version += 1
            session.flush()
            return UserRead.model_validate(row)

    def revoke_tokens(self, user: UserRef) -> None:
        with self._db.write() as session:
            self._row(session, user_id_of(user)).token_version += 1

    def issue_token(self, user: UserRef) -> str:
        with self._db.read() as session:
            row = self._row(session, user_id_of(user))
            return self._signer.issue(row.id, row.token_version)

    def authenticate_token(self, token: str) -> UserRead:
        """The active user a token belongs to; expired, forged or revoked -> AuthenticationFailed."""
        claims = self._signer.verify(token)
        # Every API request comes through here: a prebuilt Core query, not an ORM load (which
        # cost half of an authenticated request's time, measured).
        with self._db.engine.connect() as conn:
            row = conn.execute(_USER_BY_ID, {"p_id": claims.user_id}).mappings().first()
        if row is None or not row["is_active"] or row["token_version"] != claims.token_version:
            raise AuthenticationFailed("token revoked")
        return UserRead.model_validate(dict(row))

    @property
    def token_max_age_seconds(self) -> int:
        return self._signer.max_age_seconds

    @staticmethod
    def _row(session: object, user_id: str) -> User:
        row = session.get(User, user_id)  # type: ignore[attr-defined]
        if row is None:
            raise NotFound(f"user {user_id} not found")
        return row


def _email(email: str) -> str:
    try:
        return normalize_email(email)
    except ValueError as exc:
        raise ValidationFailed.field(["email"], str(exc)) from exc


__all__: Sequence[str] = ["UserService", "user_id_of"]
