"""Stamp serials, stamp URLs and stamp runs: plain functions and the session, no HTTP.

Serials: Crockford base32, 16 characters (15 random + a Luhn mod 32 check symbol), never
sequential.  Runs: 1…100,000 stamps, unique serials (retried on collision, also across
processes), issue → active → void.
"""
from __future__ import annotations

import datetime as dt
import math
import multiprocessing as mp
import random
import re
import time
import traceback
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from marketplace.models import Batch, Stamp, StampRun
from marketplace.stamps.serials import (ALPHABET, LENGTH, RANDOM_LENGTH, InvalidSerial, check_symbol,
                                        group_serial, is_valid, new_serial, new_serials, normalize)
from marketplace.stamps.service import (CHUNK, MAX_RUN, StampError, activate_run, issue_run, positions_of,
                                        run_stamps, stamp_url, void_stamps)
from marketplace.trace.service import close_batch, create_batch, recall_batch
from tests.conftest import listed

CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
SERIAL_RE = re.compile(r"[0-9A-HJKMNP-TV-Z]{16}")
# QR alphanumeric mode: 0-9 A-Z space $ % * + - . / :
QR_ALPHANUMERIC = re.compile(r"[0-9A-Z $%*+\-./:]+")


def with_check(body: str) -> str:
    return body + check_symbol(body)


# ---- the alphabet and the shape of a serial -------------------------------------------

def test_alphabet_is_crockford_base32():
    assert ALPHABET == CROCKFORD
    assert len(ALPHABET) == len(set(ALPHABET)) == 32
    assert not set(ALPHABET) & set("ILOU")
    assert ALPHABET == "".join(sorted(ALPHABET))  # digits then capitals, no lower case
    assert LENGTH == 16 and RANDOM_LENGTH == 15
    assert RANDOM_LENGTH * math.log2(len(ALPHABET)) >= 72  # the design asks for ≥ 72 random bits


def test_new_serial_shape():
    for s in [new_serial() for _ in range(1000)] + new_serials(2000):
        assert len(s) == 16
        assert SERIAL_RE.fullmatch(s), s
        assert s[-1] == check_symbol(s[:-1])
        assert is_valid(s)
        assert normalize(s) == s


def test_normalize_accepts_lower_case_groups_and_aliases():
    body = "01" + "".join(random.choice(ALPHABET) for _ in range(13))
    s = with_check(body)
    assert normalize(s.lower()) == s
    assert normalize(group_serial(s)) == s
    assert normalize(group_serial(s, " ")) == s
    assert normalize(group_serial(s).lower()) == s
    assert normalize(f"  {s[:4]} - {s[4:8]}  {s[8:12]}-{s[12:]}\n") == s
    assert normalize(f"{s[:4]}\t{s[4:]}") == s
    # O → 0, I and L → 1, in either case
    for zero in "Oo":
        for one in "IiLl":
            typed = zero + one + s[2:]
            assert normalize(typed) == s
            assert is_valid(typed)


@pytest.mark.parametrize("typed, reason", [
    ("", "format"),
    (None, "format"),
    ("0" * 15, "format"),                      # too short
    ("0" * 17, "format"),                      # too long
    ("0" * 15 + "U", "format"),                # U is not Crockford (not even as an alias)
    ("0" * 14 + "*0", "format"),
    ("0" * 14 + "Đ0", "format"),
    ("0" * 15 + "1", "check"),                 # right shape, wrong check symbol
])
def test_normalize_refuses(typed, reason):
    with pytest.raises(InvalidSerial) as exc:
        normalize(typed)
    assert str(exc.value) == reason
    assert isinstance(exc.value, ValueError)
    assert not is_valid(typed)


def test_check_symbol_detects_every_single_substitution():
    """Exhaustive over all 16 positions × 31 other symbols for 300 random serials."""
    rng = random.Random(20251125)
    checked = 0
    for _ in range(300):
        s = new_serial()
        for i in range(LENGTH):
            for ch in ALPHABET:
                if ch == s[i]:
                    continue
                typo = s[:i] + ch + s[i + 1:]
                assert not is_valid(typo), (s, i, ch)
                checked += 1
            # a character outside the alphabet is a format error, never a valid serial
            assert not is_valid(s[:i] + rng.choice("U*#Ư") + s[i + 1:])
    assert checked == 300 * 16 * 31


