"""A recording stand-in for the client: each method answers from a script or raises."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django_axme.client.errors import error_from_response


def http_error(status: int, body: Any = None) -> Exception:
    """The exception the client raises for an HTTP ``status`` with this JSON ``body``."""
    content = json.dumps(body if body is not None else {"error": f"status {status}"}).encode()
    return error_from_response(status, {}, content)


class FakeClient:
    """Methods named in ``answers`` return (or raise, for an exception; or call, for a
    callable) their answer; every call is recorded in ``calls`` as ``(name, args, kwargs)``.
    A method without an answer raises ``AssertionError`` (the test did not expect it)."""

    def __init__(self, **answers: Any) -> None:
        self.answers = answers
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_") or name in ("answers", "calls"):
            raise AttributeError(name)

        def method(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, args, kwargs))
            if name not in self.answers:
                raise AssertionError(f"unexpected client call {name}{args}")
            answer = self.answers[name]
            if isinstance(answer, BaseException):
                raise answer
            if callable(answer):
                return answer(*args, **kwargs)
            return answer

        return method

    def named(self, name: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(a, k) for n, a, k in self.calls if n == name]
