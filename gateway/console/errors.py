"""Errors of the officer console.

The console renders its errors as HTML pages (see ``api.install_console``);
the CLI prints them as one-line messages like every other GatewayError.
"""

from __future__ import annotations

from gateway.errors import ConflictError, GatewayError, InputError, NotFoundError


class ConsoleError(GatewayError):
    """Base of the errors a console page shows as an HTML error page."""

    slug = "console-error"
    title = "Console error"


class LoginRequired(ConsoleError):
    """No valid session: the browser is sent to the login page."""

    slug = "console-login-required"
    title = "Sign-in required"
    status = 401


class PasswordChangeRequired(ConsoleError):
    """The officer signed in with a one-time password: the browser is sent to choose a new one."""

    slug = "console-password-change-required"
    title = "Password change required"
    status = 403


class ForbiddenAction(ConsoleError):
    """The officer's role does not allow this page or action."""

    slug = "console-forbidden"
    title = "Not allowed for your role"
    status = 403


class CsrfRejected(ConsoleError):
    """A form was posted without this session's CSRF token."""

    slug = "console-csrf"
    title = "Form token missing or invalid"
    status = 403


class PageNotFound(ConsoleError, NotFoundError):
    slug = "console-not-found"
    title = "Not found"
    status = 404


class ActionRefused(ConsoleError, ConflictError):
    """The record cannot be answered now (invalid, already answered, not received)."""

    slug = "console-action-refused"
    title = "Action not possible"
    status = 409


class FormInvalid(ConsoleError, InputError):
    slug = "console-form-invalid"
    title = "Form incomplete"
    status = 400


class OfficerExists(InputError):
    slug = "officer-exists"
    title = "Officer already exists"


class OfficerNotFound(NotFoundError):
    slug = "officer-not-found"
    title = "Officer not found"


class WeakPassword(FormInvalid):
    slug = "console-weak-password"
    title = "Password not accepted"
