"""SSO sign-in: pending flows, who the provider's ID token lets in, and the session it opens.

The provider is the source of truth for who an officer is and which role they
hold: the role is recomputed from the groups claim at every sign-in, and an
officer first seen is created with no usable password (their account exists
only through the provider). A local officer of the same name is never taken
over: that sign-in is refused until an administrator renames one of them.
Services never commit; the routes (``sso.api``) own the transactions.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import pyotp
from sqlalchemy.orm import Session

from gateway.console import repository as officers
from gateway.console.models import Officer, SsoFlow
from gateway.console.schemas import OpenedSession, Role, SignInMethod
from gateway.console.seeds import SeedCipher
from gateway.console.service import OFFICER_REF_PATTERN, open_session, token_digest
from gateway.console.sso import repository
from gateway.console.sso.errors import SsoAccountRefused, SsoFlowInvalid
from gateway.console.sso.provider import OidcClient, VerifiedIdToken
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event
from gateway.settings import Settings

FLOW_SECONDS: Final = 600  # an officer has ten minutes at the provider
SSO_USERNAME: Final = re.compile(r"^[a-z0-9][a-z0-9._@+-]{2,63}$")
# An argon2 verify of this raises InvalidHashError: SSO officers have no password to guess.
NO_PASSWORD: Final = "!sso-only"  # noqa: S105 - a marker no hash matches, not a password


@dataclass(frozen=True)
class SsoPolicy:
    """Whom this node admits from its provider, and for how long (from ``Settings``)."""

    groups_claim: str
    group_roles: Mapping[str, Role]
    username_claim: str
    required_acr: frozenset[str]
    required_amr: frozenset[str]
    session_max_seconds: int
    session_ends_with_id_token: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> SsoPolicy:
        return cls(
            groups_claim=settings.oidc_groups_claim,
            group_roles={group: Role(role) for group, role in settings.oidc_group_roles.items()},
            username_claim=settings.oidc_username_claim,
            required_acr=frozenset(settings.oidc_required_acr),
            required_amr=frozenset(settings.oidc_required_amr),
            session_max_seconds=settings.oidc_session_max_seconds,
            session_ends_with_id_token=settings.oidc_session_ends_with_id_token,
        )


@dataclass(frozen=True)
class StartedFlow:
    """A sign-in sent to the provider: ``browser_token`` goes into a cookie, ``url`` is where to go."""

    browser_token: str
    url: str


@dataclass(frozen=True)
class PendingFlow:
    nonce: str
    code_verifier: str
    next_path: str


@dataclass(frozen=True)
class Admission:
    """Who the ID token lets in, with which role."""

    username: str
    role: Role
    subject: str
    officer_ref: str


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def start_flow(
    session: Session, client: OidcClient, *, next_path: str, redirect_uri: str, now: datetime
) -> StartedFlow:
    """Record a pending sign-in (state, nonce, PKCE verifier) and return where to send the browser.

    Raises ProviderUnavailable when the provider's metadata cannot be fetched.
    """
    state, nonce, verifier, browser = (secrets.token_urlsafe(32) for _ in range(4))
    url = client.authorization_url(redirect_uri=redirect_uri, state=state, nonce=nonce, code_verifier=verifier)
    repository.delete_expired_flows(session, now)
    repository.add_flow(
        session,
        SsoFlow(
            state_sha256=_digest(state),
            browser_sha256=_digest(browser),
            nonce=nonce,
            code_verifier=verifier,
            next_path=next_path,
            created_at=now,
            expires_at=now + timedelta(seconds=FLOW_SECONDS),
        ),
    )
    return StartedFlow(browser_token=browser, url=url)


def take_flow(session: Session, *, state: str, browser_token: str, now: datetime) -> PendingFlow:
    """Consume the pending sign-in of ``state`` started by this browser; raises SsoFlowInvalid.

    The flow is deleted whatever follows, so the same answer cannot be used twice.
    """
    if not state or len(state) > 128:
        raise SsoFlowInvalid("the identity provider's answer carries no valid state", reason="state_missing")
    flow = repository.take_flow(session, _digest(state))
    if flow is None:
        raise SsoFlowInvalid(
            "this sign-in answer is unknown or was already used; start the sign-in again", reason="state_unknown"
        )
    if not browser_token or not secrets.compare_digest(_digest(browser_token), flow.browser_sha256):
        raise SsoFlowInvalid(
            "this sign-in was started in another browser; start the sign-in again here", reason="browser_mismatch"
        )
    if flow.expires_at <= now:
        raise SsoFlowInvalid("this sign-in took too long; start it again", reason="flow_expired")
    return PendingFlow(nonce=flow.nonce, code_verifier=flow.code_verifier, next_path=flow.next_path)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _officer_ref(subject: str) -> str:
    reference = f"sso:{subject}"
    if OFFICER_REF_PATTERN.fullmatch(reference):
        return reference
    return f"sso:{_digest(subject)[:24]}"


def admit(token: VerifiedIdToken, policy: SsoPolicy) -> Admission:
    """Return who ``token`` lets in and with which role; raises SsoAccountRefused.

    Refused: an e-mail name the provider has not verified, a name that is not
    a console name, acr/amr that do not prove what the node requires, and no
    group that maps to a role. Of several mapped groups the highest role wins.
    """
    claims: Mapping[str, Any] = token.claims
    name = claims.get(policy.username_claim)
    if not isinstance(name, str) or not name:
        raise SsoAccountRefused(
            f"the identity provider did not send the {policy.username_claim!r} claim", reason="no_username"
        )
    if policy.username_claim == "email" and claims.get("email_verified") is not True:
        raise SsoAccountRefused("the identity provider has not verified this e-mail address", reason="email_unverified")
    username = name.strip().lower()
    if not SSO_USERNAME.fullmatch(username):
        raise SsoAccountRefused(
            f"the name {name[:64]!r} cannot be a console name (3-64 letters, digits, . _ @ + -)", reason="bad_username"
        )
    if policy.required_acr and claims.get("acr") not in policy.required_acr:
        raise SsoAccountRefused(
            "this node requires a stronger sign-in at the identity provider (acr)", reason="acr_insufficient"
        )
    if policy.required_amr and not policy.required_amr & set(_strings(claims.get("amr"))):
        raise SsoAccountRefused(
            "this node requires multi-factor sign-in at the identity provider (amr)", reason="amr_insufficient"
        )
    roles = [policy.group_roles[g] for g in _strings(claims.get(policy.groups_claim)) if g in policy.group_roles]
    if not roles:
        raise SsoAccountRefused(
            "your groups at the identity provider give no role in this console; ask your agency's administrator "
            "to add you to a console group",
            reason="no_role",
        )
    role = max(roles, key=lambda r: [Role.VIEWER, Role.REVIEWER, Role.ADMIN].index(r))
    return Admission(username=username, role=role, subject=token.subject, officer_ref=_officer_ref(token.subject))


def session_expiry(token: VerifiedIdToken, policy: SsoPolicy, now: datetime) -> datetime:
    """Return when the console session ends: the configured maximum, and the ID token's exp if bound to it."""
    limit = now + timedelta(seconds=policy.session_max_seconds)
    if policy.session_ends_with_id_token:
        limit = min(limit, token.expires_at)
    return limit


