"""The stamp page's work done the cheapest way: the practical limit ``bench/scan.py`` sets
the real page ``/s/<SERIAL>`` against (issue 19).

A raw WSGI callable, no framework.  Per request: one query (``sqlite3`` or psycopg 3, chosen
by ``DATABASE_URL``, the database the app uses) reads the stamp by serial joined to its run,
batch, product and producer, as the page's lookup does (marketplace/scan/facts.py); the page
(~7 KB of HTML) is made with ``str.format``, its values escaped; an unknown serial is a 404.
Each answered scan waits in memory; a thread of the worker writes what waits once a second
in one transaction (a ``scan`` row per scan, the stamp's ``scan_count`` and
``first_scan_at``: not the daily aggregates nor the distinct scanners the app keeps), and a
worker writes what it still holds when it exits.  One database connection per thread.

    DATABASE_URL=sqlite:////tmp/bench.db gunicorn -c bench/gunicorn_bare.conf.py --pythonpath bench raw_stamp_app:app
"""
from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import os
import threading
import time
import traceback
from decimal import Decimal
from html import escape

DATABASE_URL = os.environ["DATABASE_URL"]
SQLITE = DATABASE_URL.startswith("sqlite")
MARK = "?" if SQLITE else "%s"
FLUSH_SECONDS = 1.0

LOOKUP = (
    "SELECT s.id, s.serial, s.status, s.scan_count, s.first_scan_at, r.scratch, b.lot_code, b.production_date, "
    "b.expiry_date, b.status, b.recall_reason, p.name, p.net_quantity, p.unit, p.gtin, p.status, pr.name, pr.phone, "
    "pr.status FROM stamp s JOIN stamp_run r ON r.id = s.run_id JOIN batch b ON b.id = s.batch_id "
    f"JOIN product p ON p.id = b.product_id JOIN producer pr ON pr.id = p.producer_id WHERE s.serial = {MARK}")
INSERT_SCAN = ("INSERT INTO scan (stamp_id, scanned_at, province_code, agent_family, scanner, test) "
               f"VALUES ({MARK}, {MARK}, NULL, 'chrome', NULL, FALSE)")
COUNT_SCAN = (f"UPDATE stamp SET scan_count = scan_count + 1, first_scan_at = COALESCE(first_scan_at, {MARK}) "
              f"WHERE id = {MARK}")

