"""Settings refuse development secrets in production."""

import pytest
from pydantic import ValidationError

from kernel.settings import DEV_JWT_SECRET, Settings

GOOD = {"jwt_secret": "p" * 40, "admin_password": "a-real-admin-password", "payment_webhook_secret": "whsec_live_0123456789abcdef"}


def test_production_refuses_the_default_jwt_secret():
    with pytest.raises(ValidationError, match="IPM_JWT_SECRET"):
        Settings(env="production", **{**GOOD, "jwt_secret": DEV_JWT_SECRET})


def test_production_refuses_a_short_jwt_secret():
    with pytest.raises(ValidationError, match="IPM_JWT_SECRET"):
        Settings(env="production", **{**GOOD, "jwt_secret": "short"})


def test_production_refuses_the_default_admin_password_and_webhook_secret():
    with pytest.raises(ValidationError, match="IPM_ADMIN_PASSWORD"):
        Settings(env="production", **{**GOOD, "admin_password": "admin-password"})
    with pytest.raises(ValidationError, match="IPM_PAYMENT_WEBHOOK_SECRET"):
        Settings(env="production", **{**GOOD, "payment_webhook_secret": "whsec_dev_only"})


def test_production_with_real_secrets_and_development_defaults_are_fine():
    assert Settings(env="production", **GOOD).jwt_secret == GOOD["jwt_secret"]
    assert Settings(env="development").jwt_secret == DEV_JWT_SECRET


def test_environment_variables_use_the_ipm_prefix(monkeypatch):
    monkeypatch.setenv("IPM_HIGH_VALUE_PLEDGE_THRESHOLD", "123")
    monkeypatch.setenv("IPM_CLOCK", "system")
    settings = Settings()
    assert settings.high_value_pledge_threshold == 123 and settings.clock == "system"
    monkeypatch.setenv("IPM_CLOCK", "sundial")
    with pytest.raises(ValidationError):
        Settings()


def test_production_refuses_a_development_secret_anywhere_in_the_rotation_list():
    from kernel.settings import DEV_WEBHOOK_SECRET

    with pytest.raises(ValidationError, match="IPM_PAYMENT_WEBHOOK_SECRET"):
        Settings(env="production", **{**GOOD, "payment_webhook_secret": f"whsec_live_0123456789abcdef,{DEV_WEBHOOK_SECRET}"})
    with pytest.raises(ValidationError, match="IPM_PAYMENT_WEBHOOK_SECRET"):
        Settings(env="production", **{**GOOD, "payment_webhook_secret": "short"})
