"""Keeping credentials out of error pages: masked header values and scrubbed tracebacks.

Django's technical 500 page and ``AdminEmailHandler(include_html=True)`` print the local
variables of every frame in a traceback. The transport marks credential header values with
:class:`SecretHeaderValue` (its ``repr`` is a mask) and clears the locals of the finished
library frames chained to a transport error with :func:`scrub_traceback`.
"""

from __future__ import annotations

from contextlib import suppress
from types import TracebackType


class SecretHeaderValue(str):
    """A header value (the API key, a bearer token) whose ``repr`` hides it.

    Header dicts end up in the local variables of our frames and of requests/urllib3 frames;
    error pages (Django's technical 500, ``AdminEmailHandler(include_html=True)``) print those
    locals with ``repr``, so the value never shows there. ``str()`` and encoding still give
    the real value, which is what goes on the wire."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "'***'"


# Modules whose frames may hold the raw request (header bytes) in their locals.
_LIBRARY_PREFIXES = ("requests", "urllib3", "http", "socket", "ssl", "responses")


def scrub_traceback(exc: BaseException) -> None:
    """Clear the local variables of the finished library frames in ``exc``'s traceback and in
    those of the exceptions chained to it (``__cause__``/``__context__``), so an error page
    cannot print the request they were sending (headers with the key)."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen or len(seen) > 64:
            continue
        seen.add(id(current))
        tb: TracebackType | None = current.__traceback__
        while tb is not None:
            frame = tb.tb_frame
            module = str(frame.f_globals.get("__name__", ""))
            if module.split(".")[0] in _LIBRARY_PREFIXES:
                with suppress(RuntimeError):  # a frame still executing keeps its locals
                    frame.clear()
            tb = tb.tb_next
        todo.extend((current.__cause__, current.__context__))
