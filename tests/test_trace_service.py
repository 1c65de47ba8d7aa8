"""Batches, the hash-chained diary and the tenancy of the traceability models: plain functions
and the session, no HTTP."""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from flask_login import AnonymousUserMixin, login_user, logout_user
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import NotFound

from marketplace.access import owned_or_404, scoped
from marketplace.models import Batch, EventKind, Stamp, StampRun, TraceEvent
from marketplace.stamps.service import issue_run
from marketplace.trace.service import (GENESIS, TraceError, append_event, close_batch, compute_hash,
                                       create_batch, event_count, normalize_lot, recall_batch, timeline,
                                       verify_chain)
from tests.conftest import listed, make_producer, make_product, make_user

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
HEX64 = re.compile(r"[0-9a-f]{64}")


def at(day: int, hour: int = 7, minute: int = 0, tz=HCM) -> dt.datetime:
    return dt.datetime(2025, 11, day, hour, minute, tzinfo=tz)


def new_batch(s, product, lot="LO-2025-01", *, production=dt.date(2025, 11, 1), **kw) -> Batch:
    batch = create_batch(s, product, lot_code=lot, quantity=Decimal("500"), unit="kg",
                         production_date=production, **kw)
    s.flush()
    return batch


# ---- lot codes and batches --------------------------------------------------------

@pytest.mark.parametrize("typed, expected", [
    ("lo-2025-01", "LO-2025-01"),
    ("  a1 ", "A1"),
    ("2025", "2025"),
    ("A" * 20, "A" * 20),
])
def test_normalize_lot_accepts(typed, expected):
    assert normalize_lot(typed) == expected


@pytest.mark.parametrize("typed", [
    "A" * 21, "", "   ", None, "LO 01", "LO_01", "LÔ-01", "lô01", "ĐT-01", "đt01", "LO/01", "LO.01",
    "A\nB", "LO-01\u00a0X",
])
def test_normalize_lot_refuses(typed):
    with pytest.raises(TraceError) as exc:
        normalize_lot(typed)
    assert exc.value.code == "lot_format"


def test_create_batch(db, world):
    s = db.session
    user = world.users["producer_a"]
    batch = new_batch(s, world.product_a, "lo-2025-01", growing_area="Thửa 12, cánh đồng Đông", user=user)
    s.commit()
    s.expire_all()
    assert (batch.lot_code, batch.status, batch.unit, batch.quantity) == ("LO-2025-01", "open", "kg", Decimal("500"))
    assert batch.growing_area == "Thửa 12, cánh đồng Đông"
    assert batch.created_by_id == user.id and batch.created_at.tzinfo is not None
    assert batch.expiry_date is None  # the product has no shelf life
    assert not batch.is_recalled


def test_lot_is_unique_per_product(db, world):
    s = db.session
    new_batch(s, world.product_a, "LO-1")
    for lot in ("LO-1", "lo-1", " Lo-1 "):
        with pytest.raises(TraceError) as exc:
            new_batch(s, world.product_a, lot)
        assert exc.value.code == "lot_taken"
    new_batch(s, world.product_b, "LO-1")        # the same lot for another product is fine
    new_batch(s, world.published_a, "LO-1")      # even another product of the same producer
    s.commit()
    assert s.scalar(select(func.count()).select_from(Batch)) == 3
    # the database enforces it too (two requests racing past the check)
    with pytest.raises(IntegrityError):
        s.add(Batch(product_id=world.product_a.id, lot_code="LO-1", quantity=Decimal("1"), unit="kg",
                    production_date=dt.date(2025, 1, 1)))
        s.flush()
    s.rollback()


