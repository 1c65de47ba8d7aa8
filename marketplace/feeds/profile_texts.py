"""The texts of an exchange profile as ``profiles.parse`` checks them: what a part of it must
be (a list of non-blank texts, pairs), what a text may not hold, and a refused value as a
message shows it.  Apart from ``profiles`` so that module stays one screenful of rules."""
from __future__ import annotations

import reprlib
import unicodedata

from flask_babel import lazy_gettext as _l

_SHOWN = reprlib.Repr()  # a refused value as a message shows it: cut short, however long or deep
_SHOWN.maxstring, _SHOWN.maxother, _SHOWN.maxlevel = 60, 60, 3


class ProfileError(ValueError):
    """An edited profile that cannot be used; ``field`` names the offending part."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field, self.message = field, message


def shown(value) -> str:
    """``value`` as a message shows it: cut short, however long or deeply nested."""
    return _SHOWN.repr(value)


def refuse_control_characters(part: str, values) -> None:
    """ProfileError (``part``) if one of ``values`` holds what ``text.clean`` takes out of a
    form's text (control and format characters, but the zero-width joiner of emoji) or a lone
    surrogate: the JSON editor's text is cleaned, but a JSON escape ("\\u0001") gets past that
    and would break the XLSX feed mid-stream."""
    for value in values:
        if bad := next((ch for ch in value if unicodedata.category(ch) in ("Cc", "Cf", "Cs") and ch != "\u200d"), ""):
            raise ProfileError(part, str(_l("%(value)s chứa ký tự điều khiển %(char)s; tên, mã và nhãn không được có "
                                            "ký tự này.", value=shown(value), char=f"U+{ord(bad):04X}")))


def texts(part: str, value, message, size: int | None = None, printable=refuse_control_characters) -> list[str]:
    """``value`` when it is a list of non-blank texts (``size`` of them, if given) that pass
    ``printable``, else ProfileError(``part``, ``message`` with ``%(value)s`` shown)."""
    if not (isinstance(value, list) and (size is None or len(value) == size)
            and all(isinstance(v, str) and v.strip() for v in value)):
        raise ProfileError(part, str(message) % {"value": shown(value)})
    printable(part, value)
    return value
