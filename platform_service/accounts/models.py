"""Connected accounts, onboarding refresh tokens and import runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from advanced_alchemy.types import JsonB
from sqlalchemy import Boolean, Index, String, Text, func, text
from sqlalchemy.orm import Mapped, mapped_column

from platform_service.db.base import Base, BigIntPK, TimestampMixin, new_id, utcnow


class ConnectedAccount(TimestampMixin, Base):
    """A seller: its Stripe account id, the platform's own id for it, and its onboarding state."""

    __tablename__ = "accounts"
    __table_args__ = (
        # Keyset pages: newest first on `seq`, optionally within one filter value.
        Index("ix_accounts_status_seq", "status", "seq"),
        Index("ix_accounts_charge_model_seq", "charge_model", "seq"),
        Index("ix_accounts_country_seq", "country", "seq"),
        Index("ix_accounts_synced_at", "synced_at"),
        # `q=` an email: an exact, case-insensitive match (the trigram index serves the rest).
        Index("ix_accounts_email_lower", func.lower(text("email"))),
    )

    # `seq` orders pages (keyset) and is the primary key so both databases
    # autoincrement it; `id` is Stripe's account id, the one the API speaks.
    seq: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    external_ref: Mapped[str | None] = mapped_column(String(200), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    country: Mapped[str | None] = mapped_column(String(2))
    business_name: Mapped[str | None] = mapped_column(String(200))
    charge_model: Mapped[str] = mapped_column(String(40))
    account_kind: Mapped[str] = mapped_column(String(20))
    # The Stripe Accounts API this account is read and written through: "v1" or "v2".
    accounts_api: Mapped[str] = mapped_column(String(2), default="v1", server_default="v1")
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    # Lower-cased business name, email and external_ref: one column for `q` search
    # (a trigram GIN index on PostgreSQL).
    search_text: Mapped[str] = mapped_column(Text, default="")

    status: Mapped[str] = mapped_column(String(32))
    status_reason: Mapped[str] = mapped_column(Text, default="")
    next_action: Mapped[str] = mapped_column(String(40))
    due_fields: Mapped[list[str]] = mapped_column(JsonB, default=list)
    due_deadline: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(String(80))
    charges_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    payouts_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    details_submitted: Mapped[bool] = mapped_column(Boolean, default=False)
    onboarding_started: Mapped[bool] = mapped_column(Boolean, default=False)
    disconnected_at: Mapped[datetime | None]
    # The Stripe object as last fetched (the fields the service reads).
    stripe_snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    synced_at: Mapped[datetime | None]


class OnboardingRefreshToken(Base):
    """Lets a seller's browser mint a fresh account link when the old one expired."""

    __tablename__ = "onboarding_refresh_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(64), index=True)
    link_type: Mapped[str] = mapped_column(String(40))
    return_url: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AccountImport(Base):
    """One run of `POST /v1/accounts/import`, with its progress."""

    __tablename__ = "account_imports"
    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("imp"))
    status: Mapped[str] = mapped_column(String(20), default="queued")
    charge_model: Mapped[str] = mapped_column(String(40))
    accounts_api: Mapped[str] = mapped_column(String(2), default="v1", server_default="v1")
    seen: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    last_account_id: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
