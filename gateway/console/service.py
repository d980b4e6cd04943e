"""Officer accounts and console sessions: creation, login (password + TOTP), lockout, expiry.

Secrets are never stored in clear: passwords as argon2id hashes, session
tokens as their SHA-256, TOTP seeds encrypted under a key from the settings
(``seeds``: they must stay readable to check codes, RFC 6238); each code is
accepted once (``totp_last_step``).

Failed sign-ins are throttled per (account, source address) and per source,
never by locking the account (see ``throttle``): ``check_throttle`` runs
before any factor is checked.

A login is three steps so that the deliberately slow argon2 check runs outside
any transaction (on SQLite a transaction holds the write lock): ``find_candidate``
(transaction 1), ``check_factors`` (no database), ``complete_login``
(transaction 2, which re-reads the officer and counts the failure or opens the
session). ``authenticate`` runs all three in one session, for callers that do
not care.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Final

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.orm import Session

from gateway.console import repository, throttle
from gateway.console.errors import OfficerExists, OfficerNotFound, WeakPassword
from gateway.console.models import ConsoleSession, LoginAttempt, Officer
from gateway.console.schemas import (
    LoginOutcome,
    NewOfficer,
    OfficerPrincipal,
    OfficerSummary,
    OpenedSession,
    Role,
    SignInMethod,
)
from gateway.console.seeds import SeedCipher, is_encrypted
from gateway.errors import InputError
from gateway.ledger.events import AuditEvent
from gateway.ledger.service import append_event

PAIR_MEMORY: Final = timedelta(hours=24)  # failures of a pair older than this are forgotten
IDLE_SECONDS: Final = 15 * 60
SESSION_MAX_SECONDS: Final = 12 * 3600
PASSWORD_MIN_LENGTH: Final = 12
PASSWORD_MAX_LENGTH: Final = 256
MAX_TOKEN_LENGTH: Final = 128

USERNAME_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
OFFICER_REF_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$")
_CODE_PATTERN: Final = re.compile(r"^[0-9]{6}$")

_hasher = PasswordHasher()  # argon2id, RFC 9106 low-memory profile


@cache
def _dummy_hash() -> str:
    """A hash no password matches: unknown usernames cost one argon2 check too."""
    return _hasher.hash(secrets.token_urlsafe(32))


def token_digest(token: str) -> str:
    """Return the hex SHA-256 under which a session token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def otpauth_uri(username: str, secret: str, issuer: str) -> str:
    """Return the ``otpauth://totp/…`` enrolment URI an authenticator app scans."""
    return str(pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer))


# -- accounts ------------------------------------------------------------------------


def create_officer(
    session: Session,
    username: str,
    role: Role | str,
    now: datetime,
    *,
    issuer: str,
    actor: str = "cli",
    officer_ref: str | None = None,
    password_change_required: bool = True,
    cipher: SeedCipher,
) -> NewOfficer:
    """Create an officer with a random password and TOTP seed; return them (shown once).

    The seed is stored encrypted with ``cipher``.

    The password is a one-time password when ``password_change_required``: the
    officer must choose a new one at first login. Raises InputError (bad
    username, role or officer_ref) and OfficerExists.
    """
    username = username.strip().lower()
    if not USERNAME_PATTERN.fullmatch(username):
        raise InputError(
            f"invalid officer name {username[:64]!r}",
            hint="use 3-64 characters: lower-case letters, digits, '.', '_' or '-'",
        )
    try:
        chosen = Role(role)
    except ValueError:
        raise InputError(f"unknown role {str(role)[:32]!r}", hint="use viewer, reviewer or admin") from None
    reference = officer_ref or username
    if not OFFICER_REF_PATTERN.fullmatch(reference):
        raise InputError(f"invalid officer reference {reference[:64]!r}")
    if repository.officer_by_username(session, username) is not None:
        raise OfficerExists(f"an officer named {username!r} already exists")
    password = secrets.token_urlsafe(15)
    secret = pyotp.random_base32()
    repository.add(
        session,
        Officer(
            username=username,
            officer_ref=reference,
            role=chosen.value,
            password_hash=_hasher.hash(password),
            password_change_required=password_change_required,
            totp_secret=cipher.encrypt(username, secret),
            totp_last_step=0,
            failed_logins=0,
            locked_until=None,
            created_at=now,
            disabled_at=None,
        ),
    )
    append_event(
        session,
        AuditEvent.OFFICER_CREATED,
        actor=actor,
        subject=f"officer:{username}",
        at=now,
        detail={"role": chosen.value, "officer_ref": reference},
    )
    return NewOfficer(
        username=username,
        role=chosen,
        password=password,
        totp_secret=secret,
        otpauth_uri=otpauth_uri(username, secret, issuer),
    )


