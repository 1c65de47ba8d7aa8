"""exchanges and deliveries: the catalogue's destinations, pull-feed tokens, push outbox

Revision ID: 0004_exchanges
Revises: 0003_scans
Create Date: 2026-11-29 06:00:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0004_exchanges'
down_revision = '0003_scans'
branch_labels = None
depends_on = None

EXCHANGES = [
    ("thanhhoa", "Sàn giao dịch nông sản Thanh Hóa"),
    ("postmart", "Postmart (Bưu điện Việt Nam)"),
    ("google", "Google Merchant Center"),
    ("dfc", "Data Food Consortium"),
]


def upgrade():
    exchange = op.create_table('exchange',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('profile', sa.JSON(), nullable=True),
    sa.Column('feed_token_hash', sa.String(length=64), nullable=True),
    sa.Column('feed_token_created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('endpoint_url', sa.String(length=500), nullable=False, server_default=''),
    sa.Column('enabled', sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column('secret', sa.String(length=100), nullable=True),
    sa.Column('previous_secret', sa.String(length=100), nullable=True),
    sa.Column('previous_secret_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange')),
    sa.UniqueConstraint('code', name=op.f('uq_exchange_code'))
    )
    op.create_table('delivery',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('exchange_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('sent_version', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['exchange_id'], ['exchange.id'], name=op.f('fk_delivery_exchange_id_exchange'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_delivery_product_id_product'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery'))
    )
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_due', ['status', 'next_attempt_at'], unique=False)
        batch_op.create_index('ix_delivery_exchange_product', ['exchange_id', 'product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_delivery_product_id'), ['product_id'], unique=False)
    now = sa.func.current_timestamp()
    for code, name in EXCHANGES:
        op.execute(exchange.insert().values(code=code, name=name, created_at=now, updated_at=now))


def downgrade():
    op.drop_table('delivery')
    op.drop_table('exchange')
