"""Demo data for the district of Triệu Sơn (Thanh Hóa): ``flask --app wsgi seed-demo``.

Idempotent: producers, products and accounts are keyed by slug/email and only created when
missing.  Later capabilities extend it (batches, stamp runs, exchanges).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import object_session

from . import demo_photos, geo
from .catalogue import payments, service
from .media import store_image
from .models import (Batch, Certification, OcopRecognition, Producer, ProducerRole, ProducerStatus,
                     Product, ProductGroup, ProductPhoto, User, UserRole)
from .models.base import local_today, utcnow
from .passwords import hash_password
from .stamps import service as stamps
from .trace import service as trace
from .validators import normalize_gtin, tax_code_check_digit

# The 8 communes of the former Triệu Sơn district after the July 2025 merger (2025 codes).
COMMUNES = {
    "trieu_son": 15664, "tho_binh": 15667, "hop_tien": 15682, "tan_ninh": 15715,
    "dong_tien": 15724, "tho_ngoc": 15754, "tho_phu": 15763, "an_nong": 15766,
}
THANH_HOA = 38

DEMO_ACCOUNTS = [
    # email, password, role, producer slug
    ("canbo@trieuson.demo", "CanBo-TrieuSon-2025", UserRole.officer.value, None),
    ("quantri@trieuson.demo", "QuanTri-TrieuSon-2025", UserRole.admin.value, None),
    ("htx.dongtien@trieuson.demo", "NongDan-DongTien-2025", UserRole.producer.value, "htx-nong-nghiep-dong-tien"),
    ("ho.lethimai@trieuson.demo", "NongDan-ThoBinh-2025", UserRole.producer.value, "ho-le-thi-mai"),
]


def _tax(prefix9: str) -> str:
    """A valid 10-digit tax code starting with ``prefix9`` (bumped until one exists)."""
    n = int(prefix9)
    while True:
        first9 = f"{n:09d}"
        check = tax_code_check_digit(first9)
        if check is not None:
            return first9 + str(check)
        n += 1


# slug, kind, name, representative, commune, phone, tax prefix, cooperative slug, description
PRODUCERS = [
    ("htx-nong-nghiep-dong-tien", "cooperative", "HTX Nông nghiệp Đồng Tiến", "Lê Văn Hùng", "dong_tien",
     "0912345601", "280100101", None, "Hợp tác xã sản xuất gạo nếp, rau an toàn theo VietGAP."),
    ("htx-dich-vu-tho-phu", "cooperative", "HTX Dịch vụ tổng hợp Thọ Phú", "Nguyễn Thị Lan", "tho_phu",
     "0912345602", "280100202", None, "HTX chế biến nem chua, chè lam và đặc sản địa phương."),
    ("ho-le-thi-mai", "household", "Hộ kinh doanh Lê Thị Mai", "Lê Thị Mai", "tho_binh",
     "0912345603", "280100303", None, "Nuôi ong lấy mật rừng keo, vải."),
    ("ho-trinh-van-nam", "household", "Hộ sản xuất Trịnh Văn Nam", "Trịnh Văn Nam", "dong_tien",
     "0912345604", "280100404", "htx-nong-nghiep-dong-tien", "Thành viên HTX Đồng Tiến, trồng nếp cái hoa vàng."),
    ("ho-pham-thi-hoa", "household", "Hộ sản xuất Phạm Thị Hoa", "Phạm Thị Hoa", "dong_tien",
     "0912345605", "280100505", "htx-nong-nghiep-dong-tien", "Thành viên HTX Đồng Tiến, rau củ quả."),
    ("ho-nguyen-van-tuan", "household", "Hộ sản xuất Nguyễn Văn Tuấn", "Nguyễn Văn Tuấn", "tho_phu",
     "0912345606", "280100606", "htx-dich-vu-tho-phu", "Thành viên HTX Thọ Phú, làm nem chua truyền thống."),
    ("co-so-tinh-bot-nghe-an-nong", "household", "Cơ sở tinh bột nghệ An Nông", "Đỗ Thị Thu", "an_nong",
     "0912345607", "280100707", None, "Tinh bột nghệ, nghệ đen sấy lạnh."),
    ("cong-ty-thuc-pham-trieu-son", "enterprise", "Công ty TNHH Thực phẩm sạch Triệu Sơn", "Hoàng Minh Đức", "trieu_son",
     "0912345608", "280100808", None, "Chế biến nước mắm, tương, gia vị."),
    ("to-hop-tac-che-tho-ngoc", "cooperative_group", "Tổ hợp tác chè Thọ Ngọc", "Vũ Văn Bình", "tho_ngoc",
     "0912345609", "280100909", None, "Chè xanh, chè búp sấy."),
    ("ho-mai-van-son", "household", "Hộ sản xuất Mai Văn Sơn", "Mai Văn Sơn", "hop_tien",
     "0912345610", "280101010", None, "Rượu nếp cái hoa vàng, dưa hấu."),
    ("co-so-thu-cong-tan-ninh", "household", "Cơ sở mây tre đan Tân Ninh", "Lê Văn Toàn", "tan_ninh",
     "0912345611", "280101111", None, "Mây tre đan xuất khẩu, đồ lưu niệm."),
]

# producer slug, name, group code, qty, unit, price, stock, shelf life days, colour,
# (stars, decided how many months ago) | None — relative, so the demo stays current
PRODUCTS = [
    ("htx-nong-nghiep-dong-tien", "Gạo nếp cái hoa vàng Đồng Tiến", "1.2", "2", "kg", 60000, 500, 365, (235, 200, 90), (4, 20)),
    ("htx-nong-nghiep-dong-tien", "Gạo tám thơm Đồng Tiến", "1.2", "5", "kg", 110000, 300, 365, (240, 230, 200), (3, 20)),
    ("htx-nong-nghiep-dong-tien", "Rau cải ngọt VietGAP", "1.1", "500", "g", 15000, 80, 5, (90, 170, 80), None),
    ("htx-nong-nghiep-dong-tien", "Bột nếp cái hoa vàng", "1.3", "500", "g", 45000, 120, 180, (245, 240, 225), None),
    ("ho-trinh-van-nam", "Nếp cái hoa vàng hộ Trịnh Văn Nam", "1.2", "1", "kg", 35000, 200, 365, (230, 190, 80), None),
    ("ho-pham-thi-hoa", "Bí đỏ hồ lô Đồng Tiến", "1.1", "1", "kg", 20000, 150, 30, (230, 130, 40), None),
    ("ho-pham-thi-hoa", "Dưa lưới nhà màng", "1.1", "1", "kg", 55000, 60, 10, (200, 220, 120), (3, 10)),
    ("htx-dich-vu-tho-phu", "Nem chua Thọ Phú", "1.3", "500", "g", 120000, 100, 7, (220, 120, 120), (4, 24)),
    ("htx-dich-vu-tho-phu", "Chè lam Thọ Phú", "1.3", "300", "g", 50000, 90, 60, (200, 160, 110), (3, 24)),
    ("htx-dich-vu-tho-phu", "Bánh gai lá gai rừng", "1.3", "10", "piece", 60000, 70, 5, (60, 50, 40), None),
    ("ho-nguyen-van-tuan", "Nem nắm truyền thống", "1.3", "400", "g", 90000, 50, 7, (210, 100, 90), None),
    ("ho-le-thi-mai", "Mật ong hoa vải", "1.3", "500", "ml", 180000, 40, 730, (230, 160, 30), (3, 16)),
    ("ho-le-thi-mai", "Mật ong rừng keo", "1.3", "1", "l", 320000, 25, 730, (200, 120, 20), None),
    ("co-so-tinh-bot-nghe-an-nong", "Tinh bột nghệ vàng An Nông", "3.1", "500", "g", 350000, 60, 540, (245, 180, 20), (4, 15)),
    ("co-so-tinh-bot-nghe-an-nong", "Tinh bột nghệ đen", "3.1", "500", "g", 380000, 30, 540, (90, 70, 90), None),
    # Expired recognition: decided 44 months ago, valid 36 months, so no stars show any more.
    ("co-so-tinh-bot-nghe-an-nong", "Nghệ sấy lát", "3.1", "200", "g", 90000, 80, 365, (240, 150, 40), (3, 44)),
    ("cong-ty-thuc-pham-trieu-son", "Nước mắm cốt Triệu Sơn", "1.4", "500", "ml", 75000, 200, 720, (140, 80, 30), (3, 21)),
    ("cong-ty-thuc-pham-trieu-son", "Tương bần truyền thống", "1.4", "500", "ml", 40000, 150, 365, (150, 110, 60), None),
    ("cong-ty-thuc-pham-trieu-son", "Muối vừng lạc", "1.4", "200", "g", 30000, 300, 180, (210, 190, 150), None),
    ("to-hop-tac-che-tho-ngoc", "Chè xanh búp Thọ Ngọc", "1.5", "200", "g", 80000, 120, 365, (60, 130, 60), (3, 13)),
    ("to-hop-tac-che-tho-ngoc", "Chè vằng sẻ", "3.1", "300", "g", 65000, 80, 365, (110, 140, 70), None),
    ("ho-mai-van-son", "Rượu nếp cái hoa vàng Hợp Tiến", "2.1", "500", "ml", 95000, 100, 1825, (240, 230, 210), (3, 23)),
    ("ho-mai-van-son", "Dưa hấu Hợp Tiến", "1.1", "1", "kg", 15000, 400, 14, (200, 50, 50), None),
    ("co-so-thu-cong-tan-ninh", "Giỏ mây đan tay", "5.1", "1", "piece", 150000, 40, None, (180, 140, 80), (3, 18)),
    ("co-so-thu-cong-tan-ninh", "Khay tre đựng bánh kẹo", "5.1", "1", "piece", 120000, 35, None, (190, 160, 100), None),
    ("co-so-thu-cong-tan-ninh", "Đèn lồng tre trang trí", "5.1", "1", "piece", 250000, 20, None, (170, 120, 60), None),
]

# English names, so that English pages read English and "honey" finds the honey.
ENGLISH_NAMES = {
    "Gạo nếp cái hoa vàng Đồng Tiến": "Dong Tien yellow-flower glutinous rice",
    "Gạo tám thơm Đồng Tiến": "Dong Tien fragrant Tam rice", "Rau cải ngọt VietGAP": "VietGAP choy sum",
    "Bột nếp cái hoa vàng": "Yellow-flower glutinous rice flour",
    "Nếp cái hoa vàng hộ Trịnh Văn Nam": "Trinh Van Nam's yellow-flower glutinous rice",
    "Bí đỏ hồ lô Đồng Tiến": "Dong Tien butternut pumpkin", "Dưa lưới nhà màng": "Greenhouse cantaloupe",
    "Nem chua Thọ Phú": "Tho Phu fermented pork rolls (nem chua)", "Chè lam Thọ Phú": "Tho Phu ginger rice cakes (che lam)",
    "Bánh gai lá gai rừng": "Ramie leaf sticky rice cakes (banh gai)", "Nem nắm truyền thống": "Traditional pork skin rolls (nem nam)",
    "Mật ong hoa vải": "Lychee blossom honey", "Mật ong rừng keo": "Acacia forest honey",
    "Tinh bột nghệ vàng An Nông": "An Nong yellow turmeric starch", "Tinh bột nghệ đen": "Black turmeric starch",
    "Nghệ sấy lát": "Dried turmeric slices", "Nước mắm cốt Triệu Sơn": "Trieu Son first-press fish sauce",
    "Tương bần truyền thống": "Traditional Ban soybean sauce", "Muối vừng lạc": "Sesame and peanut salt",
    "Chè xanh búp Thọ Ngọc": "Tho Ngoc green tea buds", "Chè vằng sẻ": "Jasmine vine herbal tea (che vang)",
    "Rượu nếp cái hoa vàng Hợp Tiến": "Hop Tien yellow-flower glutinous rice wine",
    "Dưa hấu Hợp Tiến": "Hop Tien watermelon", "Giỏ mây đan tay": "Hand-woven rattan basket",
    "Khay tre đựng bánh kẹo": "Bamboo candy tray", "Đèn lồng tre trang trí": "Decorative bamboo lantern",
}

# Each demo product packed as the post office weighs and measures it: grams, then length,
# width and height in centimetres.
PACKAGES = {
    "Gạo nếp cái hoa vàng Đồng Tiến": (2080, "30", "20", "6"), "Gạo tám thơm Đồng Tiến": (5120, "40", "28", "8"),
    "Rau cải ngọt VietGAP": (560, "30", "18", "8"), "Bột nếp cái hoa vàng": (530, "20", "14", "5"),
    "Nếp cái hoa vàng hộ Trịnh Văn Nam": (1040, "25", "16", "6"), "Bí đỏ hồ lô Đồng Tiến": (1100, "20", "15", "15"),
    "Dưa lưới nhà màng": (1150, "18", "18", "16"), "Nem chua Thọ Phú": (620, "22", "16", "6"),
    "Chè lam Thọ Phú": (340, "20", "12", "4"), "Bánh gai lá gai rừng": (900, "25", "20", "8"),
    "Nem nắm truyền thống": (480, "20", "15", "6"), "Mật ong hoa vải": (820, "8", "8", "20"),
    "Mật ong rừng keo": (1550, "10", "10", "28"), "Tinh bột nghệ vàng An Nông": (560, "12", "12", "14"),
    "Tinh bột nghệ đen": (560, "12", "12", "14"), "Nghệ sấy lát": (240, "20", "14", "4"),
    "Nước mắm cốt Triệu Sơn": (850, "7", "7", "27"), "Tương bần truyền thống": (820, "8", "8", "22"),
    "Muối vừng lạc": (230, "10", "10", "8"), "Chè xanh búp Thọ Ngọc": (250, "18", "12", "6"),
    "Chè vằng sẻ": (340, "22", "15", "6"), "Rượu nếp cái hoa vàng Hợp Tiến": (900, "8", "8", "30"),
    "Dưa hấu Hợp Tiến": (1100, "20", "20", "20"), "Giỏ mây đan tay": (450, "35", "35", "20"),
    "Khay tre đựng bánh kẹo": (380, "30", "30", "6"), "Đèn lồng tre trang trí": (300, "30", "30", "40"),
}


def _months_before(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, min(day.day, 28))


def demo_photo(title: str, colour: tuple[int, int, int]) -> bytes:
    """The product drawn as what it is, its name on it: an 800×600 JPEG (:mod:`.demo_photos`)."""
    return demo_photos.photo(title, colour)


def seed_demo(session, config, echo=print) -> None:
    groups = {g.code: g for g in session.scalars(select(ProductGroup))}
    if not groups:
        raise RuntimeError("product groups missing: run `flask --app wsgi db upgrade` first")
    producers: dict[str, Producer] = {p.slug: p for p in session.scalars(select(Producer))}
    created = {"producers": 0, "products": 0, "accounts": 0}
    for slug, kind, name, rep, commune, phone, tax, coop, desc in PRODUCERS:
        if slug in producers:
            continue
        p = Producer(slug=slug, kind=kind, name=name, representative=rep, phone=phone,
                     tax_code=_tax(tax), province_code=THANH_HOA, ward_code=COMMUNES[commune], zalo_phone=phone,
                     address_line="", description=desc, status=ProducerStatus.approved.value,
                     reviewed_at=utcnow(), cooperative=producers.get(coop) if coop else None)
        session.add(p)
        producers[slug] = p
        created["producers"] += 1
    session.flush()

    existing = set(session.scalars(select(Product.name)))
    for slug, name, group, qty, unit, price, stock, shelf, colour, ocop in PRODUCTS:
        if name in existing:
            continue
        producer = producers[slug]
        product = service.create_product(session, producer, {
            "name": name, "group_id": groups[group].id, "net_quantity": Decimal(qty), "unit": unit,
            "price_vnd": price, "stock": stock, "shelf_life_days": shelf,
            "description": f"{name}, sản phẩm của {producer.name} ({geo.place_name(producer.ward_code)}).",
            "ingredients": "", "storage_instructions": "Bảo quản nơi khô ráo, thoáng mát." if shelf else "",
            "usage_instructions": "", "warnings": "", "origin_ward_code": producer.ward_code,
            "name_en": ENGLISH_NAMES.get(name, ""),
            "description_en": (f"{ENGLISH_NAMES[name]}, made by {producer.name} ({geo.place_name(producer.ward_code)})."
                               if name in ENGLISH_NAMES else ""),
            "storage_instructions_en": "Store in a cool, dry place." if shelf else "",
            **dict(zip(("packed_weight_g", "package_length_cm", "package_width_cm", "package_height_cm"),
                       PACKAGES.get(name, (None, None, None, None)))),
        })
        stored = store_image(demo_photo(name, colour), config["UPLOAD_DIR"],
                             max_bytes=config["MAX_PHOTO_BYTES"], max_pixels=config["MAX_IMAGE_PIXELS"])
        product.photos.append(ProductPhoto(stem=stored.stem, width=stored.width, height=stored.height, position=1))
        service.submit_product(product)
        service.publish_product(product)
        if ocop:
            stars, months_ago = ocop
            decision_date = _months_before(local_today(), months_ago)
            session.add(OcopRecognition(
                product=product, stars=stars, score=60 + stars * 7, decision_no=f"{1000 + len(name)}/QĐ-UBND",
                decision_date=decision_date, certificate_no=f"OCOP-TH-{decision_date.year}-{len(existing) + 1:03d}",
                issuer_level="provincial", issuer_name="UBND tỉnh Thanh Hóa",
                valid_until=service.default_valid_until(decision_date),
            ))
        if "VietGAP" in name or group in ("1.1", "1.2"):
            session.add(Certification(producer=producer, product=product, scheme="vietgap",
                                      number=f"VietGAP-TH-{product.slug[:8].strip('-').upper()}", body="Trung tâm Chứng nhận phù hợp",
                                      scope=name, valid_from=local_today() - dt.timedelta(days=200),
                                      valid_to=local_today() + dt.timedelta(days=900), verified=True,
                                      verified_at=utcnow()))
        existing.add(name)
        created["products"] += 1

    seed_gtins(session)
    session.flush()
    created["batches"] = seed_batches(session)
    seed_bank_account(producers.get("htx-nong-nghiep-dong-tien"))

    method = config["PASSWORD_HASH_METHOD"]
    lines = []
    for email, password, role, producer_slug in DEMO_ACCOUNTS:
        if session.scalars(select(User.id).where(User.email == email)).first() is None:
            producer = producers.get(producer_slug) if producer_slug else None
            session.add(User(email=email, name=email.split("@")[0], role=role, producer=producer,
                             producer_role=ProducerRole.owner.value if producer else None,
                             password_hash=hash_password(password, method)))
            created["accounts"] += 1
        lines.append(f"  {role:<9} {email:<30} {password}")
    session.commit()
    echo(f"demo data: {created['producers']} producers, {created['products']} products, "
         f"{created['batches']} batches, {created['accounts']} accounts created")
    echo("demo accounts (demo only — change or remove them before going live):")
    for line in lines:
        echo(line)


# product name, lot, days ago produced, quantity, unit, growing area, diary: (kind, days ago, place, description, details)
BATCHES = [
    ("Gạo nếp cái hoa vàng Đồng Tiến", "DT-NEP-2025-10", 40, "1200", "kg", "Cánh đồng thôn 3, xã Đồng Tiến", [
        ("seeding", 160, "Thôn 3", "Gieo mạ giống nếp cái hoa vàng", {"input_name": "Giống nếp cái hoa vàng",
                                                                       "input_lot": "G-2025-06", "supplier": "Trung tâm giống Thanh Hóa"}),
        ("input", 120, "Thôn 3", "Bón thúc đợt 1", {"input_name": "Phân NPK 16-16-8", "input_quantity": "15 kg/sào",
                                                    "supplier": "Đại lý vật tư Đồng Tiến"}),
        ("harvest", 45, "Thôn 3", "Thu hoạch, phơi khô", {}),
        ("processing", 42, "Xưởng HTX", "Xay xát, tách tấm", {}),
        ("packing", 40, "Xưởng HTX", "Đóng túi 2 kg, hút chân không", {}),
        ("shipping", 30, "Kho HTX", "Giao cho siêu thị", {"counterpart": "Siêu thị Nông sản Thanh Hóa", "document_no": "PX-0412"}),
    ], 500),
    ("Nem chua Thọ Phú", "TP-NEM-251120", 5, "300", "piece", "Xưởng HTX Thọ Phú", [
        ("input", 6, "Xưởng HTX", "Nhận thịt lợn", {"input_name": "Thịt lợn nạc", "input_quantity": "60 kg",
                                                  "input_lot": "LM-1120", "supplier": "Lò mổ Thọ Phú"}),
        ("processing", 5, "Xưởng HTX", "Giã thịt, trộn bì, gói lá chuối", {}),
        ("inspection", 5, "Xưởng HTX", "Kiểm tra vi sinh mẫu", {"document_no": "KQ-VS-221"}),
        ("packing", 5, "Xưởng HTX", "Đóng túi 10 chiếc", {}),
    ], None),
]


# Products that carry a GS1 barcode (GS1 Vietnam prefix 893; check digits computed below):
# their stamps are GS1 Digital Link URIs (/01/<gtin>/10/<lot>/21/<serial>).
GTIN_PRODUCTS = {
    "Gạo nếp cái hoa vàng Đồng Tiến": "893604510001",
    "Nem chua Thọ Phú": "893604510002",
    "Mật ong hoa vải": "893604510003",
    "Nước mắm cốt Triệu Sơn": "893604510004",
}


def gtin13(first12: str) -> str:
    """Append the GS1 mod-10 check digit (weights 3,1 from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(first12)))
    return first12 + str((10 - total % 10) % 10)


