"""products: optional English ingredients, storage and usage instructions and warnings

Revision ID: 0012_english_instructions
Revises: 0011_english_zalo
Create Date: 2026-12-06 16:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012_english_instructions'
down_revision = '0011_english_zalo'
branch_labels = None
depends_on = None

COLUMNS = ('ingredients_en', 'storage_instructions_en', 'usage_instructions_en', 'warnings_en')


def upgrade():
    with op.batch_alter_table('product', schema=None) as batch_op:
        for name in COLUMNS:
            batch_op.add_column(sa.Column(name, sa.Text(), nullable=False, server_default=''))


def downgrade():
    with op.batch_alter_table('product', schema=None) as batch_op:
        for name in reversed(COLUMNS):
            batch_op.drop_column(name)
