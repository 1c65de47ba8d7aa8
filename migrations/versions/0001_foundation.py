"""Foundation: producers, products, OCOP groups, recognitions, certifications, accounts.

Also seeds the OCOP product groups of Decision 148/QĐ-TTg (24/02/2023).

Revision ID: 0001_foundation
Revises: 
Create Date: 2026-11-25 18:27:36.323243

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0001_foundation'
down_revision = None
branch_labels = None
depends_on = None

# OCOP product groups and sub-groups, Decision 148/QĐ-TTg (2023): id, code, parent, vi, en.
OCOP_GROUPS = [
    (1, "1", None, "Thực phẩm", "Food"),
    (2, "1.1", 1, "Nông sản tươi sống", "Fresh agricultural produce"),
    (3, "1.2", 1, "Nông sản sơ chế", "Minimally processed produce"),
    (4, "1.3", 1, "Thực phẩm chế biến", "Processed food"),
    (5, "1.4", 1, "Gia vị", "Condiments and spices"),
    (6, "1.5", 1, "Chè và sản phẩm từ chè", "Tea and tea products"),
    (7, "1.6", 1, "Cà phê, ca cao", "Coffee and cocoa"),
    (8, "1.7", 1, "Thực phẩm tiện lợi", "Convenience food"),
    (9, "2", None, "Đồ uống", "Beverages"),
    (10, "2.1", 9, "Đồ uống có cồn", "Alcoholic beverages"),
    (11, "2.2", 9, "Đồ uống không cồn", "Non-alcoholic beverages"),
    (12, "3", None, "Thảo dược", "Herbal products"),
    (13, "3.1", 12, "Sản phẩm có thành phần từ thảo dược", "Products with herbal ingredients"),
    (14, "4", None, "Vải và may mặc", "Textiles and garments"),
    (15, "4.1", 14, "Vải, may mặc", "Fabrics and garments"),
    (16, "5", None, "Lưu niệm, nội thất, trang trí", "Souvenirs, furniture and decoration"),
    (17, "5.1", 16, "Thủ công mỹ nghệ, đồ gỗ, mây tre đan", "Handicrafts, woodwork, rattan and bamboo"),
    (18, "6", None, "Dịch vụ du lịch cộng đồng, du lịch sinh thái và điểm du lịch",
     "Community tourism, eco-tourism and tourist sites"),
    (19, "6.1", 18, "Dịch vụ du lịch nông thôn", "Rural tourism services"),
]


def upgrade():
    op.create_table('producer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('slug', sa.String(length=220), nullable=False),
    sa.Column('representative', sa.String(length=120), nullable=False),
    sa.Column('tax_code', sa.String(length=20), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('address_line', sa.String(length=255), nullable=False),
    sa.Column('province_code', sa.Integer(), nullable=False),
    sa.Column('ward_code', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('logo', sa.String(length=64), nullable=True),
    sa.Column('cooperative_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('review_note', sa.Text(), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['cooperative_id'], ['producer.id'], name=op.f('fk_producer_cooperative_id_producer'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_producer')),
    sa.UniqueConstraint('slug', name=op.f('uq_producer_slug'))
    )
    with op.batch_alter_table('producer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_producer_cooperative_id'), ['cooperative_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_producer_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_producer_ward_code'), ['ward_code'], unique=False)

    op.create_table('product_group',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=16), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('name_vi', sa.String(length=200), nullable=False),
    sa.Column('name_en', sa.String(length=200), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['product_group.id'], name=op.f('fk_product_group_parent_id_product_group')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_group')),
    sa.UniqueConstraint('code', name=op.f('uq_product_group_code'))
    )
    group_table = sa.table(
        "product_group",
        sa.column("id", sa.Integer), sa.column("code", sa.String), sa.column("parent_id", sa.Integer),
        sa.column("name_vi", sa.String), sa.column("name_en", sa.String), sa.column("position", sa.Integer),
    )
    op.bulk_insert(group_table, [
        {"id": i, "code": c, "parent_id": p, "name_vi": vi, "name_en": en, "position": i}
        for i, c, p, vi, en in OCOP_GROUPS
    ])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('product_group', 'id'), (SELECT max(id) FROM product_group))")

    op.create_table('product',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('slug', sa.String(length=220), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('ingredients', sa.Text(), nullable=False),
    sa.Column('net_quantity', sa.Numeric(precision=12, scale=3), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('price_vnd', sa.Integer(), nullable=False),
    sa.Column('stock', sa.Integer(), nullable=False),
    sa.Column('shelf_life_days', sa.Integer(), nullable=True),
    sa.Column('storage_instructions', sa.Text(), nullable=False),
    sa.Column('usage_instructions', sa.Text(), nullable=False),
    sa.Column('warnings', sa.Text(), nullable=False),
    sa.Column('origin_ward_code', sa.Integer(), nullable=True),
    sa.Column('gtin', sa.String(length=14), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('review_note', sa.Text(), nullable=False),
    sa.Column('search_text', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('price_vnd >= 0', name=op.f('ck_product_price_nonnegative')),
    sa.CheckConstraint('stock >= 0', name=op.f('ck_product_stock_nonnegative')),
    sa.ForeignKeyConstraint(['group_id'], ['product_group.id'], name=op.f('fk_product_group_id_product_group')),
    sa.ForeignKeyConstraint(['producer_id'], ['producer.id'], name=op.f('fk_product_producer_id_producer'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product')),
    sa.UniqueConstraint('gtin', name=op.f('uq_product_gtin')),
    sa.UniqueConstraint('slug', name=op.f('uq_product_slug'))
    )
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_origin_ward_code'), ['origin_ward_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_producer_id'), ['producer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_product_updated_at'), ['updated_at'], unique=False)

    op.create_table('user',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=True),
    sa.Column('producer_role', sa.String(length=16), nullable=True),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('session_token', sa.String(length=64), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['producer_id'], ['producer.id'], name=op.f('fk_user_producer_id_producer'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_user')),
    sa.UniqueConstraint('email', name=op.f('uq_user_email')),
    sa.UniqueConstraint('session_token', name=op.f('uq_user_session_token'))
    )
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_user_producer_id'), ['producer_id'], unique=False)

    op.create_table('certification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('producer_id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=True),
    sa.Column('scheme', sa.String(length=24), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('body', sa.String(length=200), nullable=False),
    sa.Column('scope', sa.String(length=255), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('document', sa.String(length=80), nullable=True),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('verified_by_id', sa.Integer(), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['producer_id'], ['producer.id'], name=op.f('fk_certification_producer_id_producer'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_certification_product_id_product'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['verified_by_id'], ['user.id'], name=op.f('fk_certification_verified_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_certification'))
    )
    with op.batch_alter_table('certification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_certification_producer_id'), ['producer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_certification_product_id'), ['product_id'], unique=False)

    op.create_table('ocop_recognition',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('stars', sa.Integer(), nullable=False),
    sa.Column('score', sa.Integer(), nullable=True),
    sa.Column('decision_no', sa.String(length=64), nullable=False),
    sa.Column('decision_date', sa.Date(), nullable=False),
    sa.Column('certificate_no', sa.String(length=64), nullable=False),
    sa.Column('issuer_level', sa.String(length=16), nullable=False),
    sa.Column('issuer_name', sa.String(length=200), nullable=False),
    sa.Column('valid_until', sa.Date(), nullable=False),
    sa.Column('revoked', sa.Boolean(), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('stars BETWEEN 3 AND 5', name=op.f('ck_ocop_recognition_stars_range')),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_ocop_recognition_product_id_product'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['user.id'], name=op.f('fk_ocop_recognition_recorded_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ocop_recognition'))
    )
    with op.batch_alter_table('ocop_recognition', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ocop_recognition_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ocop_recognition_valid_until'), ['valid_until'], unique=False)

    op.create_table('product_photo',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('product_id', sa.Integer(), nullable=False),
    sa.Column('stem', sa.String(length=64), nullable=False),
    sa.Column('width', sa.Integer(), nullable=False),
    sa.Column('height', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['product.id'], name=op.f('fk_product_photo_product_id_product'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_photo')),
    sa.UniqueConstraint('stem', name=op.f('uq_product_photo_stem'))
    )
    with op.batch_alter_table('product_photo', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_photo_product_id'), ['product_id'], unique=False)



def downgrade():
    with op.batch_alter_table('product_photo', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_photo_product_id'))

    op.drop_table('product_photo')
    with op.batch_alter_table('ocop_recognition', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ocop_recognition_valid_until'))
        batch_op.drop_index(batch_op.f('ix_ocop_recognition_product_id'))

    op.drop_table('ocop_recognition')
    with op.batch_alter_table('certification', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_certification_product_id'))
        batch_op.drop_index(batch_op.f('ix_certification_producer_id'))

    op.drop_table('certification')
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_user_producer_id'))

    op.drop_table('user')
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_updated_at'))
        batch_op.drop_index(batch_op.f('ix_product_status'))
        batch_op.drop_index(batch_op.f('ix_product_producer_id'))
        batch_op.drop_index(batch_op.f('ix_product_origin_ward_code'))
        batch_op.drop_index(batch_op.f('ix_product_group_id'))

    op.drop_table('product')
    op.drop_table('product_group')
    with op.batch_alter_table('producer', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_producer_ward_code'))
        batch_op.drop_index(batch_op.f('ix_producer_status'))
        batch_op.drop_index(batch_op.f('ix_producer_cooperative_id'))

    op.drop_table('producer')
