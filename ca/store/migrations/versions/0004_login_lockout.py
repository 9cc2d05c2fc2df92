"""users.locked_until: an account locked after repeated failed logins (shared by every node)

Revision ID: 0004_login_lockout
Revises: 0003_revocation
"""
from alembic import op
import sqlalchemy as sa

revision = "0004_login_lockout"
down_revision = "0003_revocation"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("locked_until")