def normalised_username(username: str) -> str:
    """Return the form under which an officer's name is stored and looked up."""
    return username.strip().lower()


def _officer(session: Session, username: str) -> Officer:
    officer = repository.officer_by_username(session, normalised_username(username))
    if officer is None:
        raise OfficerNotFound(f"no officer named {username[:64]!r}")
    return officer


def unlock_officer(session: Session, username: str, now: datetime) -> None:
    """Lift a lockout and the account's sign-in throttling from every source; raises OfficerNotFound.

    The reset is an ``unlocked`` row in the attempts trail, which the throttle
    reads as the end of every run of failures before it.
    """
    officer = _officer(session, username)
    officer.locked_until = None
    officer.failed_logins = 0
    repository.add(
        session,
        LoginAttempt(
            username=officer.username,
            officer_pk=officer.pk,
            at=now,
            succeeded=False,
            reason="unlocked",
            remote_addr=None,
        ),
    )


def set_disabled(session: Session, username: str, disabled: bool, now: datetime) -> None:
    """Disable (ending every session) or re-enable an officer; raises OfficerNotFound."""
    officer = _officer(session, username)
    officer.disabled_at = now if disabled else None
    if disabled:
        repository.delete_sessions_of(session, officer.pk)


def list_officers(session: Session) -> list[OfficerSummary]:
    """Return every officer by name, without hashes or TOTP seeds."""
    return [
        OfficerSummary(
            username=o.username,
            officer_ref=o.officer_ref,
            role=Role(o.role),
            created_at=o.created_at,
            locked_until=o.locked_until,
            disabled_at=o.disabled_at,
            password_change_required=o.password_change_required,
        )
        for o in repository.list_officers(session)
    ]


# -- login ---------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginCandidate:
    """What a login needs to know about the named officer (``officer_pk`` None: unknown)."""

    username: str
    officer_pk: int | None
    password_hash: str
    totp_secret: str | None


@dataclass(frozen=True)
class FactorCheck:
    password_ok: bool
    totp_step: int | None  # the time step the code matched, or None


def _address(remote_addr: str | None) -> str | None:
    return remote_addr[:64] if remote_addr else None


def check_throttle(
    session: Session, username: str, remote_addr: str | None, now: datetime
) -> throttle.Throttled | None:
    """Return the throttle in force for this sign-in, recording the refused attempt; None to go on.

    Runs before any factor is checked, so a throttled guess costs the node no
    argon2 hash and tells the guesser nothing about the account.
    """
    name = username.strip().lower()[:64]
    address = _address(remote_addr)
    pair = [
        throttle.Attempt(at, reason)
        for at, reason in repository.pair_attempts(session, name, address, now - PAIR_MEMORY, limit=64)
    ]
    failures = repository.source_failures(
        session, address, throttle.COUNTED_FAILURES, now - throttle.WINDOW, limit=throttle.SOURCE_MAX_FAILURES
    )
    verdict = throttle.decide(pair, failures, now)
    if verdict is not None:
        officer = repository.officer_by_username(session, name)
        repository.add(
            session,
            LoginAttempt(
                username=name,
                officer_pk=officer.pk if officer else None,
                at=now,
                succeeded=False,
                reason="throttled",
                remote_addr=address,
            ),
        )
    return verdict


