"""a product's page on each exchange, for buyers' "buy again" links (issue 20); a product's
deliveries by status on one index (its acknowledged pushes are counted), instead of by product alone

Revision ID: 0018_exchange_page
Revises: 0017_bank_account
Create Date: 2026-12-07 05:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018_exchange_page'
down_revision = '0017_bank_account'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'exchange_page',
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('exchange_id', sa.Integer(), nullable=False),
        sa.Column('typed_url', sa.String(length=500), nullable=True),
        sa.Column('named_url', sa.String(length=500), nullable=True),
        sa.Column('external_id', sa.String(length=120), nullable=True),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('changed_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['changed_by_id'], ['user.id'], name=op.f('fk_exchange_page_changed_by_id_user'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['exchange_id'], ['exchange.id'], name=op.f('fk_exchange_page_exchange_id_exchange'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_exchange_page_product_id_product'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('product_id', 'exchange_id', name=op.f('pk_exchange_page')),
    )
    op.create_index('ix_delivery_product_status', 'delivery', ['product_id', 'status'], unique=False)
    op.drop_index('ix_delivery_product_id', table_name='delivery')


def downgrade():
    op.create_index('ix_delivery_product_id', 'delivery', ['product_id'], unique=False)
    op.drop_index('ix_delivery_product_status', table_name='delivery')
    op.drop_table('exchange_page')