def test_default_expiry_from_shelf_life(db, world):
    s = db.session
    world.product_a.shelf_life_days = 180
    s.flush()
    batch = new_batch(s, world.product_a, "LO-A", production=dt.date(2025, 1, 1))
    assert batch.expiry_date == dt.date(2025, 6, 30)
    explicit = new_batch(s, world.product_a, "LO-B", production=dt.date(2025, 1, 1), expiry_date=dt.date(2025, 3, 1))
    assert explicit.expiry_date == dt.date(2025, 3, 1)
    same_day = new_batch(s, world.product_a, "LO-C", production=dt.date(2025, 1, 1), expiry_date=dt.date(2025, 1, 1))
    assert same_day.expiry_date == dt.date(2025, 1, 1)
    with pytest.raises(TraceError) as exc:
        new_batch(s, world.product_a, "LO-D", production=dt.date(2025, 1, 2), expiry_date=dt.date(2025, 1, 1))
    assert exc.value.code == "expiry_before_production"
    s.commit()
    assert s.scalar(select(func.count()).select_from(Batch)) == 3


def test_close_and_recall(db, world):
    s = db.session
    officer = world.users["officer"]
    batch = new_batch(s, world.product_a)
    close_batch(batch)
    assert batch.status == "closed"
    with pytest.raises(TraceError) as exc:
        close_batch(batch)
    assert exc.value.code == "not_open"
    for reason in ("", "   ", None):
        with pytest.raises(TraceError) as exc:
            recall_batch(batch, reason, user=officer)
        assert exc.value.code == "reason_required"
    assert batch.status == "closed"
    recall_batch(batch, "  Dư lượng thuốc BVTV vượt ngưỡng  ", user=officer)
    s.commit()
    s.expire_all()
    assert batch.is_recalled and batch.status == "recalled"
    assert batch.recall_reason == "Dư lượng thuốc BVTV vượt ngưỡng"
    assert batch.recalled_by_id == officer.id and batch.recalled_at.tzinfo is not None
    with pytest.raises(TraceError) as exc:
        recall_batch(batch, "lần nữa", user=officer)
    assert exc.value.code == "already_recalled"
    with pytest.raises(TraceError) as exc:
        close_batch(batch)
    assert exc.value.code == "not_open"
    # an open batch can be recalled directly
    other = new_batch(s, world.product_b)
    recall_batch(other, "Bao bì rách")
    assert other.is_recalled and other.recalled_by_id is None


# ---- the diary: a hash chain ------------------------------------------------------

DIARY = [
    ("seeding", at(1), "Gieo mạ giống nếp cái hoa vàng", {}),
    ("input", at(3, 6, 30), "Bón lót phân hữu cơ", {"input_name": "Phân bò ủ hoai", "input_quantity": "200 kg",
                                                    "input_lot": "PB-07", "supplier": "HTX Đồng Tiến"}),
    ("care", at(10, 16), "Làm cỏ, tưới nước", {}),
    ("harvest", at(20, 5, 45), "Thu hoạch 500 kg", {}),
    ("shipping", at(21, 9), "Giao cho cửa hàng", {"counterpart": "Cửa hàng OCOP Thọ Xuân", "document_no": "PX-0042"}),
]


@pytest.fixture
def diary(db, world):
    """A batch of producer A with five diary events, committed."""
    s = db.session
    user = world.users["producer_a"]
    batch = new_batch(s, world.product_a, user=user)
    events = [append_event(s, batch, kind=kind, occurred_at=when, place="Thọ Xuân, Thanh Hóa", description=desc,
                           details=details, user=user) for kind, when, desc, details in DIARY]
    s.commit()
    return batch, events


def test_append_event_builds_a_chain(db, diary, world):
    s = db.session
    batch, events = diary
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS
    for previous, event in zip(events, events[1:]):
        assert event.prev_hash == previous.entry_hash
    assert all(HEX64.fullmatch(e.entry_hash) for e in events)
    assert len({e.entry_hash for e in events}) == 5
    assert all(e.recorded_by_id == world.users["producer_a"].id and e.recorded_at.tzinfo for e in events)
    assert events[0].timezone == "Asia/Ho_Chi_Minh"
    assert event_count(s, batch.id) == 5
    assert verify_chain(s, batch.id).ok


