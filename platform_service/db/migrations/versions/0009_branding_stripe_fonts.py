"""branding: font_family takes Stripe's closed list of fonts

Free-form CSS font families never reached Stripe (the portal's font is set in
Stripe's Dashboard, and Checkout takes only its own list), so each stored value
becomes the Stripe font its first family names ("Open Sans, sans-serif" ->
`open_sans`) or, when it names none of them, is cleared: no Stripe surface could
show it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 13:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A copy, not an import: a migration must keep meaning what it meant when written.
STRIPE_FONTS = frozenset(
    [
        "default",
        "be_vietnam_pro",
        "bitter",
        "chakra_petch",
        "hahmlet",
        "inconsolata",
        "inter",
        "lato",
        "lora",
        "m_plus_1_code",
        "montserrat",
        "noto_sans",
        "noto_sans_jp",
        "noto_serif",
        "nunito",
        "open_sans",
        "pridi",
        "pt_sans",
        "pt_serif",
        "raleway",
        "roboto",
        "roboto_slab",
        "source_sans_pro",
        "titillium_web",
        "ubuntu_mono",
        "zen_maru_gothic",
    ]
)


def stripe_font(css: str) -> str | None:
    first = css.split(",")[0].strip().strip("'\"").strip().lower()
    name = first.replace(" ", "_").replace("-", "_")
    return name if name in STRIPE_FONTS else None


def upgrade() -> None:
    bind = op.get_bind()
    for table in ("platform_branding", "account_branding"):
        # Few distinct values whatever the row count: map each once in Python.
        # `table` is one of the two literals above, never input.
        values = bind.execute(
            sa.text(f"SELECT DISTINCT font_family FROM {table} WHERE font_family IS NOT NULL")  # noqa: S608
        ).scalars()
        for value in list(values):
            mapped = stripe_font(value)
            if mapped != value:
                bind.execute(
                    sa.text(f"UPDATE {table} SET font_family = :new WHERE font_family = :old"),  # noqa: S608
                    {"new": mapped, "old": value},
                )


def downgrade() -> None:
    pass  # the Stripe names are valid free-form values too
