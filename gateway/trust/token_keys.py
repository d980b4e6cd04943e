"""Signing keys held in a PKCS#11 token (an HSM, a smart card, SoftHSM2).

A key is named by an RFC 7512 URI (``pkcs11:token=PA%20gateway;object=signing``)
plus the module (the vendor's PKCS#11 library) and the user PIN, which comes
from a file or the environment and never from the URI (``pin-value`` is
refused) or the TOML file. The private key never leaves the token: it is
generated there non-extractable and sensitive, and :class:`TokenECPrivateKey`
asks the token for every signature. It is a ``cryptography`` EC private key,
so :class:`gateway.trust.keys.SigningKey`, the JWS signer and the certificate
checks use it unchanged.

Only P-256 (ES256) keys are supported in tokens: every HSM has CKM_ECDSA, while
Ed25519 (CKM_EDDSA) is PKCS#11 3.0 and missing from many.

The binding is python-pkcs11: a typed, object-level API (tokens, sessions,
keys, mechanisms, one exception class per CKR_ code), maintained, with wheels,
so a wrong PIN or an absent token is a named exception, not a return code.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pkcs11
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from joserfc.jwk import ECKey
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11
from pkcs11.util.ec import encode_named_curve_parameters

from gateway.trust.errors import PKIError
from gateway.trust.token_uri import TokenURI, parse_pkcs11_uri

# What a liveness probe signs: a digest, never a document.
_PROBE_DIGEST: Final = hashlib.sha256(b"mou-gateway token probe").digest()


# PKCS#11 login is per process and token, not per session: a second C_Login
# answers CKR_USER_ALREADY_LOGGED_IN. So the process remembers which tokens it
# is logged in to (with a digest of the PIN that worked, which a later open must
# match: the token has one user PIN) and how many sessions share the login.
_LOGIN_LOCK: Final = threading.Lock()
_LOGGED_IN: dict[tuple[str, bytes], tuple[bytes, int]] = {}


class TokenError(PKIError):
    """A PKCS#11 token or key that cannot be used: absent, locked, wrong PIN, no such key."""

    slug = "pkcs11-token"
    title = "PKCS#11 token error"
    status = 503


def read_pin(pin: str | None, pin_file: Path | None) -> str:
    """Return the user PIN from ``pin`` (the environment) or ``pin_file``; raises PKIError when neither."""
    if pin_file is not None:
        try:
            value = pin_file.read_text("utf-8").strip()
        except OSError as exc:
            raise PKIError(f"cannot read the PKCS#11 PIN file {pin_file}: {exc.strerror}") from exc
        if not value:
            raise PKIError(f"the PKCS#11 PIN file {pin_file} is empty")
        return value
    if pin:
        return pin
    raise PKIError(
        "no PIN for the PKCS#11 token",
        hint="set GATEWAY_PKCS11_PIN or GATEWAY_PKCS11_PIN_FILE (never in the TOML file)",
    )


def _ec_point(raw: bytes) -> bytes:
    # CKA_EC_POINT is a DER OCTET STRING around the X9.62 point (PKCS#11 2.40
    # §2.3.3); some tokens return the bare point. Accept both.
    if len(raw) == 67 and raw[0] == 0x04 and raw[1] == 65:
        return raw[2:]
    return raw


