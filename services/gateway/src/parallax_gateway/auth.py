"""JWT verification (HS256) and minting of development tokens."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
from parallax_contracts.ids import is_user_id


class TokenRefused(Exception):
    pass


@dataclass(frozen=True)
class Identity:
    user: str
    permissions: tuple[str, ...]


def verify_token(token: str | None, secret: str) -> Identity:
    if not token:
        raise TokenRefused("missing token")
    try:
        # Only HS256: `alg: none` and other algorithms are refused by PyJWT's allow-list.
        claims = jwt.decode(
            token,
            secret,
            algorithms=["HS256"],
            options={"require": ["sub", "exp"]},
            leeway=0,
        )
    except jwt.PyJWTError as exc:
        raise TokenRefused(str(exc)) from exc
    user = claims.get("sub")
    permissions = claims.get("permissions", [])
    if not is_user_id(user):
        raise TokenRefused("sub is not a valid user id")
    if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
        raise TokenRefused("permissions must be a list of strings")
    return Identity(user=user, permissions=tuple(permissions))


def mint_token(user: str, secret: str, permissions: list[str], ttl_seconds: int = 3600) -> str:
    if not is_user_id(user):
        raise ValueError(f"{user!r} is not a valid user id (^[A-Za-z0-9_-]{{1,64}}$)")
    now = int(time.time())
    claims = {"sub": user, "permissions": permissions, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm="HS256")