def find_candidate(session: Session, username: str, *, cipher: SeedCipher) -> LoginCandidate:
    """Return the login candidate for ``username``; an unknown name gets a dummy one.

    Raises SeedUnreadable when the officer's seed does not decrypt with ``cipher``.
    """
    name = username.strip().lower()[:64]
    officer = repository.officer_by_username(session, name)
    if officer is None:
        return LoginCandidate(name, None, _dummy_hash(), None)
    seed = cipher.decrypt(officer.username, officer.totp_secret)
    return LoginCandidate(name, officer.pk, officer.password_hash, seed)


def encrypt_plain_seeds(session: Session, cipher: SeedCipher) -> int:
    """Encrypt the seeds still stored in clear (rows from before encryption); return how many.

    Run when the agency listener starts: the migration that made room for
    encrypted seeds cannot know the key.
    """
    converted = 0
    for officer in repository.list_officers(session):
        if not is_encrypted(officer.totp_secret):
            officer.totp_secret = cipher.encrypt(officer.username, officer.totp_secret)
            converted += 1
    return converted


def _totp_step(secret: str, code: str, now: datetime) -> int | None:
    if not _CODE_PATTERN.fullmatch(code):
        return None
    totp = pyotp.TOTP(secret)
    current = int(totp.timecode(now))
    # One 30-second step of clock drift either way (RFC 6238 §5.2).
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(str(totp.generate_otp(step)), code):
            return step
    return None


def check_factors(candidate: LoginCandidate, password: str, code: str, now: datetime) -> FactorCheck:
    """Check the password (argon2id) and the TOTP code; needs no database."""
    password_ok: bool
    try:
        password_ok = _hasher.verify(candidate.password_hash, password[:PASSWORD_MAX_LENGTH])
    except (VerificationError, InvalidHashError):
        password_ok = False
    step = _totp_step(candidate.totp_secret, code.strip(), now) if candidate.totp_secret else None
    return FactorCheck(password_ok and candidate.officer_pk is not None, step)


def _refusal(officer: Officer | None, factors: FactorCheck, now: datetime) -> str | None:
    if officer is None:
        return "unknown_officer"
    if officer.disabled_at is not None:
        return "disabled"
    if officer.locked_until is not None and officer.locked_until > now:
        return "locked"
    if not factors.password_ok:
        return "wrong_password"
    if factors.totp_step is None:
        return "wrong_code"
    if factors.totp_step <= officer.totp_last_step:
        return "code_reused"
    return None


def complete_login(
    session: Session,
    candidate: LoginCandidate,
    factors: FactorCheck,
    now: datetime,
    *,
    remote_addr: str | None = None,
) -> LoginOutcome:
    """Open a session when both factors passed, else count the failure; return the outcome.

    Never raises for a failed login (the caller must commit the attempt row,
    which the throttle counts): the outcome's ``failure`` names the reason for
    the audit trail only — the officer is told the same thing whatever it was.
    Failures never lock the account (see ``throttle``).
    """
    officer = repository.officer_for_update(session, candidate.officer_pk) if candidate.officer_pk is not None else None
    failure = _refusal(officer, factors, now)
    repository.add(
        session,
        LoginAttempt(
            username=candidate.username,
            officer_pk=officer.pk if officer else None,
            at=now,
            succeeded=failure is None,
            reason=failure or "ok",
            remote_addr=_address(remote_addr),
        ),
    )
    if officer is None:
        return LoginOutcome(failure=failure)
    if failure is not None:
        if failure in throttle.COUNTED_FAILURES:
            officer.failed_logins += 1  # shown to administrators; locks nothing
        return LoginOutcome(failure=failure)
    assert factors.totp_step is not None  # _refusal checked it
    officer.failed_logins = 0
    officer.locked_until = None
    officer.totp_last_step = factors.totp_step
    opened = open_session(
        session,
        officer,
        now,
        method=SignInMethod.PASSWORD_TOTP,
        expires_at=now + timedelta(seconds=SESSION_MAX_SECONDS),
        provider_subject=None,
    )
    return LoginOutcome(opened=opened)


