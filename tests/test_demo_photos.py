"""The demo products' photos (issue 17, point 2): drawn with Pillow as what they are (a jar of
honey, a bag of rice…), 800×600 JPEGs the upload pipeline accepts, the name in Vietnamese
with its diacritics in Be Vietnam Pro, the same bytes for the same name, and quick.
No app, no database."""
from __future__ import annotations

import hashlib
import itertools
import subprocess
import sys
import time
from io import BytesIO
from pathlib import Path

import fontpkg
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont

from marketplace import demo_photos
from marketplace.demo import PRODUCTS, demo_photo
from marketplace.media import process_image

ROOT = Path(__file__).resolve().parents[1]
NAMES = [(p[1], p[8]) for p in PRODUCTS]

EXPECTED = {
    "Gạo nếp cái hoa vàng Đồng Tiến": "rice bag", "Gạo tám thơm Đồng Tiến": "rice bag",
    "Rau cải ngọt VietGAP": "greens", "Bột nếp cái hoa vàng": "flour bag",
    "Nếp cái hoa vàng hộ Trịnh Văn Nam": "rice bag", "Bí đỏ hồ lô Đồng Tiến": "pumpkin",
    "Dưa lưới nhà màng": "melon", "Nem chua Thọ Phú": "nem parcels", "Chè lam Thọ Phú": "chè lam bars",
    "Bánh gai lá gai rừng": "bánh gai parcels", "Nem nắm truyền thống": "nem parcels",
    "Mật ong hoa vải": "honey jar", "Mật ong rừng keo": "honey jar",
    "Tinh bột nghệ vàng An Nông": "turmeric powder jar", "Tinh bột nghệ đen": "turmeric powder jar",
    "Nghệ sấy lát": "dried turmeric slices", "Nước mắm cốt Triệu Sơn": "fish sauce bottle",
    "Tương bần truyền thống": "soybean paste crock", "Muối vừng lạc": "sesame salt jar",
    "Chè xanh búp Thọ Ngọc": "tea", "Chè vằng sẻ": "tea", "Rượu nếp cái hoa vàng Hợp Tiến": "wine bottle",
    "Dưa hấu Hợp Tiến": "watermelon", "Giỏ mây đan tay": "basket", "Khay tre đựng bánh kẹo": "tray",
    "Đèn lồng tre trang trí": "lantern",
}


@pytest.fixture(scope="module")
def photos() -> dict[str, bytes]:
    return {name: demo_photo(name, colour) for name, colour in NAMES}


def test_every_demo_product_gets_an_800_by_600_jpeg_the_upload_pipeline_takes(photos):
    assert len(photos) == len(PRODUCTS) == 26
    for name, data in photos.items():
        img = Image.open(BytesIO(data))
        assert (img.format, img.size, img.mode) == ("JPEG", (800, 600), "RGB"), name
        img.load()  # decodes to the end
        large, thumb, w, h = process_image(data, max_bytes=5 * 1024 * 1024, max_pixels=24_000_000)
        assert (w, h) == (800, 600) and large and thumb


def test_demo_photo_draws_with_the_module(photos):
    name, colour = NAMES[0]
    assert photos[name] == demo_photos.photo(name, colour)


def test_each_product_is_drawn_as_what_it_is():
    assert {name: demo_photos.kind_of(name) for name, _ in NAMES} == EXPECTED
    assert len(set(EXPECTED.values())) == 20
    assert demo_photos.kind_of("Mứt gừng Thọ Xuân") == "package"      # no keyword: a plain package
    assert demo_photos.kind_of("MẬT ONG RỪNG") == "honey jar"          # any case
    assert demo_photos.kind_of("Bánh chưng Tết") == "bánh gai parcels"
    assert demo_photos.kind_of("Khay tre đựng bánh kẹo") == "tray"     # "bánh kẹo" is no bánh gai


