"""audit trail: officers' and admins' actions, with before and after; when a stamp's
clone alert was handled; lifting a batch's recall

Revision ID: 0006_audit
Revises: 0005_feed_items
Create Date: 2026-11-29 09:10:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006_audit'
down_revision = '0005_feed_items'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.add_column(sa.Column('recall_lifted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('recall_lifted_by_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('recall_lift_note', sa.Text(), server_default='', nullable=False))
        batch_op.create_foreign_key(batch_op.f('fk_batch_recall_lifted_by_id_user'), 'user', ['recall_lifted_by_id'],
                                    ['id'], ondelete='SET NULL')
    with op.batch_alter_table('stamp', schema=None) as batch_op:  # ADD COLUMN: no table copy
        batch_op.add_column(sa.Column('alert_handled_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('audit_entry',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('actor_email', sa.String(length=254), nullable=False),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=48), nullable=False),
    sa.Column('target_type', sa.String(length=32), nullable=False),
    sa.Column('target_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('summary', sa.String(length=255), nullable=False),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], name=op.f('fk_audit_entry_actor_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_entry'))
    )
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_entry_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_actor_id'), ['actor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_entry_at'), ['at'], unique=False)
        batch_op.create_index('ix_audit_entry_target', ['target_type', 'target_id'], unique=False)



def downgrade():
    with op.batch_alter_table('audit_entry', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_entry_target')
        batch_op.drop_index(batch_op.f('ix_audit_entry_at'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_actor_id'))
        batch_op.drop_index(batch_op.f('ix_audit_entry_action'))

    op.drop_table('audit_entry')
    with op.batch_alter_table('stamp', schema=None) as batch_op:
        batch_op.drop_column('alert_handled_at')
    with op.batch_alter_table('batch', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_batch_recall_lifted_by_id_user'), type_='foreignkey')
        batch_op.drop_column('recall_lift_note')
        batch_op.drop_column('recall_lifted_by_id')
        batch_op.drop_column('recall_lifted_at')
