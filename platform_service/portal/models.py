"""Portal settings tables: platform defaults, per-account overrides, versions, configurations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from platform_service.db.base import Base, BigIntPK, utcnow

# Where a configuration lives when it is not on a connected account.
PLATFORM = "platform"


class PlatformPortalSettings(Base):
    """The platform's defaults: one row (id 1) holding a `PortalSettingsPatch` as JSON."""

    __tablename__ = "platform_portal_settings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    patch: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(120))


class AccountPortalSettings(Base):
    """One account's overrides, the latest saved version and what is live on Stripe.

    `version` is the newest saved document; `live_version` the one whose
    configuration (`configuration_id` on `stripe_account`) sessions use. They
    differ while a sync is pending or failed (`sync_status`, `sync_error`).
    """

    __tablename__ = "account_portal_settings"

    account_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    overrides: Mapped[dict[str, Any]] = mapped_column(default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    live_version: Mapped[int | None] = mapped_column(Integer)
    sync_status: Mapped[str] = mapped_column(String(20), default="pending")
    sync_error: Mapped[str | None] = mapped_column(Text)
    # "platform" or the connected account id: where `configuration_id` lives.
    stripe_account: Mapped[str | None] = mapped_column(String(64))
    configuration_id: Mapped[str | None] = mapped_column(String(64), index=True)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    # The configuration's shareable login link as Stripe last returned it (login page on).
    login_page_url: Mapped[str | None] = mapped_column(Text)
    # Normalised (lower-case) so uniqueness across accounts is what DNS means.
    custom_domain: Mapped[str | None] = mapped_column(String(253), unique=True)
    synced_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PortalSettingsVersion(Base):
    """Every saved effective document of an account, with what it compiled to."""

    __tablename__ = "portal_settings_versions"
    __table_args__ = (UniqueConstraint("account_id", "version"),)

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    overrides: Mapped[dict[str, Any]] = mapped_column(default=dict)
    document: Mapped[dict[str, Any]] = mapped_column(default=dict)
    compiled: Mapped[dict[str, Any]] = mapped_column(default=dict)
    content_hash: Mapped[str] = mapped_column(String(64))
    stripe_account: Mapped[str] = mapped_column(String(64))
    configuration_id: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PortalConfiguration(Base):
    """A Stripe configuration the service made, keyed by where it lives and its content hash.

    Accounts with identical compiled settings on the same Stripe account share
    one row; which accounts use it is `AccountPortalSettings.configuration_id`.
    """

    __tablename__ = "portal_configurations"
    __table_args__ = (
        UniqueConstraint("stripe_account", "content_hash"),
        Index("ix_portal_configurations_configuration_id", "configuration_id"),
    )

    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    stripe_account: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))
    configuration_id: Mapped[str] = mapped_column(String(64))
    compiled: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
