"""The one Settings object: environment (``GATEWAY_*``) and an optional TOML file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from gateway.errors import ConfigurationError
from gateway.settings_env import PlainEnvSettingsSource, describe_settings_error
from gateway.trust.parties import PartyCode


class Settings(BaseSettings):
    """Node configuration. Paths are resolved relative to the working directory."""

    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="forbid", frozen=True)

    party: PartyCode = Field(description="This node's party code (ISO 3166-1 alpha-2); the trust bundle must hold it")
    agency_name: str = Field(default="", description="Name put on records this node signs for officers")
    node_name: str = Field(default="", description="Checkpoint origin; defaults to '<party>-gateway'")
    data_dir: Path = Path("./var")
    database_url: SecretStr | None = Field(default=None, description="SQLAlchemy URL; unset means SQLite in data_dir")
    # A connection beyond the pool is closed again after one use, and a new
    # PostgreSQL connection costs a server process and a login: a pool smaller
    # than the requests, delivery threads and jobs running at once spent more
    # CPU opening connections than receiving records.
    database_pool_size: int = Field(
        default=12, ge=1, le=200, description="PostgreSQL connections each process keeps open"
    )
    database_max_overflow: int = Field(
        default=4, ge=0, le=200, description="PostgreSQL connections opened beyond the pool at a peak, then closed"
    )

    partner_host: str = "127.0.0.1"
    partner_port: int = 8443
    agency_host: str = "127.0.0.1"
    agency_port: int = 8080
    agency_tls: bool = False

    tls_cert: Path | None = None
    tls_key: Path | None = None
    signing_cert: Path | None = None
    signing_key: Path | None = None
    signing_chain: Path | None = None
    # A signing key in a PKCS#11 token (HSM) instead of signing_key; see gateway/trust/token_keys.py.
    signing_key_uri: str | None = Field(
        default=None,
        description="RFC 7512 URI of the record-signing key in a PKCS#11 token (pkcs11:token=…;object=…), "
        "used instead of signing_key",
    )
    pkcs11_module: Path | None = Field(default=None, description="The token's PKCS#11 library (.so)")
    pkcs11_pin: SecretStr | None = Field(
        default=None, description="User PIN of the token; environment only (GATEWAY_PKCS11_PIN), never the TOML file"
    )
    pkcs11_pin_file: Path | None = Field(default=None, description="File holding the token's user PIN")
    trust_bundle: Path | None = None
    terms_files: list[Path] = Field(
        default_factory=list,
        description="Signed terms YAML files (every version this node holds; the newest live one is used)",
    )
    partners: dict[str, str] = Field(default_factory=dict, description="party code → partner listener base URL")

    run_worker: bool = True
    delivery_batch: int = Field(default=100, ge=1, le=500)
    # Delivery workers `gateway serve` runs (`gateway worker --threads` for a separate worker).
    delivery_threads: int = Field(default=2, ge=1, le=32)
    delivery_poll_seconds: float = Field(default=0.5, gt=0)
    delivery_coalesce_seconds: float = Field(
        default=0.05,
        ge=0,
        le=5,
        description="How long a delivery thread waits for another thread's small request in flight, so that "
        "records committed meanwhile go out together in the next request (0 = never wait)",
    )
    delivery_backoff_base_seconds: float = Field(default=1.0, gt=0)
    delivery_backoff_max_seconds: float = Field(default=300.0, gt=0)
    delivery_deadline_seconds: float = Field(default=48 * 3600.0, gt=0)
    delivery_timeout_seconds: float = Field(default=15.0, gt=0)

    run_ledger_scheduler: bool = Field(default=True, description="Sign checkpoints and witness partners in `serve`")
    checkpoint_every_entries: int = Field(default=1000, ge=1)
    checkpoint_every_seconds: float = Field(default=60.0, gt=0)
    witness_interval_seconds: float = Field(default=60.0, gt=0)
    witness_timeout_seconds: float = Field(default=10.0, gt=0)

    lifecycle_apply_deadline_hours: float = Field(
        default=72.0, gt=0, description="Hours recipients have to apply a correction or retraction before they lag"
    )
    run_retention_scheduler: bool = Field(default=True, description="Run the retention job periodically in `serve`")
    retention_run_seconds: float = Field(default=3600.0, gt=0, description="How often `serve` runs the retention job")

    standing_check_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="How often `serve` looks for records made suspect by a CRL (0 = never; docs/evidence.md)",
    )
    terms_check_seconds: float = Field(
        default=300.0, ge=0, description="How often partners' terms are compared with ours (0 = never)"
    )
    max_record_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_batch_records: int = Field(default=500, ge=1, le=10000)
    token_lifetime_seconds: int = Field(default=900, ge=60)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = Field(
        default="json", description="json: one JSON object per line (for log shippers); text: for a terminal"
    )
    rate_limit_partner_per_minute: int = Field(
        default=6000, ge=0, description="Requests per minute per partner on the partner listener, per process (0 = off)"
    )
    rate_limit_client_per_minute: int = Field(
        default=6000,
        ge=0,
        description="Requests per minute per API client (per address without a token) on the agency listener, "
        "per process (0 = off)",
    )
    certificate_warning_days: int = Field(
        default=30, ge=1, description="/readyz warns when a certificate has fewer days left"
    )
    worker_metrics_port: int = Field(
        default=0, ge=0, le=65535, description="`gateway worker`: serve /metrics and /healthz on this port (0 = off)"
    )
    agency_body_limit_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest request body the agency listener reads (413 past it, with or without Content-Length)",
    )
    operations_token: SecretStr | None = Field(
        default=None,
        description="Bearer token for /metrics, /docs, /openapi.json and /readyz detail (unset: those are refused)",
    )
    operations_token_file: Path | None = Field(
        default=None, description="File holding the operations token (instead of operations_token)"
    )
    totp_encryption_key: SecretStr | None = Field(
        default=None, description="Base64 of 32 random bytes: the AES-256-GCM key of officers' TOTP seeds"
    )
    totp_encryption_key_file: Path | None = Field(
        default=None, description="File holding the TOTP encryption key (instead of totp_encryption_key)"
    )
    # Record bodies sealed at rest (gateway.vault): the key-encryption key wraps
    # every record's data key; the key store holds the wrapped keys, apart from the database.
    kek_file: Path | None = Field(
        default=None,
        description="File holding the key-encryption key (base64 of 32 bytes; `gateway keys new-kek`)",
    )
    kek_uri: str | None = Field(
        default=None,
        description="RFC 7512 URI of an AES-256 key-encryption key in the PKCS#11 token (`gateway keys new-kek "
        "--pkcs11 URI`), used instead of kek_file; module and PIN as for signing_key_uri",
    )
    keystore_url: SecretStr | None = Field(
        default=None, description="SQLAlchemy URL of the key store; unset means SQLite keystore.sqlite3 in data_dir"
    )

    # Officers' sign-in through the agency's OpenID Connect provider (gateway.console.sso).
    oidc_issuer: str | None = Field(
        default=None, description="Issuer URL of the agency's OpenID Connect provider (unset: no SSO sign-in)"
    )
    oidc_client_id: str | None = Field(default=None, description="This node's client id at the provider")
    oidc_client_secret_file: Path | None = Field(default=None, description="File holding the client secret")
    oidc_scopes: list[str] = Field(default_factory=lambda: ["openid", "email", "profile"])
    oidc_groups_claim: str = Field(default="groups", description="ID token claim that lists the user's groups")
    oidc_group_roles: dict[str, Literal["viewer", "reviewer", "admin"]] = Field(
        default_factory=dict, description="Provider group → console role; a user with no mapped group is refused"
    )
    oidc_username_claim: str = Field(
        default="email", description="Claim naming the officer; 'email' is accepted only with email_verified true"
    )
    oidc_required_acr: list[str] = Field(default_factory=list, description="Refuse unless acr is one of these")
    oidc_required_amr: list[str] = Field(
        default_factory=list, description="Refuse unless amr contains one of these (e.g. mfa, otp, hwk)"
    )
    oidc_session_max_seconds: int = Field(default=8 * 3600, ge=60, description="Longest SSO console session")
    oidc_session_ends_with_id_token: bool = Field(
        default=True, description="An SSO console session ends when its ID token expires"
    )
    oidc_max_auth_age_seconds: int | None = Field(
        default=None, ge=0, description="Ask the provider to re-authenticate after this long (max_age, auth_time)"
    )
    oidc_clock_skew_seconds: int = Field(default=60, ge=0, le=300, description="Leeway for exp, iat and auth_time")
    oidc_redirect_uri: str | None = Field(
        default=None,
        description="Callback URL registered at the provider (default: this listener's /console/sso/callback)",
    )
    oidc_display_name: str = Field(default="", description="Provider name on the sign-in button")
    console_local_signin: bool = Field(default=True, description="Allow password + TOTP sign-in (break-glass)")
    console_local_accounts: list[str] = Field(
        default_factory=list, description="When set, only these officers may sign in with password + TOTP"
    )

    @property
    def agency(self) -> str:
        return self.agency_name or f"{self.party} MOU Gateway"

    @property
    def origin(self) -> str:
        return self.node_name or f"{self.party}-gateway"

    def keystore_sqlalchemy_url(self) -> str:
        """Return the key store's URL, defaulting to an SQLite file in the data dir (never the records database)."""
        if self.keystore_url is not None:
            return self.keystore_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'keystore.sqlite3').resolve()}"

    def engine_options(self) -> dict[str, int]:
        """Pool options for the database engine (a server database only; SQLite keeps its own pool)."""
        if self.sqlalchemy_url().startswith("sqlite"):
            return {}
        return {"pool_size": self.database_pool_size, "max_overflow": self.database_max_overflow}

    def sqlalchemy_url(self) -> str:
        """Return the database URL, defaulting to an SQLite file in the data dir."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite:///{(self.data_dir / 'gateway.sqlite3').resolve()}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit values (from the TOML file or tests) win over the environment,
        # whose list and map settings may be plain comma lists as well as JSON.
        return (init_settings, PlainEnvSettingsSource(settings_cls))


def load_settings(config: Path | None = None) -> Settings:
    """Return Settings from the environment and, when given, a TOML file.

    Raises ConfigurationError naming the offending setting.
    """
    values: dict[str, object] = {}
    if config is not None:
        try:
            values = tomllib.loads(config.read_text("utf-8"))
        except OSError as exc:
            raise ConfigurationError(f"cannot read {config}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{config} is not valid TOML: {exc}") from exc
        values = values.get("gateway", values)  # type: ignore[assignment]
        if "pkcs11_pin" in values:
            raise ConfigurationError(
                f"{config} holds pkcs11_pin; a token PIN never goes into the configuration file",
                hint="set GATEWAY_PKCS11_PIN or pkcs11_pin_file instead",
            )
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigurationError(describe_settings_error(exc, config, set(values))) from exc
    except SettingsError as exc:  # an environment value pydantic-settings could not read
        raise ConfigurationError(str(exc)) from exc