@dataclass(eq=False)
class TokenSession:
    """An open, logged-in session with one token; signing is serialized on it.

    PKCS#11 allows one active operation per session, so concurrent signers
    take turns on a lock (signing in the token takes well under a millisecond).
    """

    uri: TokenURI
    module: Path
    _session: Any = field(repr=False)
    _lib: Any = field(repr=False)
    _login: tuple[str, bytes] = field(repr=False)
    _closed: bool = field(default=False, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def close(self) -> None:
        # Closing the session of a vanished token fails; shutdown must not.
        with _LOGIN_LOCK:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(p11.PKCS11Error):
                self._session.close()
            digest, sessions = _LOGGED_IN.get(self._login, (b"", 1))
            if sessions <= 1:
                _LOGGED_IN.pop(self._login, None)  # the token logs out with the last session
            else:
                _LOGGED_IN[self._login] = (digest, sessions - 1)

    @property
    def handle(self) -> Any:
        """The python-pkcs11 session, for key kinds other than signing keys (gateway/vault/token_kek.py)."""
        return self._session

    @property
    def token_name(self) -> str:
        return self._token_name()

    def _find(self, object_class: Any) -> Any:
        try:
            return self._session.get_key(object_class=object_class, label=self.uri.object, id=self.uri.id)
        except p11.NoSuchKey as exc:
            raise TokenError(
                f"no key {self._key_name()} in token {self._token_name()}",
                hint="create it with `gateway pki init --pkcs11 URI` or check object=/id= in the URI",
            ) from exc
        except p11.MultipleObjectsReturned as exc:
            raise TokenError(f"several keys match {self._key_name()} in token {self._token_name()}") from exc
        except p11.PKCS11Error as exc:
            raise TokenError(f"token {self._token_name()}: {_describe(exc)}") from exc

    def _key_name(self) -> str:
        return repr(self.uri.object) if self.uri.object is not None else f"id {self.uri.id!r}"

    def _token_name(self) -> str:
        return repr(self.uri.token or self.uri.serial)

    def private_key(self) -> TokenECPrivateKey:
        """Return the URI's private key (P-256) with its public key from the token; raises TokenError."""

        private = self._find(ObjectClass.PRIVATE_KEY)
        if private.key_type != KeyType.EC:
            raise TokenError(f"key {self._key_name()} is not an EC key; token keys must be P-256")
        public = self._find(ObjectClass.PUBLIC_KEY)
        try:
            point = _ec_point(bytes(public[Attribute.EC_POINT]))
            public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        except ValueError as exc:
            raise TokenError(f"key {self._key_name()} is not on P-256; token keys must be P-256") from exc
        return TokenECPrivateKey(self, private, public_key)

    def generate_key(self) -> TokenECPrivateKey:
        """Generate a P-256 key pair in the token under the URI's label/id; raises TokenError if one exists."""

        try:
            self._session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=self.uri.object, id=self.uri.id)
        except p11.NoSuchKey:
            pass
        except p11.PKCS11Error as exc:
            raise TokenError(f"token {self._token_name()}: {_describe(exc)}") from exc
        else:
            raise TokenError(
                f"token {self._token_name()} already holds a key {self._key_name()}",
                hint="name another object= in the URI",
            )
        label = self.uri.object or ""
        key_id = self.uri.id if self.uri.id is not None else hashlib.sha256(label.encode()).digest()[:8]
        try:
            params = self._session.create_domain_parameters(
                KeyType.EC, {Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")}, local=True
            )
            params.generate_keypair(
                store=True,
                label=label,
                id=key_id,
                private_template={
                    Attribute.SENSITIVE: True,
                    Attribute.EXTRACTABLE: False,
                    Attribute.SIGN: True,
                    Attribute.PRIVATE: True,
                },
            )
        except p11.PKCS11Error as exc:
            raise TokenError(f"token {self._token_name()} could not generate a P-256 key: {_describe(exc)}") from exc
        return self.private_key()


def describe_error(exc: BaseException) -> str:
    """A PKCS#11 exception in words (wrong PIN, token not present, …)."""
    return _describe(exc)


def _describe(exc: BaseException) -> str:
    name = type(exc).__name__
    return {
        "PinIncorrect": "wrong PIN",
        "PinLocked": "the PIN is locked (too many wrong PINs); the security officer must unlock it",
        "PinExpired": "the PIN has expired",
        "TokenNotPresent": "the token is not present",
        "DeviceRemoved": "the token was removed",
        "SessionHandleInvalid": "the session was lost (token removed or reset)",
        "SessionClosed": "the session was closed",
        "UserNotLoggedIn": "not logged in",
    }.get(name, name)


def _find_token(lib: Any, uri: TokenURI, name: str) -> Any:
    # Slot by slot, not lib.get_token: one broken slot (a token removed while
    # the library runs) must not hide the others.
    try:
        slots = lib.get_slots(token_present=True)
    except p11.PKCS11Error as exc:
        raise TokenError(f"PKCS#11 token {name}: {_describe(exc)}") from exc
    found = []
    for slot in slots:
        try:
            token = slot.get_token()
        except p11.PKCS11Error:
            continue
        if uri.token is not None and token.label != uri.token:
            continue
        if uri.serial is not None and bytes(token.serial).decode("ascii", "replace").strip() != uri.serial:
            continue
        found.append(token)
    if not found:
        raise TokenError(f"PKCS#11 token {name} is not present", hint="plug it in or check token= in the URI")
    if len(found) > 1:
        raise TokenError(f"several PKCS#11 tokens match {name}", hint="add serial= to the URI")
    return found[0]


def open_token(uri: TokenURI, module: Path | None, pin: str) -> TokenSession:
    """Open a logged-in read-write session with the URI's token.

    Raises TokenError in one line when the module cannot be loaded, the token
    is absent, the PIN is wrong or locked.
    """

    library = module or uri.module_path
    if library is None:
        raise TokenError(
            "no PKCS#11 module configured",
            hint="set GATEWAY_PKCS11_MODULE to the token's library (e.g. /usr/lib/softhsm/libsofthsm2.so)",
        )
    if not library.exists():
        raise TokenError(f"PKCS#11 module {library} does not exist", hint="install the token's PKCS#11 library")
    try:
        lib = pkcs11.lib(str(library))
    except (p11.PKCS11Error, RuntimeError, OSError) as exc:
        raise TokenError(f"cannot load PKCS#11 module {library}: {exc}") from exc
    name = repr(uri.token or uri.serial)
    token = _find_token(lib, uri, name)
    login = (str(library), bytes(token.serial))
    digest = hashlib.sha256(pin.encode("utf-8")).digest()
    with _LOGIN_LOCK:
        held = _LOGGED_IN.get(login)
        try:
            if held is None:
                session = token.open(user_pin=pin, rw=True)
            elif hmac.compare_digest(held[0], digest):
                session = token.open(rw=True)  # shares the process's login
            else:
                raise TokenError(f"cannot log in to PKCS#11 token {name}: wrong PIN")
        except p11.PKCS11Error as exc:
            raise TokenError(f"cannot log in to PKCS#11 token {name}: {_describe(exc)}") from exc
        _LOGGED_IN[login] = (digest, (held[1] if held else 0) + 1)
    return TokenSession(uri, library, session, lib, login)


class TokenECPrivateKey(ec.EllipticCurvePrivateKey):
    """A P-256 private key that lives in a token: only ``sign`` and ``public_key`` work.

    Everything that would export the key (numbers, bytes) raises, as the token does.
    """

    def __init__(self, session: TokenSession, handle: Any, public: ec.EllipticCurvePublicKey) -> None:
        self._session = session
        self._handle = handle
        self._public = public

    @property
    def token_session(self) -> TokenSession:
        return self._session

    @property
    def uri(self) -> str:
        return self._session.uri.text

    def sign(self, data: Any, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        """Return a DER ECDSA signature over ``data`` made by the token; raises TokenError when it cannot."""

        algorithm = getattr(signature_algorithm, "algorithm", None)
        if not isinstance(signature_algorithm, ec.ECDSA) or not isinstance(algorithm, hashes.SHA256):
            raise TokenError("token keys sign ECDSA with SHA-256 only")
        digest = hashlib.sha256(bytes(data)).digest()
        try:
            with self._session.lock:
                raw = bytes(self._handle.sign(digest, mechanism=Mechanism.ECDSA))
        except p11.PKCS11Error as exc:
            raise TokenError(f"the token could not sign: {_describe(exc)}") from exc
        half = len(raw) // 2
        return encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))

    def probe(self) -> None:
        """Sign a fixed digest in the token and check it; raises TokenError when the token is gone."""
        signature = self.sign(_PROBE_DIGEST, ec.ECDSA(hashes.SHA256()))
        try:
            self._public.verify(signature, _PROBE_DIGEST, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature as exc:
            raise TokenError("the token signed with a key other than the configured one") from exc

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    def jose_key(self) -> ECKey:
        """Return this key as a joserfc key that signs through the token.

        joserfc describes a private key by exporting its numbers, which a token
        refuses; the description is the public JWK, the operations use this key.
        """
        key = ECKey(self, self)
        key._dict_value = ECKey.import_key(self._public).dict_value
        return key

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        raise TokenError("token signing keys do not do key agreement")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise TokenError("a token key cannot be exported")

    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes:
        raise TokenError("a token key cannot be exported")

    def __copy__(self) -> TokenECPrivateKey:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> TokenECPrivateKey:
        return self


def load_token_key(uri_text: str, module: Path | None, pin: str) -> TokenECPrivateKey:
    """Open the token named by ``uri_text`` and return its key; raises PKIError/TokenError in one line."""
    uri = parse_pkcs11_uri(uri_text)
    session = open_token(uri, module, pin)
    try:
        return session.private_key()
    except TokenError:
        session.close()
        raise


def generate_token_key(uri_text: str, module: Path | None, pin: str) -> TokenECPrivateKey:
    """Generate a P-256 key pair in the token under the URI's object label; raises PKIError/TokenError."""
    uri = parse_pkcs11_uri(uri_text)
    session = open_token(uri, module, pin)
    try:
        return session.generate_key()
    except TokenError:
        session.close()
        raise


def key_status(private_key: object) -> str:
    """Return "ok" for a usable signing key, else "error: …" (a token key is asked to sign a probe)."""
    if not isinstance(private_key, TokenECPrivateKey):
        return "ok"
    try:
        private_key.probe()
    except TokenError as exc:
        return f"error: {exc.detail}"
    return "ok"
