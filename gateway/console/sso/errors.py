"""Why an SSO sign-in was refused. Each renders as the console's SSO refusal page (``sso.api``).

``reason`` is a short code for the page's wording and the log; ``detail``
says what happened and what the officer can do.
"""

from __future__ import annotations

from gateway.console.errors import ConsoleError


class SsoError(ConsoleError):
    """Base of every SSO sign-in refusal."""

    slug = "console-sso-refused"
    title = "Agency sign-in refused"
    status = 403

    def __init__(self, detail: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(detail, hint=hint)
        self.reason = reason


class SsoNotConfigured(SsoError):
    slug = "console-sso-not-configured"
    title = "Agency sign-in is not set up on this node"
    status = 404


class SsoFlowInvalid(SsoError):
    """The provider's answer does not belong to a sign-in this browser started (state, cookie, age)."""

    slug = "console-sso-state"
    title = "Sign-in link not valid"
    status = 400


class SsoTokenRejected(SsoError):
    """The ID token failed a check: signature, issuer, audience, expiry, issue time or nonce."""

    slug = "console-sso-token"
    title = "Identity token not accepted"
    status = 401


class SsoAccountRefused(SsoError):
    """The provider vouched for someone this node does not let in (no mapped group, no MFA, disabled...)."""

    slug = "console-sso-account"
    title = "Not allowed to use this console"
    status = 403


class ProviderUnavailable(SsoError):
    """The provider could not be reached, or answered with something that is not OpenID Connect."""

    slug = "console-sso-unavailable"
    title = "Identity provider unavailable"
    status = 503


class ProviderRefused(SsoError):
    """The provider answered with an error (access_denied, invalid_grant for a used code...)."""

    slug = "console-sso-provider-error"
    title = "Identity provider refused the sign-in"
    status = 502
