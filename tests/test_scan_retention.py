"""Issue 18, points 2 and 5: buyers' scans counted per day (the officers' figures read days,
not raw rows), and raw scans older than ``SCAN_RETENTION_DAYS`` folded into those days and
deleted in batches by the daily job, keeping what each stamp page says.

Every aggregate is compared with a count made here from the raw rows (before they go)."""
from __future__ import annotations

import datetime as dt
from collections import Counter

import time_machine
from sqlalchemy import select

from marketplace import stats
from marketplace.models import Scan, ScanDay, ScanFold, Stamp
from marketplace.models.base import LOCAL_TZ, local_today
from marketplace.scan import retention
from marketplace.trace.report import lot_report_rows
from tests.test_scan import COPIED, GENUINE, fresh_stamp, html, make_run, web  # noqa: F401  (web: a fixture)


def day_rows(db) -> dict[tuple, int]:
    db.session.rollback()
    return {(r.day, r.batch_id, r.province_code): r.scans for r in db.session.scalars(select(ScanDay))}


def counted_from_raw(db) -> dict[tuple, int]:
    db.session.rollback()
    counts: Counter = Counter()
    for scan, batch_id in db.session.execute(select(Scan, Stamp.batch_id).join(Stamp, Stamp.id == Scan.stamp_id)):
        if not scan.test:
            moment = scan.scanned_at if scan.scanned_at.tzinfo else scan.scanned_at.replace(tzinfo=dt.timezone.utc)
            counts[(moment.astimezone(LOCAL_TZ).date(), batch_id, scan.province_code or 0)] += 1
    return dict(counts)


def test_the_scan_writer_keeps_the_days(db, world, web, app):
    client = web(SCAN_PROVINCE_HEADER="X-Province").test_client()
    batch, _run, serials = make_run(db, world, 3)
    for n, (serial, province) in enumerate([(serials[0], "38"), (serials[0], "38"), (serials[1], "1"),
                                            (serials[2], ""), (serials[2], "38")]):
        headers = {"X-Province": province} if province else {}
        assert client.get(f"/S/{serial}", headers=headers, environ_base={"REMOTE_ADDR": f"10.0.{n}.9"}).status_code == 200
    kept = day_rows(db)
    assert kept == counted_from_raw(db)
    today = local_today()
    assert kept == {(today, batch.id, 38): 3, (today, batch.id, 1): 1, (today, batch.id, 0): 1}
    # A producer's own (test) scan is stored, never counted.
    from tests.conftest import login

    own = web().test_client()
    login(own, "a@example.vn")
    own.get(f"/S/{serials[0]}")
    assert day_rows(db) == kept and len(db.session.scalars(select(Scan)).all()) == 6


def test_one_write_of_several_lots_counts_each_lot_on_its_local_day(db, world):
    """The writer's days on their own: one batch of scans of two lots, on both sides of a local
    midnight (17:00 UTC), in three provinces, with a test scan among them, each counted in its
    own lot's (day, province), as the raw rows say, whatever the stamps' order."""
    from marketplace.scan.recorder import ScanRow, write_scans

    first, _r, one = make_run(db, world, 3, lot="LOT-A")
    second, _r, two = make_run(db, world, 2, lot="LOT-B")
    a1, a2, a3, b1, b2 = (fresh_stamp(db, serial).id for serial in (*one, *two))
    late = dt.datetime(2025, 11, 1, 16, 59, tzinfo=dt.timezone.utc)  # 23:59 in Vietnam
    early = late + dt.timedelta(minutes=2)                           # 00:01 the next day
    scans = [(b1, late, 38), (a1, late, 38), (a2, early, 1), (b2, early, None), (a3, late, 38), (b1, early, 38),
             (a1, early, None)]
    rows = [ScanRow(stamp, at, province, "chrome", f"s{n}", False, True) for n, (stamp, at, province) in enumerate(scans)]
    write_scans(db.session.connection(), [*rows, ScanRow(b2, late, 38, "chrome", "own", True)])
    db.session.commit()
    nov1, nov2 = dt.date(2025, 11, 1), dt.date(2025, 11, 2)
    assert day_rows(db) == counted_from_raw(db) == {
        (nov1, first.id, 38): 2, (nov2, first.id, 1): 1, (nov2, first.id, 0): 1,
        (nov1, second.id, 38): 1, (nov2, second.id, 0): 1, (nov2, second.id, 38): 1}


def _old_scans(db, batch_id_serials, days_ago: list[int], today: dt.date):
    """Buyers' scans written straight into the table on past days (as an import would), their
    days derived by the daily job's rebuild."""
    stamps = [fresh_stamp(db, s) for s in batch_id_serials]
    moments = []
    for n, ago in enumerate(days_ago):
        at = dt.datetime.combine(today - dt.timedelta(days=ago), dt.time(9, n % 60), LOCAL_TZ)
        stamp = stamps[n % len(stamps)]
        db.session.add(Scan(stamp_id=stamp.id, scanned_at=at, province_code=38 if n % 3 else 1,
                            agent_family="zalo", scanner=f"{ago}-p{n % 4}"))  # a day's key: a day's hashes
        stamp.scan_count += 1
        stamp.first_scan_at = min(filter(None, [stamp.first_scan_at, at]))
        moments.append(at)
    db.session.flush()
    for ago in set(days_ago):
        retention.rebuild_day(db.session, today - dt.timedelta(days=ago))
    for stamp in stamps:  # as the writer derives it: distinct scanners of the rows
        stamp.scanner_count = len({s.scanner for s in db.session.scalars(select(Scan).where(Scan.stamp_id == stamp.id))})
    db.session.commit()
    return moments


