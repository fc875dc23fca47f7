"""Route table of the emulator: path templates compiled to regular expressions.

A template segment ``{name}`` matches one path segment; ``{name:path}`` matches one or more
segments (agent addresses contain slashes). Routes are tried in declaration order, so specific
templates must come before general ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .http_types import EmulatorRequest, EmulatorResponse

if TYPE_CHECKING:
    from .core import Gateway

__all__ = ["RequestContext", "Route", "RouteResult", "Router", "route"]

RouteResult = tuple[int, Any] | EmulatorResponse


@dataclass
class RequestContext:
    """One authenticated request as the handlers see it."""

    request: EmulatorRequest
    params: dict[str, str]
    body: dict[str, Any]
    scope: str
    owner_agent: str | None
    idempotency_key: str | None = None
    trace_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def query(self) -> dict[str, list[str]]:
        """The parsed query string."""
        return self.request.query


Handler = Callable[["Gateway", RequestContext], RouteResult]


@dataclass(frozen=True)
class Route:
    """A method + path template bound to a handler.

    ``auth`` False skips the API-key check; ``stream`` True means the handler returns a streaming
    response and runs its setup under the lock itself; ``raw`` True leaves the body unparsed
    (``ctx.body`` is empty, the handler reads ``ctx.request.body``).
    """

    method: str
    template: str
    handler: Handler
    auth: bool = True
    stream: bool = False
    raw: bool = False
    regex: re.Pattern[str] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "regex", _compile(self.template))


def route(
    method: str, template: str, *, auth: bool = True, stream: bool = False, raw: bool = False
) -> Callable[[Handler], Handler]:
    """Decorator that records the route on the handler for :meth:`Router.from_modules`."""

    def decorate(func: Handler) -> Handler:
        specs = getattr(func, "_emulator_routes", [])
        specs.append((method, template, auth, stream, raw))
        func._emulator_routes = specs  # type: ignore[attr-defined]
        return func

    return decorate


def _compile(template: str) -> re.Pattern[str]:
    pattern = ""
    for part in re.split(r"(\{[a-z_]+(?::path)?\})", template):
        if part.startswith("{") and part.endswith("}"):
            name, _, kind = part[1:-1].partition(":")
            pattern += f"(?P<{name}>.+?)" if kind == "path" else f"(?P<{name}>[^/]+)"
        else:
            pattern += re.escape(part)
    return re.compile(f"^{pattern}/?$")


class Router:
    """Finds the route for a method and path."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self.routes = list(routes)

    @classmethod
    def from_modules(cls, *modules: Any) -> Router:
        """Collect every decorated handler of the modules, in source order."""
        found: list[tuple[int, int, Route]] = []
        for module_index, module in enumerate(modules):
            for value in vars(module).values():
                for spec in getattr(value, "_emulator_routes", []):
                    line = value.__code__.co_firstlineno
                    method, template, auth, stream, raw = spec
                    found.append(
                        (module_index, line, Route(method, template, value, auth, stream, raw))
                    )
        found.sort(key=lambda item: (item[0], item[1]))
        return cls(r for _, _, r in found)

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """Return ``(route, path params, path_known)``; ``path_known`` tells 405 from 404."""
        path_known = False
        for candidate in self.routes:
            found = candidate.regex.match(path)
            if found is None:
                continue
            path_known = True
            if candidate.method == method:
                return candidate, found.groupdict(), True
        return None, {}, path_known
