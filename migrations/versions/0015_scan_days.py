"""scans per day, lot and province (the figures' source), folded days, stamps' folded scanners

Revision ID: 0015_scan_days
Revises: 0014_second_factor
Create Date: 2026-12-06 18:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0015_scan_days'
down_revision = '0014_second_factor'
branch_labels = None
depends_on = None

# The local (Asia/Ho_Chi_Minh) day of a stored UTC moment, as marketplace.models.base.local_day.
LOCAL_DAY = {
    'postgresql': "date(timezone('Asia/Ho_Chi_Minh', scan.scanned_at))",
    'sqlite': "date(scan.scanned_at, '+7 hours')",
}


def upgrade():
    op.create_table(
        'scan_day',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('province_code', sa.Integer(), nullable=False),
        sa.Column('scans', sa.Integer(), nullable=False),
        sa.Column('stamps', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['batch_id'], ['batch.id'], name=op.f('fk_scan_day_batch_id_batch'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('day', 'batch_id', 'province_code', name=op.f('pk_scan_day')),
    )
    with op.batch_alter_table('scan_day', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scan_day_batch_id'), ['batch_id'], unique=False)
    op.create_table(
        'scan_fold',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('folded_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('day', name=op.f('pk_scan_fold')),
    )
    with op.batch_alter_table('stamp', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scanners_folded', sa.Integer(), nullable=False, server_default='0'))
    with op.batch_alter_table('scan', schema=None) as batch_op:
        batch_op.create_index('ix_scan_scanned_at', ['scanned_at'], unique=False)
    # The buyers' scans recorded so far, counted once into their days.
    day = LOCAL_DAY.get(op.get_bind().dialect.name, LOCAL_DAY['sqlite'])
    op.execute(
        "INSERT INTO scan_day (day, batch_id, province_code, scans) "
        f"SELECT {day}, stamp.batch_id, COALESCE(scan.province_code, 0), COUNT(*) "
        "FROM scan JOIN stamp ON stamp.id = scan.stamp_id WHERE NOT scan.test "
        f"GROUP BY {day}, stamp.batch_id, COALESCE(scan.province_code, 0)")


def downgrade():
    with op.batch_alter_table('scan', schema=None) as batch_op:
        batch_op.drop_index('ix_scan_scanned_at')
    with op.batch_alter_table('stamp', schema=None) as batch_op:
        batch_op.drop_column('scanners_folded')
    op.drop_table('scan_fold')
    with op.batch_alter_table('scan_day', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scan_day_batch_id'))
    op.drop_table('scan_day')
