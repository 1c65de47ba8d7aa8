"""officers' jurisdictions: the whole province, or a list of communes and wards

Revision ID: 0013_officer_scope
Revises: 0012_english_instructions
Create Date: 2026-12-06 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013_officer_scope'
down_revision = '0012_english_instructions'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('scope', sa.String(length=16), nullable=False, server_default='province'))
    op.create_table(
        'officer_ward',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('ward_code', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_officer_ward_user_id_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', 'ward_code', name=op.f('pk_officer_ward')),
    )
    with op.batch_alter_table('officer_ward', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_officer_ward_ward_code'), ['ward_code'], unique=False)


def downgrade():
    with op.batch_alter_table('officer_ward', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_officer_ward_ward_code'))
    op.drop_table('officer_ward')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('scope')
