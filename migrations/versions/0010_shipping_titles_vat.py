"""products: short name for exchanges with short titles, packed weight and package
dimensions for shipping, VAT rate

Revision ID: 0010_shipping_titles_vat
Revises: 0009_authenticity
Create Date: 2026-12-06 13:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010_shipping_titles_vat'
down_revision = '0009_authenticity'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('short_name', sa.String(length=120), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('packed_weight_g', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('package_length_cm', sa.Numeric(precision=6, scale=1), nullable=True))
        batch_op.add_column(sa.Column('package_width_cm', sa.Numeric(precision=6, scale=1), nullable=True))
        batch_op.add_column(sa.Column('package_height_cm', sa.Numeric(precision=6, scale=1), nullable=True))
        batch_op.add_column(sa.Column('vat_rate', sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table('product', schema=None) as batch_op:
        for column in ('vat_rate', 'package_height_cm', 'package_width_cm', 'package_length_cm',
                       'packed_weight_g', 'short_name'):
            batch_op.drop_column(column)
