"""Identity services: accounts, password sign-in, server-side sessions and API tokens."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from marketplace.errors import AuthenticationRequired, Conflict, NotFound, ValidationFailed
from tenants import audit
from tenants.passwords import (
    DUMMY_HASH,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    verify_password,
)
from tenants.principal import SCOPES, Principal, TenantRole
from tenants.tables import MEMBER_ROLES, ApiToken, Membership, Session, Tenant, User

TOKEN_PREFIX = "lmb_"
USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,62}[a-z0-9]$")


def now() -> datetime:
    return datetime.now(timezone.utc)


def digest_secret(secret: str) -> str:
    # Tokens are 256-bit random values, so a plain SHA-256 is enough to store them safely.
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    id: int
    name: str
    secret: str  # shown once, never stored
    scopes: tuple[str, ...]
    expires_at: datetime | None


async def create_user(
    username: str,
    password: str,
    *,
    display_name: str = "",
    email: str = "",
    is_curator: bool = False,
    is_platform_admin: bool = False,
    is_ministry_staff: bool = False,
) -> User:
    """Create a local account; raise ValidationFailed or Conflict."""
    errors = []
    if not USERNAME_RE.match(username or ""):
        errors.append({"field": "username", "message": "3–64 lowercase letters, digits, '.', '_' or '-'"})
    if not MIN_PASSWORD_LENGTH <= len(password or "") <= MAX_PASSWORD_LENGTH:
        errors.append({"field": "password", "message": f"at least {MIN_PASSWORD_LENGTH} characters"})
    if errors:
        raise ValidationFailed("the account details are not valid", errors=errors)
    if await User.exists().where(User.username == username):
        raise Conflict(f"the username {username!r} is taken")
    user = User(
        username=username,
        password_hash=hash_password(password),
        display_name=display_name or username,
        email=email,
        is_curator=is_curator,
        is_platform_admin=is_platform_admin,
        is_ministry_staff=is_ministry_staff,
    )
    await user.save()
    return user


async def add_membership(user: User, tenant: Tenant, role: str) -> None:
    if role not in MEMBER_ROLES:
        raise ValidationFailed("unknown role", errors=[{"field": "role", "message": f"one of {', '.join(MEMBER_ROLES)}"}])
    existing = await Membership.objects().where(
        (Membership.user == user.id) & (Membership.tenant == tenant.id)
    ).first()
    if existing:
        existing.role = role
        await existing.save([Membership.role])
    else:
        await Membership(user=user.id, tenant=tenant.id, role=role).save()


MAX_FAILED_SIGN_INS = 5
LOCKOUT = timedelta(minutes=15)


class AccountLocked(AuthenticationRequired):
    """Too many failed sign-ins in a row; the account waits out the lockout."""


async def authenticate(username: str, password: str) -> User:
    """Check a username and password; the same error whether the user exists or not.

    After MAX_FAILED_SIGN_INS wrong passwords in a row the account is locked for LOCKOUT,
    and even the right password is refused until then. Each outcome is audited.
    """
    username = (username or "").strip().lower()[:80]
    user = await User.objects().where(User.username == username).first()
    if user is None or not user.is_active:
        verify_password(DUMMY_HASH, password or "")
        await audit.record("auth.sign_in_failed", actor_name=username, object_type="user", object_id=username)
        raise AuthenticationRequired("wrong username or password")
    moment = now()
    if user.locked_until is not None and _aware(user.locked_until) > moment:
        await audit.record("auth.sign_in_failed", actor_id=user.id, actor_name=username, object_type="user",
                           object_id=username, detail={"reason": "locked"}, tenant_id=await home_tenant(user.id))
        raise AccountLocked("too many failed sign-ins: the account is locked for a while")
    if not verify_password(user.password_hash, password or ""):
        failures = (user.failed_logins or 0) + 1
        locked = failures >= MAX_FAILED_SIGN_INS
        await User.update(
            {User.failed_logins: 0 if locked else failures, User.locked_until: moment + LOCKOUT if locked else None}
        ).where(User.id == user.id)
        home = await home_tenant(user.id)
        await audit.record("auth.sign_in_failed", actor_id=user.id, actor_name=username, object_type="user",
                           object_id=username, detail={"failures": failures}, tenant_id=home)
        if locked:
            await audit.record("auth.locked_out", actor_id=user.id, actor_name=username, object_type="user",
                               object_id=username, detail={"minutes": int(LOCKOUT.total_seconds() // 60)},
                               tenant_id=home)
            raise AccountLocked("too many failed sign-ins: the account is locked for a while")
        raise AuthenticationRequired("wrong username or password")
    changes: dict[Any, Any] = {User.failed_logins: 0, User.locked_until: None}
    if needs_rehash(user.password_hash):
        changes[User.password_hash] = hash_password(password)
    await User.update(changes).where(User.id == user.id)
    return user


async def sign_in(username: str, password: str, *, ttl_seconds: int) -> str:
    """Password sign-in: checks, starts a session, audits; returns the cookie value."""
    user = await authenticate(username, password)
    secret = await start_session(user, ttl_seconds=ttl_seconds, ip_address=audit.client_address.get())
    await audit.record("auth.sign_in", actor_id=user.id, actor_name=user.username, object_type="user",
                       object_id=user.username, tenant_id=await home_tenant(user.id))
    return secret


async def start_session(user: User, *, ttl_seconds: int, ip_address: str = "") -> str:
    """Create a server-side session and return the cookie value."""
    secret = secrets.token_urlsafe(32)
    await Session(
        token_hash=digest_secret(secret),
        user=user.id,
        tenant=await home_tenant(user.id),
        expires_at=now() + timedelta(seconds=ttl_seconds),
        ip_address=ip_address[:64],
    ).save()
    return secret


async def home_tenant(user_id: int) -> int | None:
    """The tenant a user acts for when signing in: their first membership."""
    first = await Membership.select(Membership.tenant).where(Membership.user == user_id).order_by(Membership.id).first()
    return first["tenant"] if first else None


async def end_session(secret: str) -> None:
    if secret:
        await Session.delete().where(Session.token_hash == digest_secret(secret))


_USER_FIELDS = ("id", "username", "display_name", "is_curator", "is_platform_admin", "is_ministry_staff", "is_active")
LAST_USED_GRANULARITY = timedelta(minutes=1)


async def principal_for_user(user_id: int, **extra: Any) -> Principal | None:
    user = await User.select(*(getattr(User, f) for f in _USER_FIELDS)).where(User.id == user_id).first()
    return await _principal(user, **extra)


async def _principal(user: dict[str, Any] | None, **extra: Any) -> Principal | None:
    if user is None or not user["is_active"]:
        return None
    rows = await Membership.select(
        Membership.tenant,
        Membership.role,
        Membership.tenant.slug,
        Membership.tenant.name,
        Membership.tenant.publishes,
    ).where(Membership.user == user["id"]).order_by(Membership.tenant.name)
    if extra.get("token_tenant_id") is not None:
        # A token limited to one tenant carries only that membership.
        rows = [r for r in rows if r["tenant"] == extra["token_tenant_id"]]
    memberships = tuple(
        TenantRole(
            tenant_id=r["tenant"],
            slug=r["tenant.slug"],
            name=r["tenant.name"],
            role=r["role"],
            publishes=bool(r["tenant.publishes"]),
        )
        for r in rows
    )
    return Principal(
        user_id=user["id"],
        username=user["username"],
        display_name=user["display_name"] or user["username"],
        is_curator=bool(user["is_curator"]),
        is_platform_admin=bool(user["is_platform_admin"]),
        is_ministry_staff=bool(user["is_ministry_staff"]),
        memberships=memberships,
        **extra,
    )


def _joined_user(table: Any) -> list[Any]:
    """The user's columns through a foreign key, aliased to their plain names."""
    return [getattr(table.user, f).as_alias(f) for f in _USER_FIELDS]


