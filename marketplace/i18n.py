"""Locale selection and the formatting filters templates use (VND, dates, stars)."""
from __future__ import annotations

import datetime as dt

from babel.numbers import format_currency
from flask import current_app, has_request_context, request
from flask_babel import format_date, format_datetime, get_locale
from flask_login import current_user

LANG_COOKIE = "lang"


def select_locale() -> str:
    """Explicit choice (cookie set by the language switch), the user's setting, then
    ``Accept-Language``; Vietnamese when nothing matches."""
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # CLI, worker: the default language
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    choice = request.cookies.get(LANG_COOKIE)
    if choice in languages:
        return choice
    user_locale = getattr(current_user, "locale", None) if current_user else None
    if user_locale in languages:
        return user_locale
    return request.accept_languages.best_match(languages) or current_app.config["BABEL_DEFAULT_LOCALE"]


def current_language() -> str:
    return str(get_locale() or "vi").split("_")[0]


def vnd(amount: int | None) -> str:
    """120000 -> "120.000 ₫" (vi) or "₫120,000" (en)."""
    if amount is None:
        return ""
    locale = "vi_VN" if current_language() == "vi" else "en_US"
    return format_currency(amount, "VND", locale=locale)


def date_vn(value: dt.date | dt.datetime | None) -> str:
    """Dates are written dd/MM/yyyy in both languages (as on Vietnamese labels)."""
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return format_datetime(value, "dd/MM/yyyy HH:mm")
    return format_date(value, "dd/MM/yyyy")


def iso_date_vn(value: str | None) -> str:
    """An ISO date string (cached facts) as dd/MM/yyyy."""
    return date_vn(dt.date.fromisoformat(value)) if value else ""


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


def register_filters(app) -> None:
    app.jinja_env.filters["vnd"] = vnd
    app.jinja_env.filters["date_vn"] = date_vn
    app.jinja_env.filters["qty"] = quantity
    app.jinja_env.filters["iso_date_vn"] = iso_date_vn
    app.jinja_env.globals["current_language"] = current_language
