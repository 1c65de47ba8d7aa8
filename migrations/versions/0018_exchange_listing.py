"""a product's page on each exchange, for buyers' "buy again" links (issue 20)

Revision ID: 0018_exchange_listing
Revises: 0017_bank_account
Create Date: 2026-12-07 05:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0018_exchange_listing'
down_revision = '0017_bank_account'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'exchange_listing',
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('exchange_id', sa.Integer(), nullable=False),
        sa.Column('url', sa.String(length=500), nullable=True),
        sa.Column('external_id', sa.String(length=120), nullable=True),
        sa.Column('source', sa.String(length=10), nullable=False),
        sa.Column('changed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('changed_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['changed_by_id'], ['user.id'], name=op.f('fk_exchange_listing_changed_by_id_user'),
                                ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['exchange_id'], ['exchange.id'],
                                name=op.f('fk_exchange_listing_exchange_id_exchange'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_exchange_listing_product_id_product'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('product_id', 'exchange_id', name=op.f('pk_exchange_listing')),
    )


def downgrade():
    op.drop_table('exchange_listing')
