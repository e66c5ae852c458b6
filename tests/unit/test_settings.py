from __future__ import annotations

import pytest

from platform_service.settings import ENV_VARS, Settings, SettingsError, load_settings


def test_defaults_are_the_embedded_ones() -> None:
    s = load_settings({})
    assert s.database_url == "sqlite+aiosqlite:///./platform_service.sqlite3"
    assert s.jobs_in_process
    assert s.uses_local_sandbox
    assert s.effective_rate_limit == 25.0


def test_env_values_are_typed_and_split() -> None:
    s = load_settings(
        {
            "DATABASE_URL": "postgres://u@h/db",
            "REDIS_URL": "redis://h:6379/1",
            "STRIPE_SECRET_KEY": "sk_live_x",
            "STRIPE_WEBHOOK_SECRETS": "whsec_a, whsec_b",
            "PLATFORM_PORT": "9000",
            "PLATFORM_SELLERS_EDIT_BRANDING": "false",
        }
    )
    assert s.database_url == "postgresql+asyncpg://u@h/db"
    assert s.stripe_webhook_secrets == ("whsec_a", "whsec_b")
    assert s.port == 9000
    assert s.sellers_edit_branding is False
    assert s.stripe_live_mode and s.effective_rate_limit == 100.0
    assert not s.jobs_in_process and not s.uses_local_sandbox


def test_a_bad_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="PLATFORM_PORT"):
        load_settings({"PLATFORM_PORT": "eighty"})


def test_a_live_key_never_talks_to_a_sandbox() -> None:
    with pytest.raises(SettingsError, match="STRIPE_API_BASE"):
        load_settings(
            {"STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_API_BASE": "http://127.0.0.1:12111"}
        )


def test_every_env_var_maps_to_a_field_and_is_documented() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    fields = set(Settings.__struct_fields__)
    for env, field in ENV_VARS.items():
        assert field in fields
        assert f"`{env}`" in readme, f"{env} is not in the README's configuration table"
