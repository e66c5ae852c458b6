"""Branding tables: the platform's defaults, each account's own branding, uploaded files."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from platform_service.db.base import Base, TimestampMixin, utcnow


class _BrandingFields:
    """The seven branding fields; None means "not set here" (see rules.BrandingValues)."""

    display_name: Mapped[str | None] = mapped_column(String(200))
    logo: Mapped[str | None] = mapped_column(String(255))
    icon: Mapped[str | None] = mapped_column(String(255))
    button_color: Mapped[str | None] = mapped_column(String(7))
    background_color: Mapped[str | None] = mapped_column(String(7))
    font_family: Mapped[str | None] = mapped_column(String(100))
    border_style: Mapped[str | None] = mapped_column(String(20))


class PlatformBranding(_BrandingFields, TimestampMixin, Base):
    """The platform's default branding: a single row (id 1)."""

    __tablename__ = "platform_branding"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_by: Mapped[str | None] = mapped_column(String(120))


class AccountBranding(_BrandingFields, TimestampMixin, Base):
    """One account's own branding, the last write to Stripe and any drift seen since."""

    __tablename__ = "account_branding"

    account_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    # Bumped on every stored change or Stripe write; part of the write's idempotency key.
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_by: Mapped[str | None] = mapped_column(String(120))
    # Exactly what the last write sent to Stripe, in our field names
    # (display_name, logo, icon, button_color, background_color); drift is
    # measured against this, not against the own fields (which may inherit).
    stripe_written: Mapped[dict[str, Any] | None]
    stripe_written_at: Mapped[datetime | None]
    stripe_written_version: Mapped[int | None] = mapped_column(Integer)
    stripe_idempotency_key: Mapped[str | None] = mapped_column(String(255))
    # {field: {"expected": ..., "stripe": ...}} as last observed; empty when in sync.
    drift_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    drift_detected_at: Mapped[datetime | None]
    drift_checked_at: Mapped[datetime | None]


class BrandingFile(Base):
    """An image uploaded to Stripe (on the platform) for branding, keyed by content hash.

    The bytes are kept (under 512 KB by Stripe's rule) so previews can show the
    image without a Stripe key in the browser.
    """

    __tablename__ = "branding_files"
    __table_args__ = (UniqueConstraint("sha256", "purpose", name="uq_branding_files_sha256"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)  # Stripe file id
    sha256: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(10))  # logo | icon
    format: Mapped[str] = mapped_column(String(10))  # JPEG | PNG
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlatformStripeBranding(Base):
    """The platform's own account as Stripe holds it: a single row (id 1), read, never written.

    This is what portals of destination and separate-charges accounts show;
    the platform sets it in its Stripe Dashboard, and the service refreshes it
    on `account.updated` for the platform, on demand and in the reconcile sweep.
    """

    __tablename__ = "platform_stripe_branding"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    account_id: Mapped[str] = mapped_column(String(64))
    business_name: Mapped[str | None] = mapped_column(String(200))
    icon: Mapped[str | None] = mapped_column(String(255))
    logo: Mapped[str | None] = mapped_column(String(255))
    primary_color: Mapped[str | None] = mapped_column(String(7))
    secondary_color: Mapped[str | None] = mapped_column(String(7))
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