async def principal_from_session(secret: str) -> Principal | None:
    if not secret or len(secret) > 200:
        return None
    row = await Session.select(Session.tenant, Session.expires_at, *_joined_user(Session)).where(
        Session.token_hash == digest_secret(secret)
    ).first()
    if row is None:
        return None
    if _aware(row["expires_at"]) <= now():
        await Session.delete().where(Session.token_hash == digest_secret(secret))
        return None
    return await _principal(row, active_tenant_id=row["tenant"], via="session")


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def validate_scopes(scopes: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValidationFailed(
            "unknown or missing scopes",
            errors=[{"field": "scopes", "message": f"choose from {', '.join(SCOPES)}"}],
        )
    return tuple(sorted(set(scopes)))


async def issue_token(
    user_id: int,
    name: str,
    scopes: list[str] | tuple[str, ...],
    *,
    tenant_id: int | None = None,
    expires_in_days: int | None = 90,
) -> IssuedToken:
    """Create an API token for a user; the secret is returned once."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 100:
        raise ValidationFailed("a token needs a name", errors=[{"field": "name", "message": "1–100 characters"}])
    if expires_in_days is not None and not 1 <= expires_in_days <= 730:
        raise ValidationFailed(
            "bad expiry", errors=[{"field": "expires_in_days", "message": "between 1 and 730 days"}]
        )
    scopes = validate_scopes(scopes)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = now() + timedelta(days=expires_in_days) if expires_in_days else None
    token = ApiToken(
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        token_hash=digest_secret(secret),
        user=user_id,
        tenant=tenant_id,
        scopes=list(scopes),
        expires_at=expires_at,
    )
    await token.save()
    await audit.record("token.created", actor_id=user_id, tenant_id=tenant_id, object_type="api_token",
                       object_id=f"{token.id}:{name}", detail={"scopes": ",".join(scopes)})
    return IssuedToken(id=token.id, name=name, secret=secret, scopes=scopes, expires_at=expires_at)


def token_tenant(principal: Principal, tenant_slug: str) -> int | None:
    """A token may be limited to one of its owner's tenants (automation such as a publisher's CI);
    an empty choice keeps every right of the owner."""
    if not tenant_slug:
        return None
    for membership in principal.memberships:
        if membership.slug == tenant_slug:
            return membership.tenant_id
    raise ValidationFailed("not your tenant", errors=[{"field": "tenant", "message": "choose one of your tenants"}])


async def revoke_token(user_id: int, token_id: int) -> None:
    token = await ApiToken.objects().output(load_json=True).where((ApiToken.id == token_id) & (ApiToken.user == user_id)).first()
    if token is None:
        raise NotFound("no such token")
    if token.revoked_at is None:
        token.revoked_at = now()
        await token.save([ApiToken.revoked_at])
        await audit.record("token.revoked", actor_id=user_id, tenant_id=token.tenant, object_type="api_token",
                           object_id=f"{token.id}:{token.name}")


async def list_tokens(user_id: int) -> list[dict]:
    return await ApiToken.select(
        ApiToken.id,
        ApiToken.tenant.name,
        ApiToken.name,
        ApiToken.prefix,
        ApiToken.scopes,
        ApiToken.created_at,
        ApiToken.expires_at,
        ApiToken.last_used_at,
        ApiToken.revoked_at,
    ).where(ApiToken.user == user_id).output(load_json=True).order_by(ApiToken.created_at, ascending=False)


async def principal_from_token(secret: str) -> Principal | None:
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = await ApiToken.select(
        ApiToken.id.as_alias("token_id"), ApiToken.tenant, ApiToken.scopes, ApiToken.expires_at, ApiToken.revoked_at,
        ApiToken.last_used_at, *_joined_user(ApiToken),
    ).where(ApiToken.token_hash == digest_secret(secret)).output(load_json=True).first()
    if token is None or token["revoked_at"] is not None:
        return None
    moment = now()
    if token["expires_at"] is not None and _aware(token["expires_at"]) <= moment:
        return None
    # Recorded to the minute: a write on every API call would cost more than the call.
    if token["last_used_at"] is None or moment - _aware(token["last_used_at"]) >= LAST_USED_GRANULARITY:
        await ApiToken.update({ApiToken.last_used_at: moment}).where(ApiToken.id == token["token_id"])
    return await _principal(
        token,
        scopes=frozenset(token["scopes"] or []),
        via="token",
        token_tenant_id=token["tenant"],
        active_tenant_id=token["tenant"],
    )