def test_chain_survives_the_database_round_trip(db, diary):
    """Stored and reloaded (JSON details, UTC datetimes, Vietnamese text), every hash still matches."""
    s = db.session
    batch_id = diary[0].id
    s.close()  # a fresh session: nothing cached
    events = s.scalars(select(TraceEvent).where(TraceEvent.batch_id == batch_id).order_by(TraceEvent.seq)).all()
    assert events[1].details == DIARY[1][3]
    assert events[3].occurred_at == at(20, 5, 45) and events[3].occurred_at.utcoffset() == dt.timedelta(0)
    prev = GENESIS
    for e in events:
        assert compute_hash(e, prev) == e.entry_hash
        prev = e.entry_hash
    report = verify_chain(s, batch_id)
    assert (report.ok, report.checked, report.first_broken_seq, report.problem) == (True, 5, None, "")


def test_details_are_filtered_and_stringified(db, world):
    s = db.session
    batch = new_batch(s, world.product_a)
    e = append_event(s, batch, kind="input", occurred_at=at(2), details={
        "input_name": "NPK 16-16-8", "input_quantity": Decimal("12.5"), "supplier": "", "input_lot": None,
        "colour": "xanh"})
    assert e.details == {"input_name": "NPK 16-16-8", "input_quantity": "12.5"}
    s.commit()
    assert verify_chain(s, batch.id).ok


def test_an_empty_diary_verifies(db, world):
    s = db.session
    batch = new_batch(s, world.product_a)
    report = verify_chain(s, batch.id)
    assert (report.ok, report.checked, report.first_broken_seq) == (True, 0, None)


def test_chains_of_two_batches_are_independent(db, world):
    s = db.session
    a, b = new_batch(s, world.product_a), new_batch(s, world.product_b)
    for i in range(3):
        append_event(s, a, kind="care", occurred_at=at(2 + i), description=f"A{i}")
        append_event(s, b, kind="care", occurred_at=at(2 + i), description=f"B{i}")
    s.commit()
    assert [e.seq for e in a.events] == [e.seq for e in b.events] == [1, 2, 3]
    assert a.events[0].prev_hash == b.events[0].prev_hash == GENESIS
    s.execute(text("UPDATE trace_event SET description = 'sửa' WHERE batch_id = :b AND seq = 2"), {"b": a.id})
    s.commit()
    assert not verify_chain(s, a.id).ok
    assert verify_chain(s, b.id).ok


def reverify(s, batch_id):
    s.commit()        # raw SQL changed rows behind the session's back: reload them
    s.expire_all()
    return verify_chain(s, batch_id)


@pytest.mark.parametrize("sql", [
    "UPDATE trace_event SET description = 'Thu hoạch 900 kg' WHERE batch_id = :b AND seq = 3",
    "UPDATE trace_event SET place = 'Nơi khác' WHERE batch_id = :b AND seq = 3",
    "UPDATE trace_event SET kind = 'inspection' WHERE batch_id = :b AND seq = 3",
    "UPDATE trace_event SET photo = 'abc.jpg' WHERE batch_id = :b AND seq = 3",
    "UPDATE trace_event SET timezone = 'UTC' WHERE batch_id = :b AND seq = 3",
    "UPDATE trace_event SET recorded_by_id = NULL WHERE batch_id = :b AND seq = 3",
])
def test_an_edited_row_is_detected(db, diary, sql):
    s = db.session
    batch, _ = diary
    s.execute(text(sql), {"b": batch.id})
    report = reverify(s, batch.id)
    assert not report.ok
    assert report.first_broken_seq == 3 and report.checked == 2
    assert "content changed" in report.problem


@pytest.mark.parametrize("values", [
    {"occurred_at": at(20, 5, 45) + dt.timedelta(days=1)},
    {"occurred_at": at(20, 5, 45) + dt.timedelta(minutes=1)},
    {"details": {"input_name": "Phân bò ủ hoai", "input_quantity": "20 kg", "input_lot": "PB-07",
                 "supplier": "HTX Đồng Tiến"}},
    {"details": {}},
    {"recorded_at": dt.datetime(2025, 11, 1, tzinfo=dt.timezone.utc)},
])
def test_an_edited_time_or_detail_is_detected(db, diary, values):
    s = db.session
    batch, _ = diary
    seq = 2 if "details" in values else 4
    s.execute(update(TraceEvent.__table__).where(TraceEvent.__table__.c.batch_id == batch.id,
                                                 TraceEvent.__table__.c.seq == seq).values(**values))
    report = reverify(s, batch.id)
    assert (report.ok, report.first_broken_seq) == (False, seq)
    assert "content changed" in report.problem


