"""revocations.entry_der: pre-encoded CRL entries (fast CRL building)

Revision ID: 0003_revocation
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0003_revocation'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('revocations', schema=None) as batch_op:
        batch_op.add_column(sa.Column('entry_der', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('revocations', schema=None) as batch_op:
        batch_op.drop_column('entry_der')
