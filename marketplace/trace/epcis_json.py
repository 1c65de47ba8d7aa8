"""JSON written piece by piece, for documents with arrays too long to hold as one list.

A document is built as plain ``dict``/``list`` values in which some arrays are
:class:`Streamed`: a callable that, each time the array is read, yields its items in chunks
(lists), e.g. one database page of stamp URIs at a time.  Then

* :func:`iter_json` writes the document as text pieces of about ``buffer_size`` characters,
  reading each streamed array once, page by page: memory holds one page, never the array;
* :func:`materialize` returns the same document with every streamed array read into a list.

``"".join(iter_json(doc)) == json.dumps(materialize(doc), ensure_ascii=False)``, character
for character (same separators ``", "`` and ``": "``, same escaping, keys in insertion order).
"""
from __future__ import annotations

import json
from itertools import chain
from typing import Callable, Iterable, Iterator

_encode = json.JSONEncoder(ensure_ascii=False).encode  # what json.dumps(…, ensure_ascii=False) writes
BUFFER_SIZE = 64 * 1024


class Streamed:
    """A JSON array whose items are produced when it is written: ``chunks()`` returns an
    iterable of lists of items (plain JSON values, or dicts that hold :class:`Streamed`
    arrays themselves), and is called afresh each time the array is read."""

    __slots__ = ("chunks",)

    def __init__(self, chunks: Callable[[], Iterable[list]]):
        self.chunks = chunks

    def __iter__(self) -> Iterator:
        return chain.from_iterable(self.chunks())

    @classmethod
    def of(cls, items: Callable[[], Iterable]) -> "Streamed":
        """An array of items produced one by one (each its own chunk): a list of events."""
        return cls(lambda: ([item] for item in items()))


def is_lazy(value) -> bool:
    """Whether ``value`` holds a :class:`Streamed` array anywhere."""
    if isinstance(value, Streamed):
        return True
    if isinstance(value, dict):
        return any(is_lazy(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_lazy(v) for v in value)
    return False


def materialize(value):
    """``value`` with every :class:`Streamed` array read into a list (the whole of it)."""
    if isinstance(value, Streamed):
        return [materialize(item) for item in value]
    if isinstance(value, dict):
        return {key: materialize(v) for key, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [materialize(v) for v in value]
    return value


def _pieces(value) -> Iterator[str]:
    """Text pieces of ``value``'s JSON (any size; :func:`iter_json` joins them)."""
    if isinstance(value, dict):
        if not is_lazy(value):
            yield _encode(value)
            return
        yield "{"
        for i, (key, item) in enumerate(value.items()):
            yield (", " if i else "") + _encode(key) + ": "
            yield from _pieces(item)
        yield "}"
    elif isinstance(value, Streamed) or (isinstance(value, (list, tuple)) and is_lazy(value)):
        chunks = value.chunks() if isinstance(value, Streamed) else [value]
        yield "["
        first = True
        for chunk in chunks:
            if chunk and all(type(item) is str for item in chunk):  # a page of URIs: one piece
                yield ("" if first else ", ") + ", ".join(map(_encode, chunk))
                first = False
                continue
            for item in chunk:
                if not first:
                    yield ", "
                first = False
                yield from _pieces(item)
        yield "]"
    else:
        yield _encode(value)


def iter_json(value, *, buffer_size: int | None = None) -> Iterator[str]:
    """``value`` as JSON text, in pieces of at least ``buffer_size`` characters (default
    :data:`BUFFER_SIZE`; the last may be shorter): few enough for a WSGI server or a file,
    small enough for flat memory."""
    buffer_size = buffer_size or BUFFER_SIZE
    buffer: list[str] = []
    size = 0
    for piece in _pieces(value):
        buffer.append(piece)
        size += len(piece)
        if size >= buffer_size:
            yield "".join(buffer)
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer)