def sign_in(
    session: Session,
    token: VerifiedIdToken,
    admission: Admission,
    policy: SsoPolicy,
    now: datetime,
    *,
    cipher: SeedCipher,
) -> OpenedSession:
    """Find or create the officer of ``admission``, set their role, open a session; raises SsoAccountRefused."""
    officer = repository.officer_by_identity(session, token.issuer, admission.subject)
    if officer is None:
        if officers.officer_by_username(session, admission.username) is not None:
            raise SsoAccountRefused(
                f"a local console account named {admission.username!r} already exists; an administrator must "
                "rename or remove it before this identity can sign in",
                reason="name_taken",
            )
        officer = Officer(
            username=admission.username,
            officer_ref=admission.officer_ref,
            role=admission.role.value,
            password_hash=NO_PASSWORD,
            password_change_required=False,
            # The column needs a seed; a random one nobody holds keeps local sign-in closed.
            totp_secret=cipher.encrypt(admission.username, pyotp.random_base32()),
            totp_last_step=0,
            failed_logins=0,
            locked_until=None,
            created_at=now,
            disabled_at=None,
            oidc_issuer=token.issuer,
            oidc_subject=admission.subject,
        )
        officers.add(session, officer)
        append_event(
            session,
            AuditEvent.OFFICER_CREATED,
            actor="sso",
            subject=f"officer:{officer.username}",
            at=now,
            detail={"role": admission.role.value, "officer_ref": officer.officer_ref, "issuer": token.issuer},
        )
    if officer.disabled_at is not None:
        raise SsoAccountRefused("this officer is disabled on this node", reason="disabled")
    officer.role = admission.role.value  # the provider's groups decide, at every sign-in
    return open_session(
        session,
        officer,
        now,
        method=SignInMethod.OIDC,
        expires_at=session_expiry(token, policy, now),
        provider_subject=admission.subject,
        detail={"issuer": token.issuer, "acr": token.claims.get("acr"), "amr": _strings(token.claims.get("amr"))},
    )


def session_method(session: Session, token: str | None) -> SignInMethod | None:
    """Return how the session of cookie value ``token`` was opened (None: no such session)."""
    if not token or len(token) > 128:
        return None
    method = repository.session_method(session, token_digest(token))
    return SignInMethod(method) if method is not None else None
