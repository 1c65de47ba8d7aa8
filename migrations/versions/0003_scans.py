"""scans

Revision ID: 0003_scans
Revises: 0002_traceability
Create Date: 2026-11-25 19:45:09.057838

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003_scans'
down_revision = '0002_traceability'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('scan',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('stamp_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('scanned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('province_code', sa.Integer(), nullable=True),
    sa.Column('agent_family', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['stamp_id'], ['stamp.id'], name=op.f('fk_scan_stamp_id_stamp'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scan'))
    )
    with op.batch_alter_table('scan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scan_stamp_id'), ['stamp_id'], unique=False)

    with op.batch_alter_table('stamp', schema=None) as batch_op:
        batch_op.add_column(sa.Column('other_province_seen', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))



def downgrade():
    with op.batch_alter_table('stamp', schema=None) as batch_op:
        batch_op.drop_column('other_province_seen')

    with op.batch_alter_table('scan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scan_stamp_id'))

    op.drop_table('scan')
