"""Locale selection and the formatting filters templates use (VND, dates, stars)."""
from __future__ import annotations

import datetime as dt
import functools
from zoneinfo import ZoneInfo

from babel import Locale
from babel.numbers import format_currency
from flask import current_app, has_request_context, request
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header
from flask_babel import get_locale, get_translations, ngettext
from flask_login import current_user

from .internals import chosen_locale, newstyle_gettext

LANG_COOKIE = "lang"


def select_locale() -> str:
    """Explicit choice (cookie set by the language switch), the user's setting, then
    ``Accept-Language``; Vietnamese when nothing matches."""
    config = current_app.config
    if not has_request_context():  # CLI, worker: the default language
        return config["BABEL_DEFAULT_LOCALE"]
    languages = config["LANGUAGES"]
    if request.cookies:  # (buyers scanning stamps, crawlers have none: Accept-Language straight)
        choice = request.cookies.get(LANG_COOKIE)
        if choice in languages:
            return choice
        if may_be_signed_in():
            user_locale = getattr(current_user, "locale", None) if current_user else None
            if user_locale in languages:
                return user_locale
    return cookieless_language(config, request.headers.get("Accept-Language", ""))


def cookieless_language(config, accept_language: str) -> str:
    """The language of a request that brings no cookie: its ``Accept-Language`` (what
    :func:`select_locale` decides for it; the stamp page's lean path asks it directly)."""
    return _best_language(accept_language, tuple(config["LANGUAGES"]), config["BABEL_DEFAULT_LOCALE"])


def page_language(code: str) -> str:
    """A chosen locale code as :func:`current_language` names it ("vi", "en")."""
    return _parsed(code).language


@functools.lru_cache(maxsize=512)
def _best_language(header: str, languages: tuple[str, ...], default: str) -> str:
    """``Accept-Language`` → our language; phones send few distinct headers, so each is
    parsed once."""
    return parse_accept_header(header, LanguageAccept).best_match(languages) or default


@functools.lru_cache(maxsize=16)
def _parsed(code: str) -> Locale:
    return Locale.parse(code)


def locale_selector() -> Locale:
    """:func:`select_locale` as a parsed ``Locale``: Flask-Babel would otherwise parse the
    code (and look for its data file on disk) on every request."""
    return _parsed(select_locale())


def may_be_signed_in() -> bool:
    """Only a request with a session or remember-me cookie can belong to a signed-in user:
    the others (buyers scanning stamps, crawlers) skip loading one."""
    cookies = request.cookies
    return (current_app.config["SESSION_COOKIE_NAME"] in cookies
            or current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in cookies)


def current_language() -> str:
    """The page's language ("vi", "en"): chosen once per request (:func:`select_locale`,
    through Flask-Babel, which keeps it for the request and for ``force_locale``) and then
    read where Flask-Babel keeps it."""
    locale = chosen_locale() or get_locale()
    return locale.language if locale is not None else "vi"


def vnd(amount: int | None, language: str | None = None) -> str:
    """120000 -> "120.000 ₫" (vi) or "₫120,000" (en), in the page's language or in ``language``."""
    if amount is None:
        return ""
    locale = "vi_VN" if (language or current_language()) == "vi" else "en_US"
    return format_currency(amount, "VND", locale=locale)


def date_vn(value: dt.date | dt.datetime | None) -> str:
    """Dates are written dd/MM/yyyy in both languages (as on Vietnamese labels); a moment
    (naive = UTC) in the service's time zone, ``BABEL_DEFAULT_TIMEZONE``, with HH:mm.

    Digits and separators only, the same in every locale, so no CLDR lookup is needed.
    """
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return moment_vn(value, current_app.config["BABEL_DEFAULT_TIMEZONE"])
    return value.strftime("%d/%m/%Y")


def moment_vn(value: dt.datetime | None, zone: str) -> str:
    """:func:`date_vn` of a moment in the time zone ``zone``, for code that runs without the app."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(ZoneInfo(zone)).strftime("%d/%m/%Y %H:%M")


def iso_date_vn(value: str | None) -> str:
    """An ISO date or moment string (cached facts) as :func:`date_vn` writes it."""
    if not value:
        return ""
    return date_vn(dt.datetime.fromisoformat(value) if "T" in value else dt.date.fromisoformat(value))


def quantity(value, language: str | None = None) -> str:
    """Decimal net quantity without trailing zeros: 500.000 -> 500, 1.500 -> 1,5 (vi).

    :param language: force a language (labels are always Vietnamese); default: the page's.
    """
    if value is None:
        return ""
    text = format(value.normalize() if hasattr(value, "normalize") else value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",") if (language or current_language()) == "vi" else text


def shelf_life(days: int | None) -> str:
    """A shelf life as a label states it: whole years as months up to two years ("24 tháng"),
    then years ("5 năm"); whole months of 30 days ("6 tháng"); else days.  Counted from the
    production date."""
    if not days:
        return ""
    if days % 365 == 0 and days // 365 > 2:
        return ngettext("%(num)d năm kể từ ngày sản xuất", "%(num)d năm kể từ ngày sản xuất", days // 365)
    if days % 365 == 0 or days % 30 == 0:
        months = days // 365 * 12 if days % 365 == 0 else days // 30
        return ngettext("%(num)d tháng kể từ ngày sản xuất", "%(num)d tháng kể từ ngày sản xuất", months)
    return ngettext("%(num)d ngày kể từ ngày sản xuất", "%(num)d ngày kể từ ngày sản xuất", days)


def localized(vietnamese: str, english: str | None) -> str:
    """A producer's own text in the page's language: the English version on English pages
    when the producer gave one, else the Vietnamese."""
    return english if english and current_language() == "en" else vietnamese


def zalo_link(number: str | None) -> str:
    """The chat link Zalo opens for a Vietnamese phone number ("0912 345 678")."""
    digits = "".join(ch for ch in number or "" if ch in "0123456789")
    if digits.startswith("84"):
        digits = "0" + digits[2:]
    return f"https://zalo.me/{digits}" if digits else ""


def bound_gettext() -> dict:
    """Templates' ``_()``, ``gettext``… bound to this request's translations once per render.

    Flask-Babel's own callables look the translations up again on every call (several
    context lookups each), which made up a large share of rendering the stamp page; these
    behave the same (Jinja's newstyle wrappers: autoescape, ``%(name)s`` variables).
    """
    return _gettext_callables(get_translations(), current_language())


@functools.lru_cache(maxsize=16)
def _gettext_callables(translations, language: str) -> dict:
    # Flask-Babel keeps one translations object per locale for the app's life, so these
    # wrappers are made once per language, not per render.
    return {**newstyle_gettext(translations), "current_language": lambda: language}


def register_filters(app) -> None:
    app.context_processor(bound_gettext)
    app.jinja_env.filters["vnd"] = vnd
    app.jinja_env.filters["date_vn"] = date_vn
    app.jinja_env.filters["qty"] = quantity
    app.jinja_env.filters["iso_date_vn"] = iso_date_vn
    app.jinja_env.filters["shelf_life"] = shelf_life
    app.jinja_env.globals["current_language"] = current_language
    app.jinja_env.globals["localized"] = localized
    app.jinja_env.filters["zalo_link"] = zalo_link
