"""index certificates.issuer_id (issuer joins; foreign-key checks when rows that others point at are deleted)

Revision ID: 0005_issuer_index
Revises: 0004_login_lockout
"""
from alembic import op

revision = "0005_issuer_index"
down_revision = "0004_login_lockout"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_certificates_issuer", "certificates", ["issuer_id"])


def downgrade() -> None:
    op.drop_index("ix_certificates_issuer", table_name="certificates")
