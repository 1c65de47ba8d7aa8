"""scans answered but not yet counted, for several app servers (SCAN_BUFFER=database)

Revision ID: 0016_scan_inbox
Revises: 0015_scan_days
Create Date: 2026-12-06 19:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0016_scan_inbox'
down_revision = '0015_scan_days'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'scan_inbox',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('stamp_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('scanned_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('province_code', sa.Integer(), nullable=True),
        sa.Column('agent_family', sa.String(length=24), nullable=False),
        sa.Column('scanner', sa.String(length=16), nullable=True),
        sa.Column('test', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column('new', sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_scan_inbox')),
    )


def downgrade():
    op.drop_table('scan_inbox')
