"""products: optional English name and description; producers: a Zalo number

Revision ID: 0011_english_zalo
Revises: 0010_shipping_titles_vat
Create Date: 2026-12-06 14:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011_english_zalo'
down_revision = '0010_shipping_titles_vat'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('name_en', sa.String(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('description_en', sa.Text(), nullable=False, server_default=''))
    with op.batch_alter_table('producer', schema=None) as batch_op:
        batch_op.add_column(sa.Column('zalo_phone', sa.String(length=20), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('producer', schema=None) as batch_op:
        batch_op.drop_column('zalo_phone')
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_column('description_en')
        batch_op.drop_column('name_en')
