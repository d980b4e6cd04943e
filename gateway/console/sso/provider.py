"""The OpenID Connect relying party: discovery, authorization URL, code exchange, ID token checks.

authlib builds the protocol messages (authorization request, PKCE S256
challenge, token request); joserfc checks the ID token's signature against
the provider's JWKS. No FastAPI and no database here: the routes
(``sso.api``) and the sign-in policy (``sso.service``) call this.

Discovery and the JWKS are cached for ``METADATA_TTL``; a token signed with a
key id the cache does not know makes one refresh of the JWKS (at most every
``JWKS_REFRESH_MIN``), so a provider's key rotation is picked up at once.
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlencode, urlsplit

import httpx
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from gateway.console.sso.errors import ProviderRefused, ProviderUnavailable, SsoTokenRejected
from gateway.errors import ConfigurationError
from gateway.settings import Settings

METADATA_TTL: Final = 3600.0  # seconds a discovery document and JWKS are reused
JWKS_REFRESH_MIN: Final = 10.0  # seconds between refreshes forced by unknown key ids
MAX_ID_TOKEN_AGE: Final = 600  # seconds: an ID token from the token endpoint is fresh
MAX_RESPONSE_BYTES: Final = 256 * 1024
# Asymmetric algorithms only: never "none", never an HMAC keyed with the client secret.
ALLOWED_ALGORITHMS: Final = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"})


@dataclass(frozen=True)
class OidcConfig:
    """What this node knows about its provider and itself (from ``Settings``)."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...]
    redirect_uri: str | None
    clock_skew_seconds: int
    max_auth_age_seconds: int | None
    timeout_seconds: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcConfig | None:
        """Return the configuration, or None when no issuer is set.

        Raises ConfigurationError for a missing client id or secret file, or an
        issuer that is neither HTTPS nor on the loopback interface.
        """
        if not settings.oidc_issuer:
            return None
        issuer = settings.oidc_issuer.rstrip("/")
        parts = urlsplit(issuer)
        loopback = parts.hostname in ("127.0.0.1", "localhost", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise ConfigurationError(
                f"GATEWAY_OIDC_ISSUER must be an https:// URL, not {issuer[:80]!r}",
                hint="plain http is accepted only for a provider on this machine's loopback interface",
            )
        if not settings.oidc_client_id:
            raise ConfigurationError("GATEWAY_OIDC_ISSUER is set but GATEWAY_OIDC_CLIENT_ID is not")
        secret = _read_secret(settings.oidc_client_secret_file)
        scopes = tuple(dict.fromkeys(["openid", *settings.oidc_scopes]))
        return cls(
            issuer=issuer,
            client_id=settings.oidc_client_id,
            client_secret=secret,
            scopes=scopes,
            redirect_uri=settings.oidc_redirect_uri,
            clock_skew_seconds=settings.oidc_clock_skew_seconds,
            max_auth_age_seconds=settings.oidc_max_auth_age_seconds,
        )


def _read_secret(path: Path | None) -> str:
    if path is None:
        raise ConfigurationError("GATEWAY_OIDC_ISSUER is set but GATEWAY_OIDC_CLIENT_SECRET_FILE is not")
    try:
        secret = path.read_text("utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the OIDC client secret file {path}: {exc.strerror}") from exc
    if not secret:
        raise ConfigurationError(f"the OIDC client secret file {path} is empty")
    return secret


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of the discovery document this client uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    signing_algorithms: frozenset[str]


@dataclass(frozen=True)
class VerifiedIdToken:
    """An ID token that passed every check; ``claims`` is its whole payload."""

    issuer: str
    subject: str
    expires_at: datetime
    claims: Mapping[str, Any]


def _now_seconds(now: datetime) -> int:
    return int(now.astimezone(UTC).timestamp())


class OidcClient:
    """One provider's relying party; thread-safe; built once per agency app."""

    def __init__(self, config: OidcConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0

    # -- fetching ------------------------------------------------------------------

    def _get_json(self, url: str, what: str) -> dict[str, Any]:
        try:
            response = httpx.get(url, timeout=self.config.timeout_seconds, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"the identity provider's {what} could not be fetched ({type(exc).__name__})",
                reason="unreachable",
            ) from exc
        if response.status_code != 200 or len(response.content) > MAX_RESPONSE_BYTES:
            raise ProviderUnavailable(
                f"the identity provider's {what} answered HTTP {response.status_code}", reason="bad_answer"
            )
        try:
            document = response.json()
        except ValueError:
            document = None
        if not isinstance(document, dict):
            raise ProviderUnavailable(f"the identity provider's {what} is not a JSON object", reason="bad_answer")
        return document

    def metadata(self) -> ProviderMetadata:
        """Return the provider's discovery metadata (cached); raises ProviderUnavailable."""
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata_at < METADATA_TTL:
                return self._metadata
        document = self._get_json(f"{self.config.issuer}/.well-known/openid-configuration", "discovery document")
        if document.get("issuer") != self.config.issuer:
            # OIDC Discovery §4.3: the document must name exactly the issuer it was fetched for.
            raise ProviderUnavailable(
                "the identity provider's discovery document names another issuer", reason="issuer_mismatch"
            )
        endpoints: dict[str, str] = {}
        for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            value = document.get(name)
            if not isinstance(value, str) or not value.startswith(("https://", "http://")):
                raise ProviderUnavailable(f"the discovery document has no usable {name}", reason="bad_answer")
            endpoints[name] = value
        end_session = document.get("end_session_endpoint")
        algorithms = document.get("id_token_signing_alg_values_supported") or ["RS256"]
        metadata = ProviderMetadata(
            issuer=self.config.issuer,
            authorization_endpoint=endpoints["authorization_endpoint"],
            token_endpoint=endpoints["token_endpoint"],
            jwks_uri=endpoints["jwks_uri"],
            end_session_endpoint=end_session if isinstance(end_session, str) else None,
            signing_algorithms=frozenset(a for a in algorithms if isinstance(a, str)) & ALLOWED_ALGORITHMS,
        )
        with self._lock:
            self._metadata, self._metadata_at = metadata, time.monotonic()
        return metadata

    def cached_metadata(self) -> ProviderMetadata | None:
        """Return the discovery metadata if it was fetched before (sign-out must not wait on a dead provider)."""
        with self._lock:
            return self._metadata

    def _key_set(self, *, refresh: bool) -> KeySet:
        with self._lock:
            keys, age = self._keys, time.monotonic() - self._keys_at
        if keys is not None and age < METADATA_TTL and not (refresh and age >= JWKS_REFRESH_MIN):
            return keys
        document = self._get_json(self.metadata().jwks_uri, "key set (JWKS)")
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            raise ProviderUnavailable("the identity provider's JWKS holds no usable key", reason="bad_jwks") from exc
        with self._lock:
            self._keys, self._keys_at = keys, time.monotonic()
        return keys

    # -- the authorization code flow -----------------------------------------------

    def authorization_url(self, *, redirect_uri: str, state: str, nonce: str, code_verifier: str) -> str:
        """Return the URL that sends the browser to the provider (code flow, PKCE S256, nonce)."""
        extra: dict[str, str] = {
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(code_verifier),
            "code_challenge_method": "S256",
        }
        if self.config.max_auth_age_seconds is not None:
            extra["max_age"] = str(self.config.max_auth_age_seconds)
        return str(
            prepare_grant_uri(
                self.metadata().authorization_endpoint,
                client_id=self.config.client_id,
                response_type="code",
                redirect_uri=redirect_uri,
                scope=" ".join(self.config.scopes),
                state=state,
                **extra,
            )
        )

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str) -> str:
        """Redeem an authorization code at the token endpoint; return the raw ID token.

        Raises ProviderRefused (e.g. ``invalid_grant`` for a used code or a
        wrong PKCE verifier) and ProviderUnavailable.
        """
        body = prepare_token_request(
            "authorization_code", code=code, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
        try:
            response = httpx.post(
                self.metadata().token_endpoint,
                content=body,
                headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                auth=(self.config.client_id, self.config.client_secret),
                timeout=self.config.timeout_seconds,
                follow_redirects=False,
            )
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                f"the identity provider's token endpoint could not be reached ({type(exc).__name__})",
                reason="unreachable",
            ) from exc
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ProviderUnavailable(
                f"the token endpoint answered HTTP {response.status_code} without JSON", reason="bad_answer"
            )
        if response.status_code != 200:
            error = str(answer.get("error", "error"))[:64]
            raise ProviderRefused(
                f"the identity provider refused to redeem the sign-in code ({error})", reason=f"token_{error}"
            )
        id_token = answer.get("id_token")
        if not isinstance(id_token, str):
            raise SsoTokenRejected("the identity provider sent no ID token", reason="no_id_token")
        return id_token

    def end_session_url(self, *, post_logout_redirect_uri: str) -> str | None:
        """Return the provider's RP-initiated logout URL, when it offers one (from cached metadata)."""
        metadata = self.cached_metadata()
        if metadata is None or metadata.end_session_endpoint is None:
            return None
        query = urlencode({"client_id": self.config.client_id, "post_logout_redirect_uri": post_logout_redirect_uri})
        separator = "&" if "?" in metadata.end_session_endpoint else "?"
        return f"{metadata.end_session_endpoint}{separator}{query}"

    # -- the ID token ----------------------------------------------------------------

    def verify_id_token(self, raw: str, *, nonce: str, now: datetime) -> VerifiedIdToken:
        """Check an ID token (OIDC Core §3.1.3.7) and return it; raises SsoTokenRejected.

        Steps: 1. header: an allowed asymmetric alg; 2. key: the JWKS key of
        its kid (one refresh for an unknown kid); 3. signature; 4. iss; 5. aud
        (and azp when several audiences); 6. exp, iat (and auth_time under
        max_age) within the clock skew; 7. nonce; 8. sub.
        """
        header = _header(raw)
        alg = header.get("alg")
        allowed = self.metadata().signing_algorithms or {"RS256"}
        if not isinstance(alg, str) or alg not in allowed:
            raise SsoTokenRejected(f"the ID token's algorithm {str(alg)[:16]!r} is not accepted", reason="alg")
        kid = header.get("kid")
        key = _find_key(self._key_set(refresh=False), kid, alg)
        if key is None:
            key = _find_key(self._key_set(refresh=True), kid, alg)
        if key is None:
            raise SsoTokenRejected(
                "the ID token is signed with a key the provider does not publish", reason="unknown_key"
            )
        try:
            claims: dict[str, Any] = dict(jwt.decode(raw, key, algorithms=[alg]).claims)
        except JoseError as exc:
            raise SsoTokenRejected(
                "the ID token's signature does not verify with the provider's key", reason="signature"
            ) from exc
        self._check_claims(claims, nonce=nonce, now=_now_seconds(now))
        return VerifiedIdToken(
            issuer=self.config.issuer,
            subject=claims["sub"],
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
            claims=claims,
        )

    def _check_claims(self, claims: dict[str, Any], *, nonce: str, now: int) -> None:
        skew = self.config.clock_skew_seconds
        if claims.get("iss") != self.config.issuer:
            raise SsoTokenRejected("the ID token was issued by another issuer", reason="issuer")
        audience = claims.get("aud")
        audiences = [audience] if isinstance(audience, str) else audience if isinstance(audience, list) else []
        if self.config.client_id not in audiences:
            raise SsoTokenRejected("the ID token is meant for another client (aud)", reason="audience")
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:
            raise SsoTokenRejected("the ID token has several audiences and another azp", reason="azp")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int) or not isinstance(iat, int):
            raise SsoTokenRejected("the ID token lacks exp or iat", reason="times")
        if exp + skew <= now:
            raise SsoTokenRejected("the ID token has expired", reason="expired")
        if iat - skew > now or iat + MAX_ID_TOKEN_AGE + skew < now:
            raise SsoTokenRejected("the ID token's issue time (iat) is not plausible now", reason="iat")
        max_age = self.config.max_auth_age_seconds
        if max_age is not None:
            auth_time = claims.get("auth_time")
            if not isinstance(auth_time, int) or auth_time + max_age + skew < now:
                raise SsoTokenRejected("the provider's sign-in is older than this node allows", reason="auth_time")
        if claims.get("nonce") != nonce:
            raise SsoTokenRejected("the ID token's nonce does not match this sign-in", reason="nonce")
        subject = claims.get("sub")
        if not isinstance(subject, str) or not 0 < len(subject) <= 255:
            raise SsoTokenRejected("the ID token has no usable subject (sub)", reason="subject")


def _header(raw: str) -> dict[str, Any]:
    parts = raw.split(".")
    if len(parts) != 3:
        raise SsoTokenRejected("the ID token is not a signed JWT (JWS compact form)", reason="malformed")
    try:
        segment = parts[0] + "=" * (-len(parts[0]) % 4)
        header = json.loads(base64.urlsafe_b64decode(segment.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise SsoTokenRejected("the ID token's header is not readable", reason="malformed") from exc
    if not isinstance(header, dict):
        raise SsoTokenRejected("the ID token's header is not a JSON object", reason="malformed")
    return header


def _find_key(keys: KeySet, kid: object, alg: str) -> Any:
    """Return the key of ``kid`` (or the only key when the token names none), else None."""
    candidates = [k for k in keys.keys if k.get("use", "sig") == "sig" and k.get("alg", alg) == alg]
    if isinstance(kid, str):
        return next((k for k in candidates if k.kid == kid), None)
    return candidates[0] if len(candidates) == 1 else None