def test_photos_of_different_kinds_differ():
    """Same name, same colour, drawn as each kind: pair by pair, a good part of the picture
    above the caption differs clearly (by more than 40 of 255 in grey)."""
    kinds = [k for k, _, _ in demo_photos.KINDS] + [demo_photos.FALLBACK[0]]
    scenes = {k: demo_photos.render("Sản phẩm mẫu", (200, 150, 90), kind=k).crop((0, 0, 800, 495)) for k in kinds}
    close = []
    for a, b in itertools.combinations(kinds, 2):
        changed = ImageChops.difference(scenes[a], scenes[b]).convert("L").point(lambda v: 255 if v > 40 else 0)
        share = changed.histogram()[255] / (800 * 495)
        if share < 0.03:
            close.append((a, b, round(share, 3)))
    assert close == []


def test_the_same_name_gives_the_same_bytes_whatever_the_process(photos):
    name, colour = NAMES[11]
    assert demo_photo(name, colour) == photos[name]
    code = ("import hashlib; from marketplace.demo_photos import photo as demo_photo; "
            f"print(hashlib.sha256(demo_photo({name!r}, {colour!r})).hexdigest())")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == hashlib.sha256(photos[name]).hexdigest()
    assert len(set(photos.values())) == 26  # two products of a kind differ too (their names)


def _covered_by_the_font(text: str, path: str) -> set[str]:
    """The characters of ``text`` the font has a glyph for: its cmap with fontTools when it
    is installed, else Pillow: a mask that is not empty and is not the missing-glyph box."""
    try:
        from fontTools.ttLib import TTFont
    except ImportError:
        font = ImageFont.truetype(path, 40)

        def drawn(ch: str) -> Image.Image:
            img = Image.new("L", (90, 90))
            ImageDraw.Draw(img).text((20, 10), ch, font=font, fill=255)
            return img

        notdef = drawn("\ue000").tobytes()  # a private-use character: the font has no glyph for it
        return {ch for ch in text if (img := drawn(ch)).getbbox() and img.tobytes() != notdef}
    cmap = TTFont(path).getBestCmap()
    return {ch for ch in text if ord(ch) in cmap}


@pytest.mark.parametrize("weight", [700, 500])
def test_every_character_of_every_name_and_label_has_a_glyph(weight):
    path = str(fontpkg.path("Be Vietnam Pro", weight))
    text = "".join(name + name.upper() for name, _ in NAMES).replace(" ", "")
    chars = set(text)
    assert {"ạ", "ầ", "ế", "ộ", "ữ", "ơ", "đ", "Đ", "Ậ", "Ư"} & chars  # Vietnamese, with its marks
    assert chars - _covered_by_the_font(text, path) == set()


def test_names_and_labels_fit_without_being_cut():
    for name, _ in NAMES:
        size, lines = demo_photos.fit_text(name, 708, 78, 38, 16, 2)  # the caption's box
        assert " ".join(lines) == name and len(lines) <= 2 and size >= 24, (name, size, lines)
        head = " ".join(name.split()[:2]).upper()
        size, lines = demo_photos.fit_text(head, 136, 58, 34, 10, 1)  # the narrowest label's headline
        assert lines == [head] and size >= 18, (name, size, lines)
    size, lines = demo_photos.fit_text("Một cái tên rất dài " * 8, 300, 60, 30, 12, 2)
    assert len(lines) == 2 and lines[-1].endswith("…") and size == 12


def test_the_caption_is_drawn():
    img = demo_photos.render("Mật ong hoa vải", (230, 160, 30))
    band = img.crop((60, 510, 740, 574)).convert("L")
    low, high = band.getextrema()
    assert high > 240 and low < 90  # dark letters on the light band


def test_twenty_six_photos_are_quick():
    started = time.process_time()
    for name, colour in NAMES:
        demo_photo(name, colour)
    spent = time.process_time() - started
    assert spent < 4.0, f"{spent:.2f} s of CPU for 26 photos"
