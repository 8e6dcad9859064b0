"""All configuration, read once from the environment (prefix ``IPM_``)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"
DEV_ADMIN_PASSWORD = "admin-password"
DEV_WEBHOOK_SECRET = "whsec_dev_only"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IPM_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///./ipm.db"
    # PostgreSQL pool per process: sized to the requests one process serves at once (kept open).
    db_pool_size: int = 20
    db_max_overflow: int = 10
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"

    # Business clock: "system" follows the calendar (Asia/Shanghai); "manual" moves only on /clock/advance.
    clock: Literal["system", "manual"] = "system"
    clock_start: date | None = None
    timezone: str = "Asia/Shanghai"
    day_end_poll_seconds: int = 60

    admin_email: str = "admin@ipm.local"
    admin_password: str = DEV_ADMIN_PASSWORD

    jwt_secret: str = DEV_JWT_SECRET
    # Access tokens are short-lived; a rotating refresh token (POST /auth/refresh) renews them.
    jwt_ttl_seconds: int = Field(default=900, ge=1)
    refresh_ttl_seconds: int = Field(default=30 * 24 * 3600, ge=60)
    # Failed logins are counted per (account, client address): that address is locked out for
    # login_lockout_seconds, doubling with each further lockout up to login_lockout_max_seconds.
    login_max_failures: int = Field(default=5, ge=1)
    login_lockout_seconds: int = Field(default=300, ge=1)
    login_lockout_max_seconds: int = Field(default=24 * 3600, ge=1)
    # argon2 runs in worker threads, at most this many at once, so logins never block the event loop.
    password_hash_threads: int = Field(default=2, ge=1)

    # Per-client request limits (``limits`` notation, e.g. "10/minute;100/hour"): /auth/* has its own,
    # every other path but /health the default. Memory storage counts per process; a redis URL
    # (``redis://host:6379``, needs the ``redis`` package) shares the counts between processes.
    rate_limit_enabled: bool = True
    rate_limit_auth: str = "20/minute"
    rate_limit_default: str = "600/minute"
    rate_limit_storage_url: str = "memory://"

    # Outbound URLs (webhooks) must be https and resolve to public addresses; development (and the
    # tests) may also use http and private or loopback receivers. None: decided by IPM_ENV.
    outbound_allow_private: bool | None = None

    idempotency_ttl_hours: int = 48
    # Largest request body accepted (413 above it); 1 MiB is ample for every JSON call of the API.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)

    payment_provider: Literal["local", "http"] = "local"
    payment_api_base: str = "http://127.0.0.1:12111"
    payment_api_key: str = "sk_test_local"
    payment_webhook_secret: str = DEV_WEBHOOK_SECRET
    payment_timeout_seconds: float = 10.0
    payment_max_retries: int = 3
    # How long a request waits for the provider after committing its first phase before answering 202.
    payment_wait_seconds: float = Field(default=5.0, ge=0)
    # The reconciler re-drives payments left processing (or escrow releases and refunds left requested)
    # longer than this, every ``payment_reconcile_every_seconds``, with the same provider idempotency key.
    payment_reconcile_after_seconds: float = Field(default=300.0, ge=0)
    payment_reconcile_every_seconds: float = Field(default=60.0, gt=0)
    # The workers link committed ledger entries into the hash chain this often (finance/ledger/sealing.py).
    ledger_seal_every_seconds: float = Field(default=10.0, gt=0)

    # The outbox and its workers (kernel/outbox.py, ``python -m worker``).
    embedded_worker: bool = True  # the API process runs one worker too (the one-machine default)
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    worker_batch: int = Field(default=10, ge=1, le=500)
    worker_heartbeat_seconds: float = Field(default=5.0, gt=0)
    worker_stale_seconds: float = Field(default=30.0, gt=0)  # /ready fails when no worker beat this recently
    outbox_lease_seconds: float = Field(default=60.0, gt=0)
    outbox_max_attempts: int = Field(default=8, ge=1)
    outbox_backoff_seconds: float = Field(default=2.0, ge=0)
    outbox_backoff_max_seconds: float = Field(default=600.0, ge=0)
    outbox_retention_hours: int = Field(default=168, ge=1)

    # Webhooks (kernel/webhooks.py): a 2xx within the timeout is delivered; otherwise retried with backoff
    # doubling from webhook_backoff_seconds up to webhook_backoff_max_seconds, for webhook_retry_hours.
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_backoff_seconds: float = Field(default=30.0, ge=0)
    webhook_backoff_max_seconds: float = Field(default=6 * 3600.0, ge=0)
    webhook_retry_hours: float = Field(default=72.0, ge=0)

    # Files (kernel/storage.py): content-addressed blobs in storage_dir, or S3-compatible object storage
    # when storage_url is s3://bucket/prefix (endpoint and keys from the usual AWS_* variables, or
    # storage_s3_endpoint for a local S3-compatible server).
    storage_dir: str = "./storage"
    storage_url: str | None = None
    storage_s3_endpoint: str | None = None
    # Uploads (POST /imports, POST /documents) may be larger than max_body_bytes, up to this.
    max_upload_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    # Bulk imports (kernel/imports.py): rows per chunk (one transaction each) and rows per file.
    import_chunk_rows: int = Field(default=500, ge=1, le=10_000)
    import_max_rows: int = Field(default=200_000, ge=1)

    # High-value criterion (4): a pledge-financing amount at or above this many fen (default ¥10m).
    high_value_pledge_threshold: int = Field(default=10_000_000_00, ge=0)
    # Dormant pool: university-held granted patents with no transfer or license for this many years.
    dormant_years: int = Field(default=3, ge=1)
    # Loan servicing: days a borrower has to cure a margin call (add collateral or prepay).
    margin_call_cure_days: int = Field(default=30, ge=1, le=365)
    # Platform service fee on market deals, seller side, in bps of the deal amount (0: none).
    deal_fee_bps: int = Field(default=0, ge=0, le=3000)
    # Default loan-to-value of a geographical indication, bps; unset: the valuation data file's (30%).
    gi_ltv_bps: int | None = Field(default=None, ge=1, le=10000)

    @model_validator(mode="after")
    def _refuse_dev_secrets_outside_development(self) -> Settings:
        if self.env == "production":
            if self.jwt_secret == DEV_JWT_SECRET or len(self.jwt_secret) < 32:
                raise ValueError("IPM_JWT_SECRET must be set to a secret of at least 32 characters in production")
            if self.admin_password == DEV_ADMIN_PASSWORD:
                raise ValueError("IPM_ADMIN_PASSWORD must be changed in production")
            secrets = [x.strip() for x in self.payment_webhook_secret.split(",")]
            if DEV_WEBHOOK_SECRET in secrets or any(len(x) < 16 for x in secrets):
                raise ValueError("IPM_PAYMENT_WEBHOOK_SECRET must be real secrets (16+ characters) in production")
        return self

    @property
    def allows_private_outbound(self) -> bool:
        if self.outbound_allow_private is not None:
            return self.outbound_allow_private
        return self.env in ("development", "test")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