def test_a_deleted_middle_row_is_a_missing_event(db, diary):
    s = db.session
    batch, _ = diary
    s.execute(text("DELETE FROM trace_event WHERE batch_id = :b AND seq = 3"), {"b": batch.id})
    report = reverify(s, batch.id)
    assert (report.ok, report.first_broken_seq, report.checked) == (False, 3, 2)
    assert report.problem == "missing event"


def test_a_deleted_first_row_is_a_missing_event(db, diary):
    s = db.session
    batch, _ = diary
    s.execute(text("DELETE FROM trace_event WHERE batch_id = :b AND seq = 1"), {"b": batch.id})
    report = reverify(s, batch.id)
    assert (report.ok, report.first_broken_seq, report.problem) == (False, 1, "missing event")


def test_a_changed_entry_hash_is_detected(db, diary):
    """The row whose hash was overwritten no longer matches its content: reported first."""
    s = db.session
    batch, _ = diary
    s.execute(text("UPDATE trace_event SET entry_hash = :h WHERE batch_id = :b AND seq = 2"),
              {"h": "f" * 64, "b": batch.id})
    report = reverify(s, batch.id)
    assert (report.ok, report.first_broken_seq) == (False, 2)


def test_a_rewritten_row_breaks_the_next_link(db, diary):
    """An editor who also recomputes the edited row's own hash is caught by the next event."""
    s = db.session
    batch, _ = diary
    s.execute(text("UPDATE trace_event SET description = 'Thu hoạch 900 kg' WHERE batch_id = :b AND seq = 4"),
              {"b": batch.id})
    s.commit()
    s.expire_all()
    forged = s.scalars(select(TraceEvent).where(TraceEvent.batch_id == batch.id, TraceEvent.seq == 4)).one()
    new_hash = compute_hash(forged, forged.prev_hash)
    s.execute(text("UPDATE trace_event SET entry_hash = :h WHERE id = :id"), {"h": new_hash, "id": forged.id})
    report = reverify(s, batch.id)
    assert (report.ok, report.first_broken_seq, report.checked) == (False, 5, 4)
    assert report.problem == "previous hash does not match"


def test_a_changed_prev_hash_is_detected(db, diary):
    s = db.session
    batch, events = diary
    s.execute(text("UPDATE trace_event SET prev_hash = :h WHERE batch_id = :b AND seq = 2"),
              {"h": GENESIS, "b": batch.id})
    report = reverify(s, batch.id)
    assert (report.ok, report.first_broken_seq, report.problem) == (False, 2, "previous hash does not match")


def test_a_correction_is_a_new_event_and_keeps_history(db, diary, world):
    s = db.session
    batch, events = diary
    harvest = events[3]
    fix = append_event(s, batch, kind="harvest", occurred_at=at(20, 5, 45), description="Thu hoạch 450 kg (cân lại)",
                       corrects=harvest, user=world.users["coop"])
    s.commit()
    s.expire_all()
    assert (fix.seq, fix.corrects_id, fix.prev_hash) == (6, harvest.id, events[4].entry_hash)
    assert fix.corrects is harvest
    assert harvest.description == "Thu hoạch 500 kg"  # untouched
    assert event_count(s, batch.id) == 6
    assert verify_chain(s, batch.id).ok
    shown = timeline(batch)
    assert [e.seq for e in shown] == [1, 2, 3, 4, 5, 6]
    assert shown[3].corrected_by is fix
    assert all(e.corrected_by is None for e in shown if e is not harvest)
    # a correction of a correction
    fix2 = append_event(s, batch, kind="harvest", occurred_at=at(20, 6), description="Thu hoạch 455 kg", corrects=fix)
    s.commit()
    s.expire_all()
    shown = timeline(batch)
    assert shown[5].corrected_by is fix2 and shown[3].corrected_by is fix and shown[6].corrected_by is None
    # which event it corrects is part of the hash
    s.execute(text("UPDATE trace_event SET corrects_id = NULL WHERE id = :id"), {"id": fix.id})
    report = reverify(s, batch.id)
    assert (report.ok, report.first_broken_seq) == (False, 6)