def seed_gtins(session) -> None:
    for name, first12 in GTIN_PRODUCTS.items():
        product = session.scalar(select(Product).where(Product.name == name))
        if product is not None and not product.gtin:
            product.gtin = normalize_gtin(gtin13(first12))


def seed_batches(session) -> int:
    """Batches with diaries, and one printed (active) stamp run (idempotent by lot code)."""
    created = 0
    for product_name, lot, days_ago, qty, unit, area, diary, run_size in BATCHES:
        product = session.scalar(select(Product).where(Product.name == product_name))
        if product is None or session.scalar(select(Batch.id).where(Batch.product_id == product.id,
                                                                     Batch.lot_code == lot)) is not None:
            continue
        today = local_today()
        batch = trace.create_batch(session, product, lot_code=lot, quantity=Decimal(qty), unit=unit,
                                   production_date=today - dt.timedelta(days=days_ago), growing_area=area)
        session.flush()
        for kind, ago, place, description, details in diary:
            when = dt.datetime.combine(today - dt.timedelta(days=ago), dt.time(7, 30), tzinfo=trace.LOCAL_TZ)
            trace.append_event(session, batch, kind=kind, occurred_at=when, place=place,
                               description=description, details=details)
        if run_size:
            run = stamps.issue_run(session, batch, run_size)
            stamps.activate_run(session, run)
        created += 1
    return created


def seed_bank_account(producer) -> None:
    """The cooperative takes buyers' transfers (VietQR on its product pages): a made-up
    Agribank account, its change already acknowledged."""
    if producer is None or producer.bank_account is not None:
        return
    account = payments.set_bank_account(object_session(producer), producer, bank_bin="970405",
                                        account_number="3504205000123", account_name=producer.name)
    payments.acknowledge(account)
