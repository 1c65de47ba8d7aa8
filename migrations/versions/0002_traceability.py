"""traceability: batches, diary, stamp runs, stamps

Revision ID: 0002_traceability
Revises: 0001_foundation
Create Date: 2026-11-25 19:10:22.431933

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002_traceability'
down_revision = '0001_foundation'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('batch',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('lot_code', sa.String(length=20), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('production_date', sa.Date(), nullable=False),
    sa.Column('expiry_date', sa.Date(), nullable=True),
    sa.Column('growing_area', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('recall_reason', sa.Text(), nullable=False),
    sa.Column('recalled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('recalled_by_id', sa.Integer(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_batch_created_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_batch_product_id_product'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['recalled_by_id'], ['user.id'], name=op.f('fk_batch_recalled_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_batch')),
    sa.UniqueConstraint('product_id', 'lot_code', name='uq_batch_product_lot')
    )
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_batch_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_batch_status'), ['status'], unique=False)

    op.create_table('stamp_run',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('downloads', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('activated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_stamp_run_batch_id_batch'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['created_by_id'], ['user.id'], name=op.f('fk_stamp_run_created_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stamp_run'))
    )
    with op.batch_alter_table('stamp_run', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stamp_run_batch_id'), ['batch_id'], unique=False)

    op.create_table('trace_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('timezone', sa.String(length=40), nullable=False),
    sa.Column('place', sa.String(length=200), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('photo', sa.String(length=64), nullable=True),
    sa.Column('corrects_id', sa.Integer(), nullable=True),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_trace_event_batch_id_batch'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['corrects_id'], ['trace_event.id'], name=op.f('fk_trace_event_corrects_id_trace_event'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user.id'], name=op.f('fk_trace_event_recorded_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trace_event')),
    sa.UniqueConstraint('batch_id', 'seq', name='uq_trace_event_batch_seq')
    )
    with op.batch_alter_table('trace_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_trace_event_batch_id'), ['batch_id'], unique=False)

    op.create_table('stamp',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('serial', sa.String(length=16), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('scan_count', sa.Integer(), nullable=False),
    sa.Column('first_scan_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('first_scan_province', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_stamp_batch_id_batch'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['run_id'], ['stamp_run.id'], name=op.f('fk_stamp_run_id_stamp_run'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stamp')),
    sa.UniqueConstraint('serial', name=op.f('uq_stamp_serial'))
    )
    with op.batch_alter_table('stamp', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stamp_batch_id'), ['batch_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_stamp_run_id'), ['run_id'], unique=False)



def downgrade():
    with op.batch_alter_table('stamp', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stamp_run_id'))
        batch_op.drop_index(batch_op.f('ix_stamp_batch_id'))

    op.drop_table('stamp')
    with op.batch_alter_table('trace_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_trace_event_batch_id'))

    op.drop_table('trace_event')
    with op.batch_alter_table('stamp_run', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stamp_run_batch_id'))

    op.drop_table('stamp_run')
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_batch_status'))
        batch_op.drop_index(batch_op.f('ix_batch_product_id'))

    op.drop_table('batch')