def test_correcting_right_after_appending_in_one_transaction(db, world):
    """The corrected event may still be pending: its id must be known before the correction is hashed."""
    s = db.session
    batch = new_batch(s, world.product_a)
    first = append_event(s, batch, kind="care", occurred_at=at(2), description="Phun thuốc")
    fix = append_event(s, batch, kind="care", occurred_at=at(2), description="Phun chế phẩm sinh học", corrects=first)
    s.commit()
    assert fix.corrects_id == first.id is not None
    assert verify_chain(s, batch.id).ok


def test_timeline_sees_events_appended_after_it_was_shown(db, diary):
    s = db.session
    batch, events = diary
    assert len(timeline(batch)) == 5
    fix = append_event(s, batch, kind="harvest", occurred_at=at(20), description="Sửa", corrects=events[3])
    s.flush()
    shown = timeline(batch)
    assert len(shown) == 6 and shown[3].corrected_by is fix


def test_naive_time_unknown_kind_and_other_batch_are_refused(db, diary, world):
    s = db.session
    batch, events = diary
    other = new_batch(s, world.product_b)
    other_event = append_event(s, other, kind="care", occurred_at=at(2))
    s.commit()
    cases = [
        (dict(kind="harvest", occurred_at=dt.datetime(2025, 11, 20, 6, 0)), "naive_time"),
        (dict(kind="fertilize", occurred_at=at(20)), "kind"),
        (dict(kind="HARVEST", occurred_at=at(20)), "kind"),
        (dict(kind="", occurred_at=at(20)), "kind"),
        (dict(kind="harvest", occurred_at=at(20), corrects=other_event), "corrects_other_batch"),
    ]
    for kwargs, code in cases:
        with pytest.raises(TraceError) as exc:
            append_event(s, batch, **kwargs)
        assert exc.value.code == code
    s.commit()
    assert event_count(s, batch.id) == 5 and event_count(s, other.id) == 1
    assert verify_chain(s, batch.id).ok


def test_every_kind_is_accepted_and_time_is_stored_as_an_instant(db, world):
    s = db.session
    batch = new_batch(s, world.product_a)
    for i, kind in enumerate(EventKind):
        append_event(s, batch, kind=kind.value, occurred_at=at(1 + i, 23, 30))
    utc_event = append_event(s, batch, kind="receiving", occurred_at=dt.datetime(2025, 11, 30, 16, 30, tzinfo=dt.timezone.utc))
    s.commit()
    s.expire_all()
    assert [e.kind for e in batch.events][:9] == [k.value for k in EventKind]
    assert batch.events[0].occurred_at == at(1, 23, 30)                      # 16:30 UTC
    assert batch.events[0].occurred_at.astimezone(HCM).date() == dt.date(2025, 11, 1)
    assert utc_event.occurred_at == at(30, 23, 30)
    assert verify_chain(s, batch.id).ok


# ---- tenancy of batches, diary events, stamp runs and stamps ------------------------

@pytest.fixture
def owned(db, world):
    """One of each new model, owned by producer A (a member of the cooperative)."""
    s = db.session
    batch = new_batch(s, listed(world.product_a))
    event = append_event(s, batch, kind="harvest", occurred_at=at(20))
    run = issue_run(s, batch, 3)
    s.flush()
    stamp = s.scalars(select(Stamp).where(Stamp.run_id == run.id, Stamp.position == 2)).one()
    s.commit()
    return {Batch: batch.id, TraceEvent: event.id, StampRun: run.id, Stamp: stamp.id}