def test_old_scans_are_folded_and_deleted_keeping_every_figure(app, db, world, web):
    client = web().test_client()
    batch, _run, serials = make_run(db, world, 3)
    today = local_today()
    days_ago = [800, 800, 800, 760, 760, 731, 730, 100, 5, 0] * 3
    _old_scans(db, serials, days_ago, today)
    product_id = batch.product_id
    before = {
        "days": day_rows(db),
        "stamps": {s: (fresh_stamp(db, s).scan_count, fresh_stamp(db, s).first_scan_at, fresh_stamp(db, s).scanner_count)
                   for s in serials},
        "activity": stats.activity(db.session, stats.Filters(product_id=product_id, date_from=today - dt.timedelta(800),
                                                             date_to=today), today=today).rows,
        "report": [r for r in lot_report_rows(db.session, db.session.get(type(batch), batch.id))[1] if r[0] == "scan"],
    }
    assert before["days"] == counted_from_raw(db)
    folded = retention.fold_old_scans(db.session, today=today, retention_days=730, batch_size=4)
    old = sum(1 for ago in days_ago if ago > 730)
    assert (folded.days, folded.deleted) == (3, old)  # days 800, 760 and 731 ago
    assert folded.batches == -(-9 // 4) + -(-6 // 4) + -(-3 // 4)  # 9, 6 and 3 rows, 4 per delete
    db.session.rollback()
    left = db.session.scalars(select(Scan.scanned_at)).all()
    assert len(left) == len(days_ago) - old
    assert sorted(db.session.scalars(select(ScanFold.day))) == [today - dt.timedelta(days=d) for d in (800, 760, 731)]
    assert day_rows(db) == before["days"]  # the figures' days are the same…
    assert stats.activity(db.session, stats.Filters(product_id=product_id, date_from=today - dt.timedelta(800),
                                                    date_to=today), today=today).rows == before["activity"]
    assert [r for r in lot_report_rows(db.session, db.session.get(type(batch), batch.id))[1] if r[0] == "scan"] \
        == before["report"]  # …and the lot report's scans and distinct stamps per day and province
    for serial in serials:  # what the stamp page says is kept on the stamp
        stamp = fresh_stamp(db, serial)
        assert (stamp.scan_count, stamp.first_scan_at, stamp.scanner_count) == before["stamps"][serial]
    # A second run finds nothing to do; nothing is counted twice.
    again = retention.fold_old_scans(db.session, today=today, retention_days=730, batch_size=4)
    assert (again.days, again.deleted) == (0, 0) and day_rows(db) == before["days"]
    # A new buyer's scan recounts distinct scanners: the folded days still count (by what was folded).
    scanners_before = fresh_stamp(db, serials[0]).scanner_count
    client.get(f"/S/{serials[0]}", environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert fresh_stamp(db, serials[0]).scanner_count == scanners_before + 1


def test_a_fold_interrupted_after_its_mark_only_goes_on_deleting(app, db, world):
    batch, _run, serials = make_run(db, world, 2)
    today = local_today()
    _old_scans(db, serials, [900] * 6, today)
    day = today - dt.timedelta(days=900)
    assert retention._fold_day(db.session, day)  # folded, then the process died before deleting
    folded_days = day_rows(db)
    scanners = {s: fresh_stamp(db, s).scanners_folded for s in serials}
    report = retention.fold_old_scans(db.session, today=today, retention_days=730, batch_size=5)
    assert (report.days, report.deleted, report.batches) == (0, 6, 2)
    assert day_rows(db) == folded_days and {s: fresh_stamp(db, s).scanners_folded for s in serials} == scanners


def test_the_daily_job_folds_with_the_configured_retention(app, db, world):
    _batch, _run, serials = make_run(db, world, 1)
    today = local_today()
    _old_scans(db, serials, [40, 10, 1], today)
    app.config.update(SCAN_RETENTION_DAYS=30, SCAN_FOLD_BATCH=100)
    result = app.test_cli_runner().invoke(args=["expire"])
    assert result.exit_code == 0, result.output
    assert "scans older than 30 days: 1 days folded, 1 raw scans deleted in 1 batches" in result.output
    assert len(db.session.scalars(select(Scan)).all()) == 2


def test_a_stamp_scanned_long_ago_keeps_its_verdict(app, db, world, web):
    """Six people scanned it three years ago (over the threshold of 5): folding their rows
    away does not turn the copied stamp genuine again."""
    client = web().test_client()
    _batch, _run, (serial, *_) = make_run(db, world, 1)
    with time_machine.travel(dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=3 * 365), tick=True):
        for n in range(6):
            client.get(f"/S/{serial}", environ_base={"REMOTE_ADDR": f"10.1.{n}.9"})
    assert COPIED in html(client.get(f"/S/{serial}", environ_base={"REMOTE_ADDR": "10.1.0.9"}))
    retention.fold_old_scans(db.session, today=local_today(), retention_days=730)
    db.session.rollback()
    assert len(db.session.scalars(select(Scan)).all()) == 1  # only today's scan is left
    page = html(client.get(f"/S/{serial}", environ_base={"REMOTE_ADDR": "10.1.7.9"}))
    assert COPIED in page and GENUINE not in page
    assert fresh_stamp(db, serial).scanner_count == 8  # six then, two today (a new day: new scanners)