def test_check_symbol_is_a_bijection_per_position():
    """Luhn mod 32 is a sum over positions: if, at each position, the 32 symbols give 32
    different check symbols, every single substitution of every possible serial is caught."""
    for i in range(RANDOM_LENGTH):
        checks = {check_symbol("0" * i + ch + "0" * (RANDOM_LENGTH - i - 1)) for ch in ALPHABET}
        assert len(checks) == 32, i


def test_check_symbol_detects_most_adjacent_transpositions():
    missed, total = Counter(), 0
    for _ in range(3000):
        s = new_serial()
        for i in range(LENGTH - 1):  # includes swapping the check symbol with its neighbour
            a, b = s[i], s[i + 1]
            if a == b:
                continue
            total += 1
            if is_valid(s[:i] + b + a + s[i + 2:]):
                missed[frozenset((a, b))] += 1
    rate = 1 - sum(missed.values()) / total
    print(f"adjacent transpositions detected: {rate:.4%} of {total}")
    assert rate >= 0.99
    # Luhn mod N's only blind spot: the first and last symbols (0 ↔ Z)
    assert set(missed) <= {frozenset("0Z")}


# ---- a million serials: unique, not sequential, uniform ----------------------------

@pytest.fixture(scope="module")
def million():
    """A million serials drawn the way issue_run draws them (new_serials, one chunk at a time)."""
    start = time.perf_counter()
    serials = []
    for _ in range(1_000_000 // CHUNK):
        serials.extend(new_serials(CHUNK))
    elapsed = time.perf_counter() - start
    print(f"1,000,000 serials generated in {elapsed:.1f} s")
    return serials


def test_no_duplicates_in_a_million(million):
    assert len(million) == 1_000_000
    assert len(set(million)) == 1_000_000
    assert all(is_valid(s) for s in million[::10])


def test_new_serials_sizes():
    assert new_serials(0) == []
    for n in (1, 2, 3, 7, 16, 4999):
        batch = new_serials(n)
        assert len(batch) == len(set(batch)) == n
        assert all(len(s) == 16 and is_valid(s) for s in batch)
    singles = {new_serial() for _ in range(100_000)}
    assert len(singles) == 100_000


def test_symbols_are_independent_within_and_across_serials(million):
    """P(symbol at k of a serial == symbol at j of the same or of the next serial) ≈ 1/32 for
    every pair of random positions: no shifted overlap between neighbours, no repeated bytes."""
    sample = million[:10_001]
    pairs = list(zip(sample, sample[1:]))
    n = len(pairs)
    low, high = 0.019 * n, 0.044 * n  # 1/32 = 0.03125, ± 7 standard deviations
    positions = range(RANDOM_LENGTH)
    for k in positions:
        for j in positions:
            across = sum(a[k] == b[j] for a, b in pairs)
            assert low < across < high, ("next serial", k, j, across / n)
            if j > k:
                within = sum(a[k] == a[j] for a, _ in pairs)
                assert low < within < high, ("same serial", k, j, within / n)


def test_consecutive_serials_are_not_sequential(million):
    sample = million[:100_000]
    pairs = list(zip(sample, sample[1:]))

    def common_prefix(a, b):
        n = 0
        while n < LENGTH and a[n] == b[n]:
            n += 1
        return n

    prefixes = Counter(common_prefix(a, b) for a, b in pairs)
    mean_prefix = sum(k * v for k, v in prefixes.items()) / len(pairs)
    # random: P(prefix ≥ k) = 32**-k → mean ≈ 1/31, ~98 pairs with ≥ 2, ~3 with ≥ 3
    assert mean_prefix < 0.05, prefixes
    assert sum(v for k, v in prefixes.items() if k >= 3) < 30, prefixes
    assert max(prefixes) < 6, prefixes
    # nor a common suffix (a counter in the low symbols)
    suffixes = Counter(common_prefix(a[::-1], b[::-1]) for a, b in pairs)
    assert sum(v for k, v in suffixes.items() if k >= 3) < 30, suffixes
    # neither increasing nor decreasing: about half of the neighbours go up
    up = sum(a < b for a, b in pairs) / len(pairs)
    assert 0.45 < up < 0.55
    # consecutive serials differ almost everywhere (expected 16 × 31/32 = 15.5 positions)
    hamming = sum(sum(x != y for x, y in zip(a, b)) for a, b in pairs[:20_000]) / 20_000
    assert 15.2 < hamming < 15.8


def test_each_position_is_uniform_over_32_symbols(million):
    """Chi-square per position over 100,000 serials (31 degrees of freedom: mean 31, sd 7.9).
    The upper bound catches a bias, the lower bound on the mean a too-regular (cycling) source."""
    sample = million[:100_000]
    expected = len(sample) / 32
    chi2s = []
    for i in range(LENGTH):
        counts = Counter(s[i] for s in sample)
        assert set(counts) == set(ALPHABET), i
        chi2 = sum((counts[ch] - expected) ** 2 / expected for ch in ALPHABET)
        entropy = -sum(c / len(sample) * math.log2(c / len(sample)) for c in counts.values())
        assert chi2 < 90, (i, chi2)           # p ≈ 1e-7 per position
        assert entropy > 4.99, (i, entropy)   # 5 bits max
        chi2s.append(chi2)
    assert 20 < sum(chi2s) / len(chi2s) < 45, chi2s


def test_group_serial():
    assert group_serial("K7M2P9QX4RT8W3ZA") == "K7M2-P9QX-4RT8-W3ZA"
    assert group_serial("K7M2P9QX4RT8W3ZA", " ") == "K7M2 P9QX 4RT8 W3ZA"
    for _ in range(100):
        s = new_serial()
        grouped = group_serial(s)
        assert len(grouped) == 19 and grouped.count("-") == 3
        assert [len(g) for g in grouped.split("-")] == [4, 4, 4, 4]
        assert normalize(grouped) == s


# ---- stamp_url --------------------------------------------------------------------

SERIAL = with_check("K7M2P9QX4RT8W3Z")


@pytest.mark.parametrize("base, expected", [
    ("http://127.0.0.1:5000", "HTTP://127.0.0.1:5000"),
    ("http://127.0.0.1:5000/", "HTTP://127.0.0.1:5000"),
    ("https://cho-ocop.vn", "HTTPS://CHO-OCOP.VN"),
    ("https://cho-ocop.vn/", "HTTPS://CHO-OCOP.VN"),
    ("HTTPS://Cho-OCOP.vn", "HTTPS://CHO-OCOP.VN"),
    ("https://example.vn/cho", "HTTPS://EXAMPLE.VN/cho"),        # a path is case-sensitive: kept
    ("https://example.vn/cho/", "HTTPS://EXAMPLE.VN/cho"),
    ("https://example.vn/Cho/OCOP/", "HTTPS://EXAMPLE.VN/Cho/OCOP"),
])
def test_stamp_url_short_form(base, expected):
    assert stamp_url(base, SERIAL) == f"{expected}/S/{SERIAL}"


def test_stamp_url_digital_link():
    url = stamp_url("https://cho-ocop.vn/", SERIAL, gtin="08935049501015", lot="LO-2025-01")
    # a lower-case scheme: GS1 parsers (biip) only recognise a Digital Link with one
    assert url == f"https://CHO-OCOP.VN/01/08935049501015/10/LO-2025-01/21/{SERIAL}"
    import biip

    assert biip.parse(url).gs1_digital_link_uri is not None
    # both are needed for the Digital Link form
    assert stamp_url("https://cho-ocop.vn", SERIAL, gtin="08935049501015") == f"HTTPS://CHO-OCOP.VN/S/{SERIAL}"
    assert stamp_url("https://cho-ocop.vn", SERIAL, lot="LO-2025-01") == f"HTTPS://CHO-OCOP.VN/S/{SERIAL}"


@pytest.mark.parametrize("base", ["http://127.0.0.1:5000", "https://cho-ocop.vn", "https://cho-ocop.vn/"])
def test_stamp_url_is_qr_alphanumeric(base):
    for _ in range(200):
        serial = new_serial()
        for url in (stamp_url(base, serial),
                    stamp_url(base, serial, gtin="08935049501015", lot="LO-2025-11-A"),
                    stamp_url(base, serial, gtin="00000000000017", lot="0-9Z")):
            # all QR alphanumeric but the Digital Link's lower-case scheme (GS1 parsers need it)
            scheme, rest = url.split("://", 1)
            assert QR_ALPHANUMERIC.fullmatch(rest), url
            assert scheme in (("http", "https") if "/01/" in url else ("HTTP", "HTTPS")), url
            assert "//" not in url.split("://", 1)[1], url
            assert url.endswith(f"/{serial}")


# ---- stamp runs (the session) -----------------------------------------------------

@pytest.fixture
def batches(world, db):
    s = db.session
    a = create_batch(s, listed(world.product_a), lot_code="lo-a-2025", quantity=Decimal("500"), unit="kg",
                     production_date=dt.date(2025, 11, 1), user=world.users["producer_a"])
    b = create_batch(s, listed(world.product_b), lot_code="lo-b-2025", quantity=Decimal("120"), unit="kg",
                     production_date=dt.date(2025, 11, 2), user=world.users["producer_b"])
    s.commit()
    return a, b


def table_counts(s) -> tuple[int, int]:
    return (s.scalar(select(func.count()).select_from(Stamp)),
            s.scalar(select(func.count()).select_from(StampRun)))


def serials_of(s, run_id) -> list[str]:
    return list(s.scalars(select(Stamp.serial).where(Stamp.run_id == run_id).order_by(Stamp.position)))


def test_issue_run_of_one(db, batches, world):
    s = db.session
    user = world.users["producer_a"]
    run = issue_run(s, batches[0], 1, user=user)
    s.commit()
    stamp = s.scalars(select(Stamp).where(Stamp.run_id == run.id)).one()
    assert (run.count, run.status, run.batch_id, run.created_by_id) == (1, "issued", batches[0].id, user.id)
    assert (stamp.position, stamp.status, stamp.scan_count, stamp.batch_id) == (1, "issued", 0, batches[0].id)
    assert stamp.first_scan_at is None and stamp.first_scan_province is None
    assert is_valid(stamp.serial)
    assert table_counts(s) == (1, 1)


def test_issue_run_of_100_000(db, batches):
    s = db.session
    progress = []
    start = time.perf_counter()
    run = issue_run(s, batches[0], MAX_RUN, progress=progress.append)
    s.commit()
    elapsed = time.perf_counter() - start
    print(f"issue_run(100,000) + commit: {elapsed:.2f} s on {s.get_bind().dialect.name}")
    assert elapsed < 30, elapsed  # a few seconds expected; loose for slow machines
    assert sum(progress) == MAX_RUN and len(progress) == math.ceil(MAX_RUN / CHUNK)
    assert run.count == MAX_RUN
    n, distinct, lo, hi = s.execute(select(func.count(), func.count(Stamp.position.distinct()),
                                           func.min(Stamp.position), func.max(Stamp.position))
                                    .where(Stamp.run_id == run.id)).one()
    assert (n, distinct, lo, hi) == (MAX_RUN, MAX_RUN, 1, MAX_RUN)
    serials = s.scalars(select(Stamp.serial)).all()
    assert len(serials) == len(set(serials)) == MAX_RUN
    assert all(is_valid(x) and len(x) == 16 for x in serials)
    assert s.scalar(select(func.count()).select_from(Stamp).where(Stamp.status != "issued")) == 0
    assert table_counts(s) == (MAX_RUN, 1)


@pytest.mark.parametrize("count", [0, -1, MAX_RUN + 1, "10", 10.0, None])
def test_issue_run_count_out_of_range(db, batches, count):
    s = db.session
    with pytest.raises(StampError) as exc:
        issue_run(s, batches[0], count)
    assert exc.value.code == "count_range"
    s.rollback()
    assert table_counts(s) == (0, 0)


def test_failed_run_leaves_nothing(db, batches):
    """A failure after some chunks were inserted: after rollback, no stamp and no run remain."""
    s = db.session
    calls = 0

    def flaky():
        nonlocal calls
        calls += 1
        if calls > CHUNK + 10:
            raise RuntimeError("printer on fire")
        return new_serial()

    with pytest.raises(RuntimeError):
        issue_run(s, batches[0], 3 * CHUNK, serial_factory=flaky)
    s.rollback()
    assert table_counts(s) == (0, 0)


def test_recalled_batch_refuses_stamps(db, batches, world):
    s = db.session
    recall_batch(batches[0], "Phát hiện dư lượng thuốc BVTV vượt ngưỡng", user=world.users["officer"])
    s.commit()
    with pytest.raises(StampError) as exc:
        issue_run(s, batches[0], 10)
    assert exc.value.code == "batch_recalled"
    s.rollback()
    assert table_counts(s) == (0, 0)
    # a closed batch may still get stamps (packages left in the warehouse)
    close_batch(batches[1])
    issue_run(s, batches[1], 3)
    s.commit()
    assert table_counts(s) == (3, 1)


def factory_with(prefix: list[str]):
    """A serial factory that returns ``prefix`` first, then fresh serials."""
    queue = list(prefix)

    def factory():
        return queue.pop(0) if queue else new_serial()

    factory.remaining = queue
    return factory


def test_collision_with_existing_serials_is_retried(db, batches):
    s = db.session
    first = issue_run(s, batches[1], 5)
    s.commit()
    used = serials_of(s, first.id)
    factory = factory_with(used[:3])  # the database refuses the first chunk: regenerated
    run = issue_run(s, batches[0], 50, serial_factory=factory)
    s.commit()
    assert not factory.remaining
    got = serials_of(s, run.id)
    assert len(got) == len(set(got)) == 50
    assert not set(got) & set(used)
    assert serials_of(s, first.id) == used  # the other batch's stamps are untouched
    assert table_counts(s) == (55, 2)


def test_duplicate_inside_a_chunk_is_retried(db, batches):
    s = db.session
    first = issue_run(s, batches[1], 2)
    s.commit()
    used = serials_of(s, first.id)
    factory = factory_with([used[0]] * 3 + [used[1]])  # duplicates within the first chunk
    run = issue_run(s, batches[0], 20, serial_factory=factory)
    s.commit()
    got = serials_of(s, run.id)
    assert len(set(got)) == 20 and not set(got) & set(used)
    assert table_counts(s) == (22, 2)


def test_collision_in_a_later_chunk_keeps_earlier_chunks(db, batches):
    """Chunk 2 collides with a serial of chunk 1 of the same run: only chunk 2 is retried."""
    s = db.session
    calls, issued = 0, []

    def factory():
        nonlocal calls
        calls += 1
        if calls == CHUNK + 1:
            return issued[0]
        issued.append(new_serial())
        return issued[-1]

    run = issue_run(s, batches[0], CHUNK + 10, serial_factory=factory)
    s.commit()
    got = serials_of(s, run.id)
    assert len(got) == len(set(got)) == CHUNK + 10
    assert got[:CHUNK] == issued[:CHUNK]  # the first chunk survived the failed savepoint
    assert s.scalar(select(func.max(Stamp.position)).where(Stamp.run_id == run.id)) == CHUNK + 10


def test_collision_that_never_resolves_raises(db, batches):
    s = db.session
    first = issue_run(s, batches[1], 1)
    s.commit()
    used = serials_of(s, first.id)[0]
    with pytest.raises(Exception):
        issue_run(s, batches[0], 1, serial_factory=lambda: used)
    s.rollback()
    assert table_counts(s) == (1, 1)


def test_duplicates_inside_every_attempt_raise_and_never_yield_a_short_run(db, batches):
    """A factory that only ever draws the same serial: a clear error, never a run with fewer
    stamps than it says (regression: the chunk used to be skipped silently)."""
    s = db.session
    stuck = with_check("0" * 15)
    with pytest.raises(StampError) as exc:
        issue_run(s, batches[0], 3, serial_factory=lambda: stuck)
    assert exc.value.code == "collision"
    s.rollback()
    assert table_counts(s) == (0, 0)


# ---- two processes issuing at the same time --------------------------------------

RUNS_PER_PROCESS = 5
RUN_SIZE = 2_000


def _issue_in_process(url: str, tmp: str, batch_id: int, barrier, results) -> None:
    """Child process (spawn): its own app on the same database, issuing runs for one batch."""
    try:
        from marketplace import create_app
        from marketplace.extensions import db
        from tests.conftest import make_config

        app = create_app(make_config(url, Path(tmp)))
        with app.app_context():
            db.session.execute(text("SELECT 1"))  # connect (and leave no transaction open)
            db.session.rollback()
            barrier.wait(timeout=60)
            spans = []
            for _ in range(RUNS_PER_PROCESS):
                start = time.time()
                batch = db.session.get(Batch, batch_id)
                run = issue_run(db.session, batch, RUN_SIZE)
                db.session.commit()
                spans.append((run.id, start, time.time()))
            db.session.remove()
            db.engine.dispose()
        results.put(("ok", batch_id, spans))
    except BaseException:  # noqa: BLE001  (report everything to the parent)
        results.put(("error", batch_id, traceback.format_exc()))


def test_two_processes_issue_at_the_same_time(db, batches, database_url, tmp_path):
    s = db.session
    ids = [b.id for b in batches]
    s.rollback()  # SQLite: no open (write) transaction in this process while the children run
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_issue_in_process, args=(database_url, str(tmp_path), batch_id, barrier, results))
             for batch_id in ids]
    start = time.perf_counter()
    for p in procs:
        p.start()
    try:
        reports = [results.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    elapsed = time.perf_counter() - start
    errors = [r for r in reports if r[0] != "ok"]
    assert not errors, errors[0][2]
    assert all(p.exitcode == 0 for p in procs)
    spans = {r[1]: r[2] for r in reports}
    print(f"2 processes × {RUNS_PER_PROCESS} runs × {RUN_SIZE}: {elapsed:.1f} s including start-up; "
          f"run ids {[[x[0] for x in spans[i]] for i in ids]}")

    total = 2 * RUNS_PER_PROCESS * RUN_SIZE
    s.expire_all()
    assert table_counts(s) == (total, 2 * RUNS_PER_PROCESS)
    assert s.scalar(select(func.count(Stamp.serial.distinct()))) == total
    for batch_id in ids:
        runs = s.scalars(select(StampRun).where(StampRun.batch_id == batch_id)).all()
        assert sorted(r.id for r in runs) == sorted(x[0] for x in spans[batch_id])
        for r in runs:
            assert r.count == RUN_SIZE
            n, distinct, lo, hi, batch_ids = s.execute(
                select(func.count(), func.count(Stamp.position.distinct()), func.min(Stamp.position),
                       func.max(Stamp.position), func.count(Stamp.batch_id.distinct()))
                .where(Stamp.run_id == r.id)).one()
            assert (n, distinct, lo, hi, batch_ids) == (RUN_SIZE, RUN_SIZE, 1, RUN_SIZE, 1)
        assert s.scalar(select(func.count()).select_from(Stamp).where(Stamp.batch_id == batch_id)) \
            == RUNS_PER_PROCESS * RUN_SIZE
    assert all(is_valid(x) for x in s.scalars(select(Stamp.serial)))


# ---- activate, void, positions, streaming ----------------------------------------

def statuses(s, run) -> dict[int, str]:
    return dict(s.execute(select(Stamp.position, Stamp.status).where(Stamp.run_id == run.id)).all())


def test_activate_run(db, batches):
    s = db.session
    run = issue_run(s, batches[0], 20)
    s.commit()
    assert void_stamps(s, run, first=3, last=5) == 3
    assert activate_run(s, run) == 17
    s.commit()
    assert run.status == "active" and run.activated_at is not None
    assert run.activated_at.tzinfo is not None
    st = statuses(s, run)
    assert [p for p, v in st.items() if v == "void"] == [3, 4, 5]
    assert Counter(st.values()) == {"active": 17, "void": 3}
    assert activate_run(s, run) == 0  # nothing left to activate; voided stamps stay void


def test_void_whole_run(db, batches):
    s = db.session
    run = issue_run(s, batches[0], 12)
    other = issue_run(s, batches[0], 4)
    s.commit()
    void_stamps(s, run, first=1, last=2)
    assert void_stamps(s, run) == 10  # only those not void yet
    s.commit()
    assert run.status == "void" and run.voided_at is not None
    assert set(statuses(s, run).values()) == {"void"}
    assert set(statuses(s, other).values()) == {"issued"}  # another run untouched
    with pytest.raises(StampError) as exc:
        activate_run(s, run)
    assert exc.value.code == "run_void"
    assert void_stamps(s, run) == 0


def test_void_a_range(db, batches):
    s = db.session
    run = issue_run(s, batches[0], 30)
    s.commit()
    assert void_stamps(s, run, first=10, last=12) == 3
    assert void_stamps(s, run, first=11, last=14) == 2       # 11, 12 were void already
    assert void_stamps(s, run, first=28) == 3                 # 28 … the end
    assert void_stamps(s, run, last=2) == 2                   # the start … 2
    assert void_stamps(s, run, first=7, last=7) == 1
    s.commit()
    assert sorted(p for p, v in statuses(s, run).items() if v == "void") == [1, 2, 7, 10, 11, 12, 13, 14, 28, 29, 30]
    assert run.status == "issued" and run.voided_at is None   # a range does not void the run


@pytest.mark.parametrize("first, last", [(5, 3), (-1, 3), (1, 31), (31, 31), (31, None), (None, 31), (-5, -1),
                                         (0, 3), (3, 0), (0, 0), (0, None), (None, 0)])
def test_void_invalid_ranges_raise(db, batches, first, last):
    s = db.session
    run = issue_run(s, batches[0], 30)
    s.commit()
    with pytest.raises(StampError) as exc:
        void_stamps(s, run, first=first, last=last)
    assert exc.value.code == "range"
    s.rollback()
    assert set(statuses(s, run).values()) == {"issued"}


def test_positions_of(db, batches):
    s = db.session
    run = issue_run(s, batches[0], 30)
    other = issue_run(s, batches[1], 3)
    s.commit()
    serials = serials_of(s, run.id)
    assert positions_of(s, run, serials[6], serials[18]) == (7, 19)
    assert positions_of(s, run, serials[18], serials[6]) == (7, 19)  # either order
    assert positions_of(s, run, serials[4], serials[4]) == (5, 5)
    for a, b in [(serials[0], serials_of(s, other.id)[0]), (new_serial(), serials[0]), (new_serial(), new_serial())]:
        with pytest.raises(StampError) as exc:
            positions_of(s, run, a, b)
        assert exc.value.code == "serial_not_in_run"
    first, last = positions_of(s, run, serials[6], serials[18])
    assert void_stamps(s, run, first=first, last=last) == 13


def test_run_stamps_streams_in_printing_order(db, batches):
    s = db.session
    other = issue_run(s, batches[0], 7)
    run = issue_run(s, batches[0], 4_321)
    s.commit()
    rows = list(run_stamps(s, run, chunk=1000))
    assert [r.position for r in rows] == list(range(1, 4_322))
    assert [r.serial for r in rows] == serials_of(s, run.id)
    assert not {r.serial for r in rows} & set(serials_of(s, other.id))
    assert [r.position for r in run_stamps(s, other, chunk=7)] == list(range(1, 8))  # exact multiple
    gen = run_stamps(s, run, chunk=10)
    assert [next(gen).position for _ in range(25)] == list(range(1, 26))  # lazy
    gen.close()
