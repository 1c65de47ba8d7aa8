"""stamps' pages keep room for new versions of their rows (PostgreSQL): every scan updates its
stamp's counters, and with full pages each update wrote a new entry in all four of the table's
indexes (4% of 4,000,000 updates were HOT in bench/scale.py); with 10% free, most stay on
their page and touch no index

Revision ID: 0019_stamp_fillfactor
Revises: 0018_exchange_page
Create Date: 2026-12-07 09:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0019_stamp_fillfactor'
down_revision = '0018_exchange_page'
branch_labels = None
depends_on = None

FILLFACTOR = 90  # (existing pages get the room as they are rewritten: VACUUM FULL or pg_repack)


def upgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(f'ALTER TABLE stamp SET (fillfactor = {FILLFACTOR})')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE stamp RESET (fillfactor)')