MODELS = [Batch, TraceEvent, StampRun, Stamp]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_owned_or_404_with_a_user(db, world, owned, model):
    for who in ("producer_a", "coop", "officer", "admin"):
        assert owned_or_404(model, owned[model], user=world.users[who]).id == owned[model], who
    with pytest.raises(NotFound):
        owned_or_404(model, owned[model], user=world.users["producer_b"])


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_owned_or_404_with_the_logged_in_user(app, db, world, owned, model):
    for who, allowed in [("producer_b", False), ("producer_a", True), ("coop", True), ("officer", True)]:
        with app.test_request_context("/"):
            login_user(world.users[who])
            if allowed:
                assert owned_or_404(model, str(owned[model])).id == owned[model]
            else:
                with pytest.raises(NotFound):
                    owned_or_404(model, owned[model])
            logout_user()
    with app.test_request_context("/"):
        with pytest.raises(NotFound):  # anonymous
            owned_or_404(model, owned[model])
    with pytest.raises(NotFound):
        owned_or_404(model, owned[model], user=AnonymousUserMixin())


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_owned_or_404_bad_ids(db, world, owned, model):
    for ident in (0, -1, "abc", None, "", 2**31, 10**30, "1e3", owned[model] + 1000):
        with pytest.raises(NotFound):
            owned_or_404(model, ident, user=world.users["officer"])


def test_a_member_does_not_see_the_cooperatives_own_batches(db, world, owned):
    s = db.session
    coop_product = make_product(s, world.coop, "Gạo tám thơm HTX")
    coop_batch = new_batch(s, coop_product, "HTX-01")
    append_event(s, coop_batch, kind="harvest", occurred_at=at(5))
    s.commit()
    with pytest.raises(NotFound):
        owned_or_404(Batch, coop_batch.id, user=world.users["producer_a"])
    assert owned_or_404(Batch, coop_batch.id, user=world.users["coop"]).id == coop_batch.id


def test_scoped_lists_only_the_tenants_rows(db, world, owned):
    s = db.session
    b_batch = new_batch(s, listed(world.product_b), "LO-B")
    append_event(s, b_batch, kind="care", occurred_at=at(3))
    b_run = issue_run(s, b_batch, 2)
    # another cooperative with its own member: invisible to the first cooperative
    coop2 = make_producer(s, "HTX Xuân Lập", kind="cooperative", ward=15667)
    s.flush()
    member2 = make_producer(s, "Hộ Phạm Văn C", cooperative=coop2, ward=15667)
    s.flush()
    coop2_user = make_user(s, "coop2@example.vn", producer=coop2)
    c_batch = new_batch(s, make_product(s, member2, "Chè xanh Xuân Lập"), "LO-C")
    s.commit()

    def visible(model, who):
        user = world.users[who] if isinstance(who, str) else who
        return set(s.scalars(scoped(select(model.id), model, user=user)))

    a_batch = owned[Batch]
    assert visible(Batch, "producer_a") == {a_batch}
    assert visible(Batch, "coop") == {a_batch}
    assert visible(Batch, "producer_b") == {b_batch.id}
    assert visible(Batch, coop2_user) == {c_batch.id}
    assert visible(Batch, "officer") == {a_batch, b_batch.id, c_batch.id}
    assert visible(StampRun, "producer_b") == {b_run.id}
    assert visible(StampRun, coop2_user) == set()
    assert len(visible(Stamp, "producer_b")) == 2 and len(visible(Stamp, "coop")) == 3
    assert visible(TraceEvent, "producer_a") == {owned[TraceEvent]}
    assert len(visible(TraceEvent, "officer")) == 2
    with pytest.raises(NotFound):
        owned_or_404(Batch, c_batch.id, user=world.users["coop"])


@pytest.mark.parametrize("lot", ["---", "-", "--"])
def test_lot_of_only_dashes_is_refused(lot):
    from marketplace.trace.service import TraceError, normalize_lot

    with pytest.raises(TraceError):
        normalize_lot(lot)
