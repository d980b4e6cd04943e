"""The SSO pages' labels in English and Spanish (merged into ``console.i18n.LABELS``)."""

from __future__ import annotations

from typing import Final

SSO_LABELS: Final[dict[str, tuple[str, str]]] = {
    "sso.button": ("Sign in with", "Entrar con"),
    "sso.or_local": (
        "Break-glass local account (password and authenticator code)",
        "Cuenta local de emergencia (contraseña y código del autenticador)",
    ),
    "sso.local_limited": (
        "Local sign-in is limited to named break-glass accounts on this node.",
        "El acceso local está limitado a cuentas de emergencia designadas en este nodo.",
    ),
    "sso.local_off": (
        "Local sign-in is turned off on this node: use your agency's sign-in.",
        "El acceso local está desactivado en este nodo: use el acceso de su agencia.",
    ),
    "sso.reason": ("Reason code", "Código de motivo"),
    "sso.retry": ("Start the agency sign-in again", "Volver a iniciar el acceso de la agencia"),
    "sso.break_glass": (
        "Break-glass local accounts can still sign in with a password and an authenticator code:",
        "Las cuentas locales de emergencia aún pueden entrar con contraseña y código del autenticador:",
    ),
    "sso.local_link": ("local sign-in", "acceso local"),
    "login.local_refused": (
        "Password sign-in is not allowed for this account on this node. Use your agency's sign-in.",
        "El acceso con contraseña no está permitido para esta cuenta en este nodo. Use el acceso de su agencia.",
    ),
    "error.console-sso-refused": ("Agency sign-in refused", "Acceso de la agencia rechazado"),
    "error.console-sso-not-configured": (
        "Agency sign-in is not set up on this node",
        "El acceso de la agencia no está configurado en este nodo",
    ),
    "error.console-sso-state": ("Sign-in answer not valid", "Respuesta de acceso no válida"),
    "error.console-sso-token": ("Identity token not accepted", "Token de identidad no aceptado"),
    "error.console-sso-account": ("Not allowed to use this console", "No autorizado para usar esta consola"),
    "error.console-sso-unavailable": ("Identity provider unavailable", "Proveedor de identidad no disponible"),
    "error.console-sso-provider-error": (
        "The identity provider refused the sign-in",
        "El proveedor de identidad rechazó el acceso",
    ),
}
