"""producers' bank accounts, for buyers' VietQR transfers (issue 20)

Revision ID: 0017_bank_account
Revises: 0016_scan_inbox
Create Date: 2026-12-07 02:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0017_bank_account'
down_revision = '0016_scan_inbox'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'bank_account',
        sa.Column('producer_id', sa.Integer(), nullable=False),
        sa.Column('bank_bin', sa.String(length=6), nullable=False),
        sa.Column('account_number', sa.String(length=19), nullable=False),
        sa.Column('account_name', sa.String(length=50), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('changed_by_id', sa.Integer(), nullable=True),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['changed_by_id'], ['user.id'], name=op.f('fk_bank_account_changed_by_id_user'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['producer_id'], ['producer.id'], name=op.f('fk_bank_account_producer_id_producer'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('producer_id', name=op.f('pk_bank_account')),
    )
    op.create_index(op.f('ix_bank_account_changed_at'), 'bank_account', ['changed_at'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_bank_account_changed_at'), table_name='bank_account')
    op.drop_table('bank_account')
