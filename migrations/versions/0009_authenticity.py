"""authenticity: distinct scanners and test scans, the day's scanner key, made-up serial
probes, buyers' reports, scratch-off codes per stamp run

Revision ID: 0009_authenticity
Revises: 0008_sent_deleted
Create Date: 2026-12-06 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009_authenticity'
down_revision = '0008_sent_deleted'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    with op.batch_alter_table('scan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scanner', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('test', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.create_index('ix_scan_stamp_scanner', ['stamp_id', 'scanner'], unique=False)
        batch_op.drop_index('ix_scan_stamp_id')  # the new index starts with stamp_id

    with op.batch_alter_table('stamp', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scanner_count', sa.Integer(), nullable=False, server_default='0'))
        batch_op.add_column(sa.Column('scratch_verified_at', sa.DateTime(timezone=True), nullable=True))
    # Scans from before scanners were recorded count as one scanner (marketplace.scan.recorder).
    op.execute("UPDATE stamp SET scanner_count = 1 WHERE scan_count > 0")

    with op.batch_alter_table('stamp_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scratch', sa.Boolean(), nullable=False, server_default=sa.false()))

    op.create_table('scanner_key',
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('day', name=op.f('pk_scanner_key'))
    )
    op.create_table('serial_probe',
    sa.Column('id', BigId, nullable=False),
    sa.Column('gtin', sa.String(length=14), nullable=True),
    sa.Column('lot', sa.String(length=20), nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('province_code', sa.Integer(), nullable=True),
    sa.Column('probed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_serial_probe_product_id_product'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_serial_probe'))
    )
    with op.batch_alter_table('serial_probe', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_serial_probe_gtin'), ['gtin'], unique=False)
        batch_op.create_index(batch_op.f('ix_serial_probe_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_serial_probe_probed_at'), ['probed_at'], unique=False)

    op.create_table('buyer_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('stamp_id', BigId, nullable=True),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('code', sa.String(length=32), nullable=False, server_default=''),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False, server_default=''),
    sa.Column('phone', sa.String(length=20), nullable=False, server_default=''),
    sa.Column('photo', sa.String(length=64), nullable=True),
    sa.Column('province_code', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('handled_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['handled_by_id'], ['user.id'], name=op.f('fk_buyer_report_handled_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_buyer_report_product_id_product'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['stamp_id'], ['stamp.id'], name=op.f('fk_buyer_report_stamp_id_stamp'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_buyer_report'))
    )
    with op.batch_alter_table('buyer_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_buyer_report_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_buyer_report_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_buyer_report_stamp_id'), ['stamp_id'], unique=False)


def downgrade():
    op.drop_table('buyer_report')
    op.drop_table('serial_probe')
    op.drop_table('scanner_key')
    with op.batch_alter_table('stamp_run', schema=None) as batch_op:
        batch_op.drop_column('scratch')
    with op.batch_alter_table('stamp', schema=None) as batch_op:
        batch_op.drop_column('scratch_verified_at')
        batch_op.drop_column('scanner_count')
    with op.batch_alter_table('scan', schema=None) as batch_op:
        batch_op.create_index('ix_scan_stamp_id', ['stamp_id'], unique=False)
        batch_op.drop_index('ix_scan_stamp_scanner')
        batch_op.drop_column('test')
        batch_op.drop_column('scanner')
