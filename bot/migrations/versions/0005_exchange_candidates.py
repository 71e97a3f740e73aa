"""exchange candidates: what the search ranked for related and declined questions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 03:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing exchanges keep their shown hits in exchange_hits and simply have no candidates.
    op.create_table(
        "exchange_candidates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("exchange_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("measure_id", sa.String(length=16), nullable=False),
        sa.Column("chapter", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["exchange_id"],
            ["exchanges.id"],
            name=op.f("fk_exchange_candidates_exchange_id_exchanges"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_exchange_candidates")),
    )
    with op.batch_alter_table("exchange_candidates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_exchange_candidates_chapter"), ["chapter"], unique=False)
        batch_op.create_index(batch_op.f("ix_exchange_candidates_exchange_id"), ["exchange_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_exchange_candidates_measure_id"), ["measure_id"], unique=False)


def downgrade() -> None:
    op.drop_table("exchange_candidates")