STYLE = (  # the page's own style sheet, inline: one response is the whole page
    "body{margin:0;font:16px/1.5 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d2a1f;background:#f6f8f4}"
    ".wrap{max-width:40rem;margin:0 auto;padding:0 1rem}.top{background:#1f6b3a;color:#fff}"
    ".bar{display:flex;justify-content:space-between;align-items:center;min-height:3rem}"
    ".brand{color:#fff;font-weight:700;text-decoration:none}.brand small{font-weight:400;opacity:.8}"
    "nav a{color:#fff}.alert{border-radius:.5rem;padding:1rem;margin:1rem 0}"
    ".genuine{background:#e3f4e8;border:2px solid #1f6b3a}.recall{background:#fde8e8;border:2px solid #b42318}"
    ".void,.pending{background:#fff4e0;border:2px solid #b54708}.alert h2{margin:0 0 .5rem;font-size:1.25rem}"
    ".serial code{font-size:1.1rem;letter-spacing:.05em}dl.facts{display:grid;grid-template-columns:auto 1fr;"
    "gap:.25rem 1rem;margin:1rem 0}dl.facts dt{color:#55645a}dl.facts dd{margin:0;font-weight:600}"
    ".card{background:#fff;border-radius:.5rem;box-shadow:0 1px 3px rgba(0,0,0,.12);padding:1rem;margin:1rem 0}"
    ".help{font-size:.9rem;color:#55645a}.help a{color:#1f6b3a}footer{font-size:.8rem;color:#55645a;padding:2rem 0}"
)
PAGE = """<!doctype html>
<html lang="vi">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{name} · Truy xuất nguồn gốc</title>
<style>{style}</style>
</head>
<body class="stamp-page">
<header class="top"><div class="wrap bar"><a class="brand" href="/">Chợ OCOP <small>Triệu Sơn</small></a>
<nav><a href="/language/en?next=/s/{serial}" lang="en" hreflang="en">English</a></nav></div></header>
<main class="wrap">
{verdict}
<p class="serial">Mã tem <code>{serial}</code></p>
<section class="card" id="product">
<h1>{name}</h1>
<dl class="facts">
<dt>Khối lượng tịnh</dt><dd>{quantity} {unit}</dd>
<dt>Mã GTIN</dt><dd>{gtin}</dd>
<dt>Cơ sở sản xuất</dt><dd>{producer}</dd>
<dt>Điện thoại</dt><dd><a href="tel:{phone}">{phone}</a></dd>
<dt>Số lô</dt><dd>{lot}</dd>
<dt>Ngày sản xuất</dt><dd>{produced}</dd>
<dt>Hạn sử dụng</dt><dd>{expiry}</dd>
<dt>Tình trạng tem</dt><dd>{status}</dd>
</dl>
</section>
<section class="card help" id="help">
<h2>Cách kiểm tra một sản phẩm OCOP</h2>
<p>Mỗi gói hàng mang một tem riêng với một mã tem duy nhất. Khi quét mã QR trên tem, trang này cho biết tem có
do cơ sở sản xuất phát hành hay không, sản phẩm thuộc lô nào, do ai làm ra và lô đó có đang bị thu hồi hay không.</p>
<p>Một tem thật chỉ dán trên một gói hàng. Nếu trang báo rằng đã có nhiều người khác nhau kiểm tra tem này, hoặc tem
đã được quét ở một tỉnh khác, hãy kiểm tra kỹ bao bì và hỏi nơi bán trước khi dùng.</p>
<p>Nếu bạn nghi ngờ sản phẩm là hàng giả, hàng nhái, hãy <a href="/reports/new?s={serial}">báo cho cán bộ quản lý
thị trường</a> hoặc gọi đường dây nóng <a href="tel:1900000000">1900 0000</a>. Báo cáo của bạn không cần đăng nhập và
chỉ được dùng để kiểm tra sản phẩm.</p>
<p>Sản phẩm OCOP (Mỗi xã một sản phẩm) được Hội đồng đánh giá và phân hạng cấp tỉnh công nhận theo bộ tiêu chí quốc
gia. Số sao, số giấy chứng nhận và thời hạn công nhận được ghi trên trang sản phẩm của cơ sở.</p>
</section>
<section class="card" id="producer">
<h2>Về cơ sở sản xuất</h2>
<p><strong>{producer}</strong> là cơ sở đã được cán bộ xác minh giấy tờ và địa chỉ trước khi đưa sản phẩm lên Chợ OCOP.
Thông tin về lô hàng, ngày sản xuất và hành trình sản phẩm do cơ sở ghi lại; các lô bị thu hồi được báo ngay trên tem
của lô đó, kể cả tem đã in và dán trước khi có quyết định thu hồi.</p>
<p>Liên hệ cơ sở: <a href="tel:{phone}">{phone}</a>. Xem toàn bộ sản phẩm của cơ sở, chứng nhận OCOP và các chứng nhận
khác (VietGAP, hữu cơ, an toàn thực phẩm) trên trang của cơ sở tại Chợ OCOP.</p>
</section>
<section class="card help" id="checks">
<h2>Những điều nên kiểm tra trước khi dùng</h2>
<ol>
<li>Tên sản phẩm, khối lượng tịnh và số lô in trên bao bì trùng với thông tin trên trang này.</li>
<li>Tem còn nguyên vẹn, không có dấu hiệu bóc ra dán lại, không bị che hay dán đè lên một tem khác.</li>
<li>Hạn sử dụng in trên bao bì chưa qua; bảo quản sản phẩm theo hướng dẫn của cơ sở sản xuất.</li>
<li>Nơi bán có thể cho biết sản phẩm được nhập từ đâu; hàng OCOP thật có nguồn gốc từ cơ sở ghi trên tem.</li>
<li>Giá bán không thấp bất thường so với giá niêm yết của cơ sở trên Chợ OCOP.</li>
</ol>
</section>
<section class="card help" id="faq">
<h2>Câu hỏi thường gặp</h2>
<h3>Vì sao trang cho biết số người đã kiểm tra tem?</h3>
<p>Một tem thật chỉ dán trên một gói hàng, nên thường chỉ vài người kiểm tra nó: người mua, người thân của họ. Khi
nhiều người khác nhau ở nhiều nơi cùng kiểm tra một tem, có thể tem đã bị sao chép và dán lên hàng giả.</p>
<h3>Trang này có lưu thông tin của tôi không?</h3>
<p>Không. Mỗi lượt kiểm tra chỉ được ghi lại cùng thời điểm, tỉnh thành và loại trình duyệt, để cơ sở sản xuất và
cán bộ biết sản phẩm được bán ở đâu. Địa chỉ IP và số điện thoại của bạn không được lưu.</p>
<h3>Tôi có thể mua thêm sản phẩm này ở đâu?</h3>
<p>Trang sản phẩm trên Chợ OCOP ghi giá, cách đặt hàng và số điện thoại của cơ sở sản xuất. Bạn cũng có thể hỏi
hợp tác xã hoặc điểm bán sản phẩm OCOP gần nhất trong huyện.</p>
</section>
</main>
<footer class="wrap"><nav><a href="/">Trang chủ</a> · <a href="/p/">Sản phẩm</a> · <a href="/producers/">Cơ sở sản
xuất</a> · <a href="/report?s={serial}">Báo cáo sản phẩm đáng ngờ</a> · <a href="/privacy">Quyền riêng tư</a></nav>
<p>Chợ OCOP Triệu Sơn · Trang truy xuất nguồn gốc · Dữ liệu do cơ sở sản xuất cung cấp và cán bộ xác minh. Trang này
không dùng cookie và không lưu địa chỉ IP của bạn.</p></footer>
</body>
</html>
"""
GENUINE = ('<section class="alert genuine" role="status" id="verdict" data-verdict="genuine"><h2>✓ Tem chính hãng</h2>'
           "<p>{seen}</p></section>")
