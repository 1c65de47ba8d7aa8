"""feed items: each exchange's built JSON item per product, kept between feeds; when an
exchange's profile last changed; the last day of daily jobs

Revision ID: 0005_feed_items
Revises: 0004_exchanges
Create Date: 2026-11-29 08:34:11

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005_feed_items'
down_revision = '0004_exchanges'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('daily_job',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('last_day', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_daily_job'))
    )
    with op.batch_alter_table('exchange', schema=None) as batch_op:
        batch_op.add_column(sa.Column('profile_changed_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('feed_item',
    sa.Column('exchange_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=120), nullable=False),
    sa.Column('fresh_until', sa.Date(), nullable=True),
    sa.Column('body', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['exchange_id'], ['exchange.id'], name=op.f('fk_feed_item_exchange_id_exchange'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_feed_item_product_id_product'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('exchange_id', 'product_id', name=op.f('pk_feed_item'))
    )
    with op.batch_alter_table('feed_item', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feed_item_product_id'), ['product_id'], unique=False)



def downgrade():
    with op.batch_alter_table('feed_item', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feed_item_product_id'))

    op.drop_table('feed_item')
    with op.batch_alter_table('exchange', schema=None) as batch_op:
        batch_op.drop_column('profile_changed_at')
    op.drop_table('daily_job')