def open_session(
    session: Session,
    officer: Officer,
    now: datetime,
    *,
    method: SignInMethod,
    expires_at: datetime,
    provider_subject: str | None,
    detail: dict[str, object] | None = None,
) -> OpenedSession:
    """Open a console session for ``officer`` and record the sign-in in the ledger; return it.

    The ledger subject names the method and who vouched for the officer: the
    identity provider's subject for ``oidc``, the officer's own name for a
    local sign-in (``signin:<method>:<subject>``).
    """
    repository.delete_stale_sessions(session, officer.pk, now - timedelta(seconds=IDLE_SECONDS), now)
    token = secrets.token_urlsafe(32)
    repository.add(
        session,
        ConsoleSession(
            token_sha256=token_digest(token),
            officer_pk=officer.pk,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
            sign_in_method=method.value,
        ),
    )
    append_event(
        session,
        AuditEvent.OFFICER_SIGNED_IN,
        actor=f"officer:{officer.username}",
        subject=f"signin:{method.value}:{provider_subject or officer.username}",
        at=now,
        detail={"method": method.value, "expires_at": expires_at.isoformat(), **(detail or {})},
    )
    return OpenedSession(token=token, expires_at=expires_at)


def authenticate(
    session: Session,
    username: str,
    password: str,
    code: str,
    now: datetime,
    *,
    cipher: SeedCipher,
    remote_addr: str | None = None,
) -> LoginOutcome:
    """Run the whole login in one session, throttle included; see ``complete_login`` for the outcome."""
    if check_throttle(session, username, remote_addr, now) is not None:
        return LoginOutcome(failure="throttled")
    candidate = find_candidate(session, username, cipher=cipher)
    return complete_login(
        session,
        candidate,
        check_factors(candidate, password, code, now),
        now,
        remote_addr=remote_addr,
    )


# -- sessions ------------------------------------------------------------------------


def resolve_session(session: Session, token: str | None, now: datetime) -> OfficerPrincipal | None:
    """Return the officer of a live session and mark it used now; None when there is none.

    A session ends when idle for IDLE_SECONDS, after SESSION_MAX_SECONDS, or
    when its officer is disabled; an ended session's row is deleted.
    """
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    digest = token_digest(token)
    found = repository.session_with_officer(session, digest)
    if found is None:
        return None
    row, officer = found
    idle_limit = row.last_seen_at + timedelta(seconds=IDLE_SECONDS)
    if row.expires_at <= now or idle_limit <= now or officer.disabled_at is not None:
        repository.delete_session(session, digest)
        return None
    row.last_seen_at = now
    return OfficerPrincipal(
        officer_pk=officer.pk,
        username=officer.username,
        officer_ref=officer.officer_ref,
        role=Role(officer.role),
        csrf_token=row.csrf_token,
        password_change_required=officer.password_change_required,
    )


def end_session(session: Session, token: str | None) -> None:
    """Delete the session of ``token`` (logout); unknown tokens are ignored."""
    if token and len(token) <= MAX_TOKEN_LENGTH:
        repository.delete_session(session, token_digest(token))


def change_password(
    session: Session, officer_pk: int, current: str, new: str, repeated: str, *, keep_token: str
) -> None:
    """Replace the officer's password and end their other sessions.

    Raises WeakPassword when the current password is wrong, the two new ones
    differ, or the new one is too short, too long or unchanged. (Rare enough
    that hashing inside the transaction is acceptable.)
    """
    officer = session.get(Officer, officer_pk)
    if officer is None:
        raise OfficerNotFound("the signed-in officer no longer exists")
    try:
        _hasher.verify(officer.password_hash, current[:PASSWORD_MAX_LENGTH])
    except (VerificationError, InvalidHashError):
        raise WeakPassword("the current password is wrong") from None
    if new != repeated:
        raise WeakPassword("the two new passwords differ")
    if not PASSWORD_MIN_LENGTH <= len(new) <= PASSWORD_MAX_LENGTH:
        raise WeakPassword(f"a password needs {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters")
    if new == current:
        raise WeakPassword("the new password must differ from the current one")
    officer.password_hash = _hasher.hash(new)
    officer.password_change_required = False
    repository.delete_sessions_of(session, officer.pk, keep=token_digest(keep_token))