RECALLED = ('<section class="alert recall" role="alert" id="verdict" data-verdict="recalled"><h2>SẢN PHẨM BỊ THU HỒI'
            "</h2><p>Tem thật, nhưng lô này đã bị thu hồi. Lý do: {reason}</p></section>")
NOT_ACTIVE = ('<section class="alert pending" role="status" id="verdict" data-verdict="{status}"><h2>Tem chưa dùng '
              "được ({status})</h2><p>Hãy hỏi nơi bán trước khi dùng sản phẩm.</p></section>")
NOT_FOUND = '<!doctype html><html lang="vi"><title>Không tìm thấy tem</title><h1>Không tìm thấy tem</h1></html>'.encode()

_local = threading.local()
_pending: list[tuple[int, dt.datetime]] = []
_pending_lock = threading.Lock()
_flush_lock = threading.Lock()
_writer: threading.Thread | None = None


def connect():
    if SQLITE:
        import sqlite3

        conn = sqlite3.connect(DATABASE_URL.split(":///", 1)[1], isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA synchronous = NORMAL")
        return conn
    import psycopg

    return psycopg.connect(DATABASE_URL.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True)


def connection():
    """This thread's connection, opened on its first request (after gunicorn's fork)."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = _local.conn = connect()
    return conn


def moment(value: dt.datetime):
    """As the app stores a moment: naive UTC text on SQLite, aware on PostgreSQL."""
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if SQLITE else value


@contextlib.contextmanager
def transaction(conn):
    """A write transaction (SQLite: BEGIN IMMEDIATE, the write lock taken first)."""
    if not SQLITE:
        with conn.transaction():
            yield
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def flush() -> None:
    """Write the waiting scans in one transaction; on failure they wait for the next flush."""
    global _pending
    with _flush_lock:
        with _pending_lock:
            batch, _pending = _pending, []
        if not batch:
            return
        rows = [(stamp_id, moment(at)) for stamp_id, at in batch]
        conn = connection()
        try:
            with transaction(conn):
                cursor = conn.cursor()
                cursor.executemany(INSERT_SCAN, rows)
                cursor.executemany(COUNT_SCAN, [(at, stamp_id) for stamp_id, at in rows])
        except Exception:
            with _pending_lock:
                _pending[:0] = batch
            raise


def _write_every_second() -> None:
    while True:
        time.sleep(FLUSH_SECONDS)
        try:
            flush()
        except Exception:  # noqa: BLE001 - the scans wait for the next second; the thread lives on
            traceback.print_exc()


def record(stamp_id: int) -> None:
    global _writer
    with _pending_lock:
        _pending.append((stamp_id, dt.datetime.now(dt.timezone.utc)))
        if _writer is None:  # this worker's writer, started by its first scan
            _writer = threading.Thread(target=_write_every_second, name="scan-writer", daemon=True)
            _writer.start()
            atexit.register(flush)


def _day(value) -> str:
    if value is None:
        return "—"
    return (value if isinstance(value, str) else value.isoformat())[:10]


def render(row) -> str:
    (_id, serial, status, scan_count, first_scan_at, _scratch, lot, produced, expiry, batch_status, recall_reason,
     name, quantity, unit, gtin, _product_status, producer, phone, _producer_status) = row
    if batch_status == "recalled":
        verdict = RECALLED.format(reason=escape(recall_reason or ""))
    elif status != "active":
        verdict = NOT_ACTIVE.format(status=escape(status))
    else:
        verdict = GENUINE.format(seen="Bạn là người đầu tiên kiểm tra tem này." if not scan_count else
                                 f"Tem này đã được kiểm tra {scan_count} lần, lần đầu ngày {_day(first_scan_at)}.")
    return PAGE.format(style=STYLE, verdict=verdict, serial=escape(serial), name=escape(name),
                       quantity=format(Decimal(str(quantity)).normalize(), "f"), unit=escape(unit),
                       gtin=escape(gtin or "—"), producer=escape(producer), phone=escape(phone), lot=escape(lot),
                       produced=_day(produced), expiry=_day(expiry), status=escape(status))


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    row = connection().execute(LOOKUP, (path[3:],)).fetchone() if path.startswith("/s/") else None
    if row is None:
        start_response("404 Not Found", [("Content-Type", "text/html; charset=utf-8"),
                                          ("Content-Length", str(len(NOT_FOUND)))])
        return [NOT_FOUND]
    body = render(row).encode()
    if environ["REQUEST_METHOD"] == "GET":
        record(row[0])
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body))),
                              ("Cache-Control", "no-store")])
    return [body]
