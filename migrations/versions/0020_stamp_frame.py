"""stamp pages rendered ahead per lot and language (scan/frames.py): at a country's size most
scans are an app process's first of their lot, and rendering the lot's page then cost more
than the rest of the scan (bench/scale.py)

Revision ID: 0020_stamp_frame
Revises: 0019_stamp_fillfactor
Create Date: 2026-12-07 18:40:00

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '0020_stamp_frame'
down_revision = '0019_stamp_fillfactor'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'stamp_frame',
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=False),
        sa.Column('key', sa.String(length=400), nullable=False),
        sa.Column('html', sa.Text(), nullable=False),
        sa.Column('slot', sa.String(length=32), nullable=False),
        sa.Column('made_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_stamp_frame_batch_id_batch'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('batch_id', 'language', name=op.f('pk_stamp_frame')),
    )


def downgrade():
    op.drop_table('stamp_frame')
