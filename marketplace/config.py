"""Configuration: defaults, then ``instance/config.py``, then the environment (docs/architecture.md, "Configuration")."""
from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

# A server or proxy may drop idle connections: no pooled connection to a database server is
# kept longer than this (the app's pool and the public pages' reader, rawsql.reader).
POOL_RECYCLE_SECONDS = 300


def _secret_key(instance_path: str) -> str:
    """Return the secret key stored in ``instance/secret_key``, creating it on first use."""
    path = Path(instance_path) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def is_loopback_url(url: str) -> bool:
    """Whether ``url`` names this machine only (localhost, 127.x, ::1, 0.0.0.0): links to it
    printed on stamps open on no buyer's phone."""
    host = (urlsplit(url).hostname or "").lower()
    if host in ("localhost", "") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_unspecified


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def load_config(app, overrides: dict | None) -> None:
    """Fill ``app.config``; ``overrides`` (tests) win over everything else."""
    instance = app.instance_path
    cfg = app.config
    cfg.update(
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{Path(instance) / 'marketplace.db'}",
        # Where buyers' phones reach the service: printed in every stamp's QR.  The default
        # follows `make run PORT=…`, and only suits trying the service on this machine.
        PUBLIC_BASE_URL=f"http://127.0.0.1:{os.environ.get('PORT') or 5000}",
        UPLOAD_DIR=str(Path(instance) / "uploads"),
        RATELIMIT_STORAGE_URI="memory://",
        RATELIMIT_HEADERS_ENABLED=True,
        LOGIN_RATE_PER_CLIENT="20 per 5 minutes",
        LOGIN_RATE_PER_ACCOUNT="5 per 5 minutes",
        PASSWORD_CHANGE_RATE="10 per 15 minutes",   # wrong current passwords, per account
        REGISTER_RATE_PER_CLIENT="10 per hour",     # new accounts from one address
        # The second factor (issue 18): wrong codes per account waiting for one, and the time
        # between the password and the code.  Officers and admins must have one; producers may.
        TWO_FACTOR_RATE="5 per 5 minutes",
        TWO_FACTOR_PENDING_SECONDS=300,
        TOTP_ISSUER="Chợ OCOP Thanh Hóa",           # the name authenticator apps show
        # Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto to trust
        # (0: none).  Without it every client looks like the proxy to the rate limits.
        PROXY_COUNT=0,
        PUSH_RETRY_BASE_SECONDS=5,       # first retry after ~5 s, doubling…
        PUSH_RETRY_CAP_SECONDS=300,      # …up to 5 minutes between attempts
        PUSH_GIVE_UP_SECONDS=3 * 24 * 3600,  # then dead after 3 days of failures
        PUSH_TIMEOUT_SECONDS=15,
        PUSH_LEASE_SECONDS=60,           # a claimed delivery comes back after this (killed worker)
        PUSH_ALLOW_PRIVATE=False,        # loopback/private endpoints (tests, local receivers)
        SCAN_CLONE_THRESHOLD=5,
        SCAN_RECORDING=True,             # off only to measure what recording costs (bench)
        SCAN_FLUSH_SECONDS=1.0,          # scans are written in batches this often (0: at once)
        SCAN_BUFFER="memory",            # where scans wait till then: "memory", or "database" (several servers)
        SCAN_PROVINCE_HEADER=None,       # a trusted proxy's header carrying a province code
        SCAN_NOT_FOUND_RATE="30 per minute",  # unknown serials per client before 429
        # Raw scans older than this are folded into daily aggregates and deleted by the daily
        # job, this many rows per delete (scan/retention.py).
        SCAN_RETENTION_DAYS=730,
        SCAN_FOLD_BATCH=5000,
        # The province's consumer hotline, shown as a tel: link on the counterfeit and warning
        # pages (e.g. "0237 3852 491"); without it the pages carry no hotline sentence.
        REPORT_HOTLINE=None,
        REPORT_RATE="5 per hour",        # buyers' reports per client
        SCRATCH_STAMP_RATE="5 per hour",   # wrong scratch-code entries per stamp…
        SCRATCH_CLIENT_RATE="20 per hour",  # …and per client
        # Key of the scratch-off codes (tem cào); derived from SECRET_KEY when unset.  Printed
        # codes stop matching if it changes: set it once, separately, in production.
        SCRATCH_CODE_KEY=None,
        API_RATE_LIMIT="300 per minute",      # /api/v1 calls per token (per address without one)
        # Photos: 5 MB each; the request may carry a little form overhead on top.
        MAX_PHOTO_BYTES=5 * 1024 * 1024,
        MAX_CONTENT_LENGTH=5 * 1024 * 1024 + 64 * 1024,
        # Decoded pixels per upload (PNG/WebP; JPEGs up to 4x, decoded at reduced scale):
        # 24 MP is ~100 MB of RGBA while processing, so a few uploads at once stay affordable.
        MAX_IMAGE_PIXELS=24_000_000,
        # scrypt with N = 2**17 (128 MiB, ~0.3 s): issue 2, "Passwords".
        PASSWORD_HASH_METHOD="scrypt:131072:8:1",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        BABEL_DEFAULT_LOCALE="vi",
        BABEL_DEFAULT_TIMEZONE="Asia/Ho_Chi_Minh",
        LANGUAGES=("vi", "en"),
        CATALOGUE_PAGE_SIZE=12,
        TRUSTED_HOSTS=None,
        WTF_CSRF_TIME_LIMIT=None,
        # Statement parameters (password hashes, tokens…) never in error messages and logs.
        SQLALCHEMY_ENGINE_OPTIONS={"hide_parameters": True},
        LOG_LEVEL="INFO",                # JSON log lines of the marketplace loggers (marketplace/logs.py)
    )
    cfg.from_pyfile("config.py", silent=True)

    env = os.environ
    if env.get("DATABASE_URL"):
        cfg["SQLALCHEMY_DATABASE_URI"] = env["DATABASE_URL"]
    for name in ("PUBLIC_BASE_URL", "UPLOAD_DIR", "RATELIMIT_STORAGE_URI", "RATELIMIT_KEY_PREFIX", "SECRET_KEY", "LOG_LEVEL", "API_RATE_LIMIT",
                 "REPORT_HOTLINE", "SCRATCH_CODE_KEY", "TOTP_ISSUER"):
        if env.get(name):
            cfg[name] = env[name]
    for name in ("SCAN_CLONE_THRESHOLD", "PROXY_COUNT", "SCAN_RETENTION_DAYS", "SCAN_FOLD_BATCH"):
        if env.get(name):
            cfg[name] = int(env[name])
    for name in ("PUSH_RETRY_BASE_SECONDS", "PUSH_RETRY_CAP_SECONDS", "PUSH_GIVE_UP_SECONDS", "PUSH_TIMEOUT_SECONDS",
                 "PUSH_LEASE_SECONDS"):
        if env.get(name):
            cfg[name] = float(env[name])
    if env.get("PUSH_ALLOW_PRIVATE"):
        cfg["PUSH_ALLOW_PRIVATE"] = _bool(env["PUSH_ALLOW_PRIVATE"])
    if env.get("SCAN_RECORDING"):
        cfg["SCAN_RECORDING"] = _bool(env["SCAN_RECORDING"], True)
    if env.get("RATELIMIT_ENABLED"):  # (off only for load tests: every limit goes)
        cfg["RATELIMIT_ENABLED"] = _bool(env["RATELIMIT_ENABLED"], True)
    if env.get("SCAN_FLUSH_SECONDS"):
        cfg["SCAN_FLUSH_SECONDS"] = float(env["SCAN_FLUSH_SECONDS"])
    if env.get("SCAN_BUFFER"):
        cfg["SCAN_BUFFER"] = env["SCAN_BUFFER"].strip().lower()
    if env.get("SCAN_PROVINCE_HEADER"):
        cfg["SCAN_PROVINCE_HEADER"] = env["SCAN_PROVINCE_HEADER"]
    if env.get("TRUSTED_HOSTS"):
        cfg["TRUSTED_HOSTS"] = [h.strip() for h in env["TRUSTED_HOSTS"].split(",") if h.strip()]

    if overrides:
        cfg.update(overrides)

    if not cfg["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A server database: no ping before each checkout (a round trip per request);
        # connections are replaced before a server or firewall would drop them idle, and a
        # read that meets a dropped one anyway is dispatched once more
        # (transactions.dispatch_again_on_disconnect).
        cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {"pool_pre_ping": False, "pool_recycle": POOL_RECYCLE_SECONDS,
                                            **cfg["SQLALCHEMY_ENGINE_OPTIONS"]}
    cfg["PUBLIC_BASE_URL"] = cfg["PUBLIC_BASE_URL"].rstrip("/")
    https = cfg["PUBLIC_BASE_URL"].startswith("https://")
    # Secure cookies whenever the public site is HTTPS (or when told so explicitly).
    explicit = (overrides or {}).get("SESSION_COOKIE_SECURE")
    secure = explicit if explicit is not None else _bool(env.get("SESSION_COOKIE_SECURE"), https)
    cfg["SESSION_COOKIE_SECURE"] = cfg["REMEMBER_COOKIE_SECURE"] = bool(secure)
    if cfg["SCAN_BUFFER"] not in ("memory", "database"):
        raise ValueError(f"SCAN_BUFFER must be 'memory' or 'database', not {cfg['SCAN_BUFFER']!r}")
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = _secret_key(instance)
