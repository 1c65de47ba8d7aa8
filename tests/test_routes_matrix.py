"""Every route × role × method, built from ``app.url_map``: a new route without an entry
here fails the suite.  For refused requests the database must not change (no cross-tenant
write), and another tenant's objects answer 404 (no cross-tenant read).

``commune_b`` is an officer of another commune than A's (producer B's, issue 18): A's
producers, products, batches, certificates, stamps and deliveries answer 404 to it, as
between producers; the province's own business (OCOP recognitions, the exchanges) 403.

On PostgreSQL only what reads data runs (successes, and the 404s that keep tenants apart):
a refusal by login or role (401, 403, to the login page) is decided before any query, the
same on both databases, and the SQLite run checks every one."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from marketplace import create_app
from marketplace.models import Certification, OcopRecognition, ProductPhoto
from marketplace.resolver.digital_link import compress
from tests.conftest import PG_URL, TEST_PASSWORD, fresh_code, login, make_user

ROLES = ("anonymous", "producer_a", "producer_b", "coop", "officer", "admin", "commune_b")
COMMUNE_B = 15667  # producer B's commune (A and the cooperative: 15724)
LOGIN = "login"  # expected: redirect to the login page

# Access classes: expected status per role.
PUBLIC = dict.fromkeys(ROLES, 200)
ANON_ONLY = {"anonymous": 200, **dict.fromkeys(ROLES[1:], 302)}
LOGGED_IN = {"anonymous": LOGIN, **dict.fromkeys(ROLES[1:], 200)}
PRODUCER = {"anonymous": LOGIN, "producer_a": 200, "producer_b": 200, "coop": 200, "officer": 403, "admin": 403,
            "commune_b": 403}
OWNED_BY_A = {"anonymous": LOGIN, "producer_a": 200, "producer_b": 404, "coop": 200, "officer": 403, "admin": 403,
              "commune_b": 403}
COOP_OWNER = {"anonymous": LOGIN, "producer_a": 404, "producer_b": 404, "coop": 200, "officer": 403, "admin": 403,
              "commune_b": 403}
# Locking A's staff login: A's owner only (the cooperative's owner manages its own people).
STAFF_OF_A = {"anonymous": LOGIN, "producer_a": 302, "producer_b": 404, "coop": 404, "officer": 403, "admin": 403,
              "commune_b": 403}
# A's objects read by A, its cooperative and the officers whose jurisdiction holds A.
READ_BY_A_AND_OFFICERS = {"anonymous": LOGIN, "producer_a": 200, "producer_b": 404, "coop": 200, "officer": 200,
                          "admin": 200, "commune_b": 404}
# Recalling a batch: its producer (and cooperative) or an officer whose jurisdiction holds it.
RECALL = {"anonymous": LOGIN, "producer_a": 302, "producer_b": 404, "coop": 302, "officer": 302, "admin": 302,
          "commune_b": 404}
# Officers' pages that list (a commune officer sees its communes' rows only)...
OFFICER = {"anonymous": LOGIN, "producer_a": 403, "producer_b": 403, "coop": 403, "officer": 200, "admin": 200,
           "commune_b": 200}
# ... and officers' pages about one of A's objects: another commune's officer finds nothing.
OFFICER_OF_A = {**OFFICER, "commune_b": 404}
# The province's business (recognising OCOP stars, the exchanges): not a commune officer's.
PROVINCE = {**OFFICER, "commune_b": 403}
ADMIN = {"anonymous": LOGIN, "producer_a": 403, "producer_b": 403, "coop": 403, "officer": 403, "admin": 200,
         "commune_b": 403}

# The JSON API acts for a bearer token only: a logged-in browser's session is anonymous there
# (the API is CSRF-exempt).  Tokens per role are tested in tests/test_api.py.
TOKEN_ONLY = dict.fromkeys(ROLES, 401)
# Revoking a personal access token: its owner; for anyone else the token does not exist.
TOKEN_OWNER_A = {"anonymous": LOGIN, "producer_a": 302, "producer_b": 404, "coop": 404, "officer": 404, "admin": 404,
                 "commune_b": 404}


def ok(access: dict, status: int) -> dict:
    """The same access class, with ``status`` for the allowed roles (a redirect after a POST)."""
    return {role: (status if code == 200 else code) for role, code in access.items()}


def with_gtin(product, gtin: str) -> str:
    """Give ``product`` a GTIN (GS1 Vietnam prefix, valid check digit): the resolver answers
    only for GTINs that a product carries."""
    from marketplace.extensions import db

    if product.gtin != gtin:
        product.gtin = gtin
        db.session.commit()
    return gtin


# endpoint -> (url builder, {method: expected per role})
ENTRIES = {
    "static": (lambda w: "/static/style.css", {"GET": PUBLIC}),
    "catalogue.index": (lambda w: "/", {"GET": PUBLIC}),
    "catalogue.product": (lambda w: f"/p/{w.published_a.slug}", {"GET": PUBLIC}),
    "catalogue.producer": (lambda w: f"/producers/{w.a.slug}", {"GET": PUBLIC}),
    "catalogue.preview": (lambda w: f"/p/{w.published_a.slug}/preview.jpg", {"GET": PUBLIC}),
    "catalogue.media": (lambda w: f"/media/{w.photo.stem}.jpg", {"GET": PUBLIC}),
    "catalogue.set_language": (lambda w: "/lang/en?next=/", {"GET": ok(PUBLIC, 302)}),
    "catalogue.wards": (lambda w: "/geo/wards?province=38", {"GET": PUBLIC}),
    "catalogue.healthz": (lambda w: "/healthz", {"GET": PUBLIC}),
    "auth.login": (lambda w: "/account/login", {"GET": ANON_ONLY, "POST": ANON_ONLY}),
    "auth.register": (lambda w: "/account/register", {"GET": ANON_ONLY, "POST": ANON_ONLY}),
    "auth.logout": (lambda w: "/account/logout", {"POST": ok(PUBLIC, 302)}),
    "auth.account": (lambda w: "/account/", {"GET": LOGGED_IN}),
    "auth.change_password": (lambda w: "/account/password", {"GET": LOGGED_IN, "POST": LOGGED_IN}),
    "dashboard.index": (lambda w: "/dashboard/", {"GET": PRODUCER}),
    # An empty POST to an edit form keeps the stored values (WTForms falls back to the object).
    "dashboard.edit_producer": (lambda w: f"/dashboard/producers/{w.a.id}", {"GET": OWNED_BY_A, "POST": ok(OWNED_BY_A, 302)}),
    "dashboard.new_product": (lambda w: "/dashboard/products/new", {"GET": PRODUCER, "POST": PRODUCER}),
    "dashboard.product": (lambda w: f"/dashboard/products/{w.product_a.id}", {"GET": OWNED_BY_A}),
    "dashboard.edit_product": (lambda w: f"/dashboard/products/{w.product_a.id}/edit", {"GET": OWNED_BY_A, "POST": OWNED_BY_A}),
    "dashboard.submit_product": (lambda w: f"/dashboard/products/{w.product_a.id}/submit", {"POST": ok(OWNED_BY_A, 302)}),
    "dashboard.archive_product": (lambda w: f"/dashboard/products/{w.product_a.id}/archive", {"POST": ok(OWNED_BY_A, 302)}),
    "dashboard.restore_product": (lambda w: f"/dashboard/products/{w.product_a.id}/restore", {"POST": ok(OWNED_BY_A, 302)}),
    # No file chosen: the page again, with the message beside the field.
    "dashboard.upload_photo": (lambda w: f"/dashboard/products/{w.product_a.id}/photos", {"POST": ok(OWNED_BY_A, 422)}),
    "catalogue.favicon": (lambda w: "/favicon.ico", {"GET": PUBLIC}),
    "catalogue.manifest": (lambda w: "/manifest.webmanifest", {"GET": PUBLIC}),
    "dashboard.delete_photo": (lambda w: f"/dashboard/photos/{w.photo.id}/delete", {"POST": ok(OWNED_BY_A, 302)}),
    "dashboard.make_cover": (lambda w: f"/dashboard/photos/{w.photo.id}/first", {"POST": ok(OWNED_BY_A, 302)}),
    "dashboard.certifications": (lambda w: "/dashboard/certifications", {"GET": PRODUCER, "POST": PRODUCER}),
    "dashboard.certification_document": (lambda w: f"/dashboard/certifications/{w.cert.id}/document", {"GET": OWNED_BY_A}),
    "dashboard.team": (lambda w: "/dashboard/team", {"GET": PRODUCER, "POST": PRODUCER}),
    # The bank account for buyers' transfers: each producer's owner, for its own producer.
    "dashboard.bank_account": (lambda w: "/dashboard/bank", {"GET": PRODUCER, "POST": ok(PRODUCER, 422)}),
    "dashboard.remove_bank_account": (lambda w: "/dashboard/bank/remove", {"POST": ok(PRODUCER, 302)}),
    "dashboard.bank_account_seen": (lambda w: "/dashboard/bank/seen", {"POST": ok(PRODUCER, 302)}),
    "dashboard.set_staff_active": (lambda w: f"/dashboard/team/{w.staff_a.id}/active", {"POST": STAFF_OF_A}),
    "dashboard.members": (lambda w: "/dashboard/members", {"GET": COOP_OWNER, "POST": COOP_OWNER}),
    "trace.batches": (lambda w: "/dashboard/batches", {"GET": PRODUCER}),
    "trace.new_batch": (lambda w: "/dashboard/batches/new", {"GET": PRODUCER, "POST": PRODUCER}),
    "trace.batch": (lambda w: f"/dashboard/batches/{w.batch_a.id}", {"GET": OWNED_BY_A}),
    "trace.add_event": (lambda w: f"/dashboard/batches/{w.batch_a.id}/events", {"POST": ok(OWNED_BY_A, 422)}),
    "trace.close_batch": (lambda w: f"/dashboard/batches/{w.batch_a.id}/close", {"POST": ok(OWNED_BY_A, 302)}),
    # GET: the recall's confirmation page, for whoever may recall the batch.
    "trace.recall_batch": (lambda w: f"/dashboard/batches/{w.batch_a.id}/recall",
                           {"GET": READ_BY_A_AND_OFFICERS, "POST": RECALL}),
    "trace.lift_recall": (lambda w: f"/dashboard/batches/{w.batch_a.id}/lift-recall", {"POST": RECALL}),
    "trace.epcis": (lambda w: f"/dashboard/batches/{w.batch_a.id}/epcis.json", {"GET": OWNED_BY_A}),
    # The lot (recall) report: the batch's producers and the district's officers.
    "trace.lot_report": (lambda w: f"/dashboard/batches/{w.batch_a.id}/report.xlsx", {"GET": READ_BY_A_AND_OFFICERS}),
    "stamps.create_run": (lambda w: f"/dashboard/batches/{w.batch_a.id}/runs", {"POST": ok(OWNED_BY_A, 302)}),
    "stamps.run": (lambda w: f"/dashboard/runs/{w.run_a.id}", {"GET": OWNED_BY_A}),
    "stamps.labels_pdf": (lambda w: f"/dashboard/runs/{w.run_a.id}/labels.pdf?layout=roll-40x25", {"GET": OWNED_BY_A}),
    "stamps.stamps_csv": (lambda w: f"/dashboard/runs/{w.run_a.id}/stamps.csv", {"GET": OWNED_BY_A}),
    "stamps.activate": (lambda w: f"/dashboard/runs/{w.run_a.id}/activate", {"POST": ok(OWNED_BY_A, 302)}),
    "stamps.void": (lambda w: f"/dashboard/runs/{w.run_a.id}/void", {"POST": ok(OWNED_BY_A, 302)}),
    "stamps.single": (lambda w: f"/dashboard/stamps/{w.serial_a}.svg", {"GET": OWNED_BY_A}),
    "scan.stamp": (lambda w: f"/S/{w.serial_a}", {"GET": PUBLIC}),
    "scan.empty": (lambda w: "/S/", {"GET": dict.fromkeys(ROLES, 404)}),
    "scan.lookup": (lambda w: f"/s?serial={w.serial_a.lower()}", {"GET": ok(PUBLIC, 302)}),
    # a stamp of a run without scratch-off codes: nothing to check, for anyone
    "scan.scratch": (lambda w: f"/s/{w.serial_a}/code", {"GET": dict.fromkeys(ROLES, 404),
                                                         "POST": dict.fromkeys(ROLES, 404)}),
    "scan.batch": (lambda w: f"/lot/{w.batch_a.id}", {"GET": PUBLIC}),
    "scan.batch_epcis": (lambda w: f"/lot/{w.batch_a.id}/epcis.json", {"GET": PUBLIC}),
    "resolver.product": (lambda w: f"/01/{with_gtin(w.published_a, '08936045100912')}", {"GET": ok(PUBLIC, 307)}),
    "resolver.lot": (lambda w: f"/01/{with_gtin(w.product_a, '08936045100929')}/10/{w.batch_a.lot_code}",
                     {"GET": ok(PUBLIC, 307)}),
    "resolver.serial": (lambda w: f"/01/{with_gtin(w.product_a, '08936045100929')}/10/{w.batch_a.lot_code}/21/{w.serial_a}",
                        {"GET": ok(PUBLIC, 307)}),
    "resolver.qualified": (lambda w: f"/01/{with_gtin(w.product_a, '08936045100929')}/21/{w.serial_a}",
                           {"GET": ok(PUBLIC, 307)}),
    "resolver.compressed": (lambda w: "/" + compress({"01": with_gtin(w.published_a, "08936045100912")}),
                            {"GET": ok(PUBLIC, 307)}),
    "resolver.description": (lambda w: "/.well-known/gs1resolver", {"GET": PUBLIC}),
    # other methods under the resolver's paths: 405 from the resolver itself, with CORS
    "resolver.refused": (lambda w: f"/01/{with_gtin(w.product_a, '08936045100929')}/10/{w.batch_a.lot_code}",
                         dict.fromkeys(("DELETE", "PATCH", "POST", "PUT"), dict.fromkeys(ROLES, 405))),
    "admin.exchanges": (lambda w: "/admin/exchanges", {"GET": PROVINCE}),
    "admin.exchange": (lambda w: "/admin/exchanges/postmart", {"GET": PROVINCE, "POST": ok(PROVINCE, 302)}),
    "admin.exchange_token": (lambda w: "/admin/exchanges/postmart/token", {"POST": PROVINCE}),
    "admin.exchange_secret": (lambda w: "/admin/exchanges/postmart/secret", {"POST": PROVINCE}),
    "admin.exchange_profile": (lambda w: "/admin/exchanges/postmart/profile", {"POST": ok(PROVINCE, 422)}),
    "admin.exchange_fields": (lambda w: "/admin/exchanges/postmart/fields", {"POST": ok(PROVINCE, 422)}),
    "admin.exchange_categories": (lambda w: "/admin/exchanges/postmart/categories",
                                  {"GET": PROVINCE, "POST": ok(PROVINCE, 302)}),
    "admin.exchange_push": (lambda w: "/admin/exchanges/postmart/push", {"POST": ok(PROVINCE, 302)}),
    "admin.deliveries": (lambda w: "/admin/deliveries", {"GET": OFFICER}),
    "admin.replay_delivery": (lambda w: f"/admin/deliveries/{w.delivery.id}/replay", {"POST": ok(OFFICER_OF_A, 302)}),
    # Pull feeds answer to the exchange's bearer token, never to a login.
    "feeds.feed": (lambda w: "/feeds/thanhhoa.json", {"GET": dict.fromkeys(ROLES, 401)}),
    # The DFC catalogue's IRIs dereference for anyone, as the product pages do.
    "feeds.dfc_vocabulary": (lambda w: "/ns/dfc", {"GET": PUBLIC}),
    "feeds.dfc_item": (lambda w: f"/dfc/ocop-{w.published_a.id}", {"GET": PUBLIC}),
    "feeds.dfc_enterprise": (lambda w: f"/dfc/enterprises/{w.a.slug}", {"GET": PUBLIC}),
    "admin.index": (lambda w: "/admin/", {"GET": OFFICER}),
    "admin.stats_csv": (lambda w: "/admin/stats/products.csv", {"GET": OFFICER}),
    "admin.producers": (lambda w: "/admin/producers", {"GET": OFFICER}),
    "admin.producer": (lambda w: f"/admin/producers/{w.a.id}", {"GET": OFFICER_OF_A, "POST": OFFICER_OF_A}),
    "admin.products": (lambda w: "/admin/products", {"GET": OFFICER}),
    "admin.product": (lambda w: f"/admin/products/{w.product_a.id}", {"GET": OFFICER_OF_A, "POST": OFFICER_OF_A}),
    "admin.add_ocop": (lambda w: f"/admin/products/{w.published_a.id}/ocop", {"POST": ok(PROVINCE, 422)}),
    # A product's page on an exchange (issue 20): typed by the province's officers (blank: none, 302).
    "admin.listing_page": (lambda w: f"/admin/products/{w.published_a.id}/exchanges/postmart/page",
                           {"POST": ok(PROVINCE, 302)}),
    "admin.revoke_ocop": (lambda w: f"/admin/ocop/{w.ocop.id}/revoke", {"GET": PROVINCE, "POST": ok(PROVINCE, 302)}),
    "admin.certifications": (lambda w: "/admin/certifications", {"GET": OFFICER}),
    "admin.expiring": (lambda w: "/admin/expiring", {"GET": OFFICER}),
    "admin.clone_alerts": (lambda w: "/admin/alerts", {"GET": OFFICER}),
    "admin.clone_alert": (lambda w: f"/admin/alerts/{w.stamp_a_id}", {"GET": OFFICER_OF_A}),
    "admin.void_alert_stamp": (lambda w: f"/admin/alerts/{w.stamp_a_id}/void", {"POST": ok(OFFICER_OF_A, 302)}),
    "admin.void_alert_run": (lambda w: f"/admin/alerts/{w.stamp_a_id}/void-run", {"POST": ok(OFFICER_OF_A, 302)}),
    "admin.handle_alert": (lambda w: f"/admin/alerts/{w.stamp_a_id}/handled", {"POST": ok(OFFICER_OF_A, 302)}),
    # Buyers' reports (issue 14): anyone may send one (an empty form: 422), officers handle them,
    # the product's producer reads them; the photo is for both, nobody else.
    "reports.new": (lambda w: f"/report?s={w.serial_a}", {"GET": PUBLIC, "POST": ok(PUBLIC, 422)}),
    "reports.thanks": (lambda w: "/report/thanks", {"GET": PUBLIC}),
    "reports.photo": (lambda w: f"/report/{w.report_id}/photo", {"GET": READ_BY_A_AND_OFFICERS}),
    "admin.buyer_report": (lambda w: f"/admin/reports/{w.report_id}", {"GET": OFFICER_OF_A}),
    "admin.handle_report": (lambda w: f"/admin/reports/{w.report_id}/handled", {"POST": ok(OFFICER_OF_A, 302)}),
    "dashboard.reports": (lambda w: "/dashboard/reports", {"GET": PRODUCER}),
    "dashboard.report": (lambda w: f"/dashboard/reports/{w.report_id}", {"GET": OWNED_BY_A}),
    "admin.verify_certification": (lambda w: f"/admin/certifications/{w.cert.id}/verify", {"POST": ok(OFFICER_OF_A, 302)}),
    "admin.certification_document": (lambda w: f"/admin/certifications/{w.cert.id}/document", {"GET": OFFICER_OF_A}),
    "admin.users": (lambda w: "/admin/users", {"GET": ADMIN}),
    "admin.audit_trail": (lambda w: "/admin/audit", {"GET": ADMIN}),
    "admin.audit_csv": (lambda w: "/admin/audit.csv", {"GET": ADMIN}),
    "admin.reset_password": (lambda w: f"/admin/users/{w.users['producer_b'].id}/password", {"POST": ADMIN}),
    "admin.set_user_active": (lambda w: f"/admin/users/{w.users['producer_b'].id}/active", {"POST": ok(ADMIN, 302)}),
    # An empty form: neither the province nor communes chosen (422).
    "admin.user_scope": (lambda w: f"/admin/users/{w.users['commune_b'].id}/scope", {"GET": ADMIN, "POST": ok(ADMIN, 422)}),
    "auth.tokens": (lambda w: "/account/tokens", {"GET": LOGGED_IN, "POST": LOGGED_IN}),
    # The second step of logging in answers only a session half-way in (password given, code
    # not yet: tests/test_second_factor.py); to anyone else it is the login page again.
    "auth.second_factor": (lambda w: "/account/two-factor", {"GET": dict.fromkeys(ROLES, LOGIN),
                                                             "POST": dict.fromkeys(ROLES, LOGIN)}),
    # Enrolling: producers may (an empty form: 422); officers and admins have one already.
    "auth.enrol_second_factor": (lambda w: "/account/two-factor/setup", {
        "GET": {**ok(LOGGED_IN, 302), "producer_a": 200, "producer_b": 200, "coop": 200},
        "POST": {**ok(LOGGED_IN, 302), "producer_a": 422, "producer_b": 422, "coop": 422}}),
    # Turning it off: producers, with a code (none here: 303 back to the account page);
    # officers and admins never (302 back, with the reason).
    "auth.disable_second_factor": (lambda w: "/account/two-factor/disable", {
        "POST": {**ok(LOGGED_IN, 302), "producer_a": 303, "producer_b": 303, "coop": 303}}),
    "admin.reset_second_factor": (lambda w: f"/admin/users/{w.users['officer'].id}/two-factor/reset",
                                  {"POST": ok(ADMIN, 302)}),
    "auth.revoke_token": (lambda w: f"/account/tokens/{w.token_a.id}/revoke", {"POST": TOKEN_OWNER_A}),
    "api.openapi_json": (lambda w: "/api/v1/openapi.json", {"GET": PUBLIC}),
    "api.reference": (lambda w: "/api/v1/docs", {"GET": PUBLIC}),
    "api.catalogue_list": (lambda w: "/api/v1/catalogue", {"GET": PUBLIC}),
    "api.catalogue_get": (lambda w: f"/api/v1/catalogue/{w.published_a.id}", {"GET": PUBLIC}),
    "api.list_producers": (lambda w: "/api/v1/producers", {"GET": TOKEN_ONLY}),
    "api.get_producer": (lambda w: f"/api/v1/producers/{w.a.id}", {"GET": TOKEN_ONLY}),
    "api.list_products": (lambda w: "/api/v1/products", {"GET": TOKEN_ONLY}),
    "api.create_product": (lambda w: "/api/v1/products", {"POST": TOKEN_ONLY}),
    "api.get_product": (lambda w: f"/api/v1/products/{w.product_a.id}", {"GET": TOKEN_ONLY}),
    "api.update_product": (lambda w: f"/api/v1/products/{w.product_a.id}", {"PATCH": TOKEN_ONLY}),
    "api.submit_product": (lambda w: f"/api/v1/products/{w.product_a.id}/submit", {"POST": TOKEN_ONLY}),
    "api.archive_product": (lambda w: f"/api/v1/products/{w.product_a.id}/archive", {"POST": TOKEN_ONLY}),
    "api.upload_photo": (lambda w: f"/api/v1/products/{w.product_a.id}/photos", {"POST": TOKEN_ONLY}),
    "api.list_batches": (lambda w: "/api/v1/batches", {"GET": TOKEN_ONLY}),
    "api.create_batch": (lambda w: "/api/v1/batches", {"POST": TOKEN_ONLY}),
    "api.get_batch": (lambda w: f"/api/v1/batches/{w.batch_a.id}", {"GET": TOKEN_ONLY}),
    "api.update_batch": (lambda w: f"/api/v1/batches/{w.batch_a.id}", {"PATCH": TOKEN_ONLY}),
    "api.close_batch": (lambda w: f"/api/v1/batches/{w.batch_a.id}/close", {"POST": TOKEN_ONLY}),
    "api.recall_batch": (lambda w: f"/api/v1/batches/{w.batch_a.id}/recall", {"POST": TOKEN_ONLY}),
    "api.list_events": (lambda w: f"/api/v1/batches/{w.batch_a.id}/events", {"GET": TOKEN_ONLY}),
    "api.add_event": (lambda w: f"/api/v1/batches/{w.batch_a.id}/events", {"POST": TOKEN_ONLY}),
    "api.create_run": (lambda w: f"/api/v1/batches/{w.batch_a.id}/stamp-runs", {"POST": TOKEN_ONLY}),
    "api.get_run": (lambda w: f"/api/v1/stamp-runs/{w.run_a.id}", {"GET": TOKEN_ONLY}),
    "api.activate_run": (lambda w: f"/api/v1/stamp-runs/{w.run_a.id}/activate", {"POST": TOKEN_ONLY}),
    "api.run_pdf": (lambda w: f"/api/v1/stamp-runs/{w.run_a.id}/stamps.pdf", {"GET": TOKEN_ONLY}),
    "api.run_csv": (lambda w: f"/api/v1/stamp-runs/{w.run_a.id}/stamps.csv", {"GET": TOKEN_ONLY}),
    "api.get_stamp": (lambda w: f"/api/v1/stamps/{w.serial_a}", {"GET": TOKEN_ONLY}),
    "api.void_stamp": (lambda w: f"/api/v1/stamps/{w.serial_a}/void", {"POST": TOKEN_ONLY}),
    "api.list_deliveries": (lambda w: "/api/v1/deliveries", {"GET": TOKEN_ONLY}),
}


def _routes():
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "SECRET_KEY": "x", "TESTING": True})
    found = set()
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.add((rule.endpoint, method))
    return sorted(found)


ROUTES = _routes()


def test_every_route_has_an_entry():
    missing = [f"{e} {m}" for e, m in ROUTES if e not in ENTRIES or m not in ENTRIES[e][1]]
    extra = [f"{e} {m}" for e, (_, methods) in ENTRIES.items() for m in methods if (e, m) not in ROUTES]
    assert not missing, f"routes without an access entry: {missing}"
    assert not extra, f"entries for routes that no longer exist: {extra}"


@pytest.fixture
def rich_world(world, app, db):
    """The world plus one photo, certification and OCOP recognition belonging to producer A,
    its batch and stamps, and a dead delivery to Postmart."""
    import datetime as dt

    upload = Path(app.config["UPLOAD_DIR"])
    upload.mkdir(parents=True, exist_ok=True)
    photo = ProductPhoto(product=world.product_a, stem="matrixphotostem", width=10, height=10, position=1)
    (upload / "matrixphotostem.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    (upload / "private").mkdir()
    (upload / "private" / "matrixdoc.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    cert = Certification(producer=world.a, product=world.product_a, scheme="vietgap", number="VG-1",
                         body="Body", document="matrixdoc.pdf")
    ocop = OcopRecognition(product=world.published_a, stars=3, decision_no="1/QĐ", decision_date=dt.date(2025, 1, 1),
                           issuer_level="provincial", issuer_name="UBND tỉnh Thanh Hóa", valid_until=dt.date(2028, 1, 1))
    staff = make_user(db.session, "staff.a@example.vn", producer=world.a, producer_role="staff")
    world.users["commune_b"] = commune_officer(db.session, EMAILS["commune_b"], COMMUNE_B)
    db.session.add_all([photo, cert, ocop])
    db.session.commit()
    world.photo, world.cert, world.ocop, world.staff_a = photo, cert, ocop, staff
    from marketplace.models import ApiToken

    world.token_a, _secret = ApiToken.issue(world.users["producer_a"], "matrix")
    db.session.add(world.token_a)
    db.session.commit()
    add_trace(db.session, world)
    add_dead_delivery(db.session, world)
    add_report(db.session, world, upload)
    return world


def commune_officer(session, email: str, *wards: int):
    """An officer whose jurisdiction is ``wards``."""
    user = make_user(session, email, role="officer")
    user.set_scope(wards)
    return user


def add_report(session, world, upload: Path | None = None):
    """A buyer's report about producer A's first stamp, with a photo when ``upload`` is given."""
    from marketplace.models import BuyerReport

    report = BuyerReport(stamp_id=world.stamp_a_id, product_id=world.product_a.id, reason="copied_stamp",
                         note="Tem nghi giả", photo="matrixreportphoto" if upload else None)
    session.add(report)
    session.commit()
    if upload:
        (upload / "private").mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-t"):
            (upload / "private" / f"matrixreportphoto{suffix}.jpg").write_bytes(b"\xff\xd8\xff\xd9")
    world.report_id = report.id
    return world


def add_dead_delivery(session, world):
    from marketplace.models import Delivery, Exchange

    postmart = session.scalar(select(Exchange).where(Exchange.code == "postmart"))
    world.delivery = Delivery(exchange=postmart, product=world.published_a, version=1, status="dead",
                              last_error="HTTP 500", attempts=3)
    session.add(world.delivery)
    session.commit()


def add_trace(session, world):
    """A batch of producer A with one diary event and a run of three stamps."""
    import datetime as dt
    from decimal import Decimal

    from marketplace.models import Stamp
    from marketplace.stamps.service import issue_run
    from marketplace.trace.service import LOCAL_TZ, append_event, create_batch

    from tests.conftest import listed

    world.batch_a = create_batch(session, listed(world.product_a), lot_code="LOT-A1", quantity=Decimal("10"), unit="kg",
                                 production_date=dt.date(2025, 10, 1))
    session.flush()
    world.event_a = append_event(session, world.batch_a, kind="harvest",
                                 occurred_at=dt.datetime(2025, 10, 1, 7, 0, tzinfo=LOCAL_TZ))
    world.run_a = issue_run(session, world.batch_a, 3)
    session.commit()
    world.serial_a = session.scalar(select(Stamp.serial).where(Stamp.run_id == world.run_a.id, Stamp.position == 1))
    world.stamp_a_id = session.scalar(select(Stamp.id).where(Stamp.serial == world.serial_a))
    return world


def snapshot(db) -> dict:
    """Every row of every table, to prove a refused request changed nothing."""
    db.session.expire_all()
    conn = db.session.connection()  # the test's own connection: no second SQLite writer
    out = {}
    for table in sorted(inspect(conn).get_table_names()):
        rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
        out[table] = sorted(tuple(str(v) for v in row) for row in rows)
    return out


EMAILS = {"producer_a": "a@example.vn", "producer_b": "b@example.vn", "coop": "coop@example.vn",
          "officer": "officer@example.vn", "admin": "admin@example.vn", "commune_b": "xa.b@example.vn"}


def _decided_before_reading(endpoint: str, method: str, role: str) -> bool:
    expected = ENTRIES[endpoint][1][method][role] if endpoint in ENTRIES and method in ENTRIES[endpoint][1] else None
    return expected == LOGIN or expected in (401, 403)


# (a skip mark, not pytest.skip(): it takes effect before the fixtures build the world)
ON_SQLITE_ONLY = pytest.mark.skip(reason="refused by login or role before any data is read: the SQLite run checks it")
CASES = [pytest.param(endpoint, method, role, id=f"{endpoint}-{method}-{role}",
                      marks=[ON_SQLITE_ONLY] if PG_URL and _decided_before_reading(endpoint, method, role) else [])
         for endpoint, method in ROUTES for role in ROLES]


@pytest.mark.parametrize("endpoint,method,role", CASES)
def test_route_access(endpoint, method, role, rich_world, app, db):
    if endpoint not in ENTRIES or method not in ENTRIES[endpoint][1]:
        pytest.fail(f"no access entry for {endpoint} {method}: add one to ENTRIES")
    build_url, methods = ENTRIES[endpoint]
    expected = methods[method][role]
    refused = expected == LOGIN or expected in (401, 403, 404)
    client = app.test_client()
    if role != "anonymous":
        login(client, EMAILS[role])  # with the second factor of officers and admins
    url = build_url(rich_world)
    before = snapshot(db) if method != "GET" and refused else None
    # End the test's own transaction: on SQLite it holds the write lock (the stamp page's scan
    # writer waited 10 s for it, then gave up).
    db.session.commit()

    response = client.open(url, method=method, data={} if method != "GET" else None)

    if expected == LOGIN:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/account/login")
    else:
        assert response.status_code == expected, response.data[:300]
    if response.status_code in (302, 303) and method == "GET" and expected != LOGIN:
        assert not response.headers["Location"].startswith("/account/login")
    if before is not None:
        assert snapshot(db) == before, "a refused request changed the database"
    if response.status_code == 404 and role in ("producer_b", "commune_b"):
        # another tenant learns nothing: the generic 404 page, no names of A's objects
        assert rich_world.product_a.name.encode() not in response.data


def test_refused_user_queries_never_leak_through_dashboard_lists(rich_world, app, db):
    client = app.test_client()
    client.post("/account/login", data={"email": "b@example.vn", "password": TEST_PASSWORD})
    page = client.get("/dashboard/").get_data(as_text=True)
    assert rich_world.product_b.name in page
    assert rich_world.product_a.name not in page
    coop = app.test_client()
    coop.post("/account/login", data={"email": "coop@example.vn", "password": TEST_PASSWORD})
    page = coop.get("/dashboard/").get_data(as_text=True)
    assert rich_world.product_a.name in page  # the cooperative acts for its member A
    assert rich_world.product_b.name not in page


# The API reads no cookie (a bearer token is its only credential), so CSRF cannot reach it:
# test_route_access shows every API route refusing a logged-in browser.
# The scratch-code check (scan.scratch) is a stamp page's form: no session, no cookie, nothing a
# forged post could borrow, so it is exempt by design (tests/test_authenticity.py posts it with
# CSRF on); its abuse is bounded by its per-stamp and per-client limits.  The resolver's
# "refused" view answers every POST with 405 and changes nothing.
CSRF_EXEMPT = {"scan.scratch", "resolver.refused"}
POST_ROUTES = sorted({e for e, m in ROUTES if m == "POST" and not e.startswith("api.") and e not in CSRF_EXEMPT})


def _allowed_role(endpoint: str) -> str:
    if endpoint == "auth.second_factor":  # half-way through logging in: not logged in yet
        return "anonymous"
    expected = ENTRIES[endpoint][1]["POST"]
    for role in ("anonymous", "producer_a", "coop", "officer", "admin"):
        if expected[role] not in (LOGIN, 403, 404):
            return role
    raise AssertionError(endpoint)


@pytest.mark.parametrize("endpoint", POST_ROUTES)
def test_csrf_token_required(endpoint, app_factory, database_url):
    """Every state-changing route refuses a POST without a CSRF token, changing nothing."""
    app = app_factory(WTF_CSRF_ENABLED=True)
    with app.app_context():
        from marketplace.extensions import db

        from tests.conftest import make_product, make_producer, make_user

        coop = make_producer(db.session, "HTX", kind="cooperative")
        a = make_producer(db.session, "Hộ A", cooperative=coop)
        b = make_producer(db.session, "Hộ B")
        db.session.flush()
        users = {"producer_a": make_user(db.session, "a@example.vn", producer=a),
                 "producer_b": make_user(db.session, "b@example.vn", producer=b),
                 "coop": make_user(db.session, "coop@example.vn", producer=coop),
                 "officer": make_user(db.session, "officer@example.vn", role="officer"),
                 "admin": make_user(db.session, "admin@example.vn", role="admin"),
                 "commune_b": commune_officer(db.session, EMAILS["commune_b"], COMMUNE_B)}
        product_a = make_product(db.session, a, "Gạo")
        published_a = make_product(db.session, a, "Nem", status="published")
        db.session.commit()

        class W:
            pass

        w = W()
        w.a, w.b, w.coop, w.users, w.product_a, w.published_a = a, b, coop, users, product_a, published_a
        import datetime as dt

        w.staff_a = make_user(db.session, "staff.a@example.vn", producer=a, producer_role="staff")
        w.photo = ProductPhoto(product=product_a, stem="csrfphoto", width=1, height=1)
        w.cert = Certification(producer=a, scheme="vietgap", number="1", body="b")
        w.ocop = OcopRecognition(product=published_a, stars=3, decision_no="1", decision_date=dt.date(2025, 1, 1),
                                 issuer_level="provincial", issuer_name="x", valid_until=dt.date(2028, 1, 1))
        from marketplace.models import ApiToken

        w.token_a, _secret = ApiToken.issue(users["producer_a"], "csrf")
        db.session.add_all([w.photo, w.cert, w.ocop, w.token_a])
        db.session.commit()
        add_trace(db.session, w)
        add_dead_delivery(db.session, w)
        add_report(db.session, w)

        role = _allowed_role(endpoint)
        client = app.test_client()
        if role != "anonymous":
            # Log in the way a browser does: fetch the form, send its token.
            import re

            page = client.get("/account/login").get_data(as_text=True)
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
            r = client.post("/account/login", data={"email": EMAILS[role], "password": TEST_PASSWORD,
                                                     "csrf_token": token})
            assert r.status_code == 302
            if r.headers["Location"] == "/account/two-factor":  # officers and admins: the code too
                page = client.get("/account/two-factor").get_data(as_text=True)
                token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
                r = client.post("/account/two-factor", data={"code": fresh_code(EMAILS[role]), "csrf_token": token})
                assert r.status_code == 302
        url = ENTRIES[endpoint][0](w)
        before = snapshot(db)
        response = client.post(url, data={})
        assert response.status_code == 400, (endpoint, response.status_code)
        assert snapshot(db) == before
        db.session.remove()
