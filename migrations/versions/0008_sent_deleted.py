"""what each acknowledged push carried: the item, or its deletion (one definition of "listed
on an exchange": the exchange has the product when the newest push it acknowledged carried
the item)

Revision ID: 0008_sent_deleted
Revises: 0007_api_tokens
Create Date: 2026-12-06 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008_sent_deleted'
down_revision = '0007_api_tokens'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent_deleted', sa.Boolean(), nullable=True))


def downgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('sent_deleted')
