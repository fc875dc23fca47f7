"""Our client against the published SDK 0.2.0, by introspection.

Code written for ``axme_sdk`` must run unchanged on ``django_axme.client``: every public method
of ``axme_sdk.AxmeClient`` (and ``MeshClient``) exists here with the same parameter names and
kinds, the same positional order and the same defaults; parameters we add are optional; a
parameter the SDK requires may be optional here (our 0.1 README shims). The config dataclass
has the SDK's fields, in the SDK's order, with the SDK's defaults.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest

sdk = pytest.importorskip(
    "axme_sdk", reason="the published SDK (axme==0.2.0) is a test dependency on Python >= 3.11"
)

import django_axme.client as ours  # noqa: E402
from django_axme.client.families import AdminFamiliesMixin, MeshClient  # noqa: E402

_EMPTY = inspect.Parameter.empty
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _public_members(cls: type) -> list[str]:
    return sorted(
        name
        for name, value in inspect.getmembers(cls)
        if not name.startswith("_") and (callable(value) or isinstance(value, property))
    )


def _owner(name: str) -> str:
    """Which helper's part of the client a method belongs to (for failure messages)."""
    return "families (B)" if hasattr(AdminFamiliesMixin, name) else "core (A)"


def signature_problems(sdk_func: Any, our_func: Any) -> list[str]:
    """Every way calling ``our_func`` as one would call ``sdk_func`` could break."""
    theirs = inspect.signature(sdk_func).parameters
    mine = inspect.signature(our_func).parameters
    problems = []
    for name, param in theirs.items():
        if param.kind in _VARIADIC:
            if not any(p.kind == param.kind for p in mine.values()):
                problems.append(f"missing {param.kind.description} parameter {name}")
            continue
        other = mine.get(name)
        if other is None:
            problems.append(f"missing parameter {name!r}")
            continue
        if other.kind != param.kind:
            problems.append(f"{name!r} is {other.kind.description}, SDK: {param.kind.description}")
        if param.default is not _EMPTY and other.default != param.default:
            problems.append(f"{name!r} defaults to {other.default!r}, SDK: {param.default!r}")
    positional = [n for n, p in theirs.items() if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD]
    our_positional = [
        n for n, p in mine.items() if p.kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
    ]
    if our_positional[: len(positional)] != positional:
        problems.append(f"positional order {our_positional}, SDK: {positional}")
    for name, param in mine.items():
        if name not in theirs and param.kind not in _VARIADIC and param.default is _EMPTY:
            problems.append(f"extra parameter {name!r} is required")
    return problems


def _compare(sdk_cls: type, our_cls: type, name: str) -> list[str]:
    theirs = inspect.getattr_static(sdk_cls, name)
    mine = inspect.getattr_static(our_cls, name, None)
    if mine is None:
        return [f"{our_cls.__name__}.{name} is missing"]
    if isinstance(theirs, property):
        return [] if isinstance(mine, property) else [f"{name} must be a property"]
    if isinstance(mine, property) or not callable(getattr(our_cls, name)):
        return [f"{name} must be a method"]
    return signature_problems(getattr(sdk_cls, name), getattr(our_cls, name))


@pytest.mark.parametrize("name", _public_members(sdk.AxmeClient))
def test_client_method_matches_sdk(name: str) -> None:
    problems = _compare(sdk.AxmeClient, ours.AxmeClient, name)
    assert not problems, f"AxmeClient.{name} [{_owner(name)}]: " + "; ".join(problems)


def test_client_has_all_sdk_methods() -> None:
    """The SDK 0.2.0 wheel has 94 public client members; all exist on ours."""
    names = _public_members(sdk.AxmeClient)
    assert len(names) == 94
    missing = [n for n in names if not hasattr(ours.AxmeClient, n)]
    assert not missing, "missing: " + ", ".join(f"{n} [{_owner(n)}]" for n in missing)


def test_client_is_built_from_a_config_and_is_a_context_manager() -> None:
    params = list(inspect.signature(ours.AxmeClient.__init__).parameters.values())[1:]
    assert params[0].name == "config"
    assert params[0].kind == inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(p.default is not _EMPTY or p.kind in _VARIADIC for p in params[1:])
    for dunder in ("__enter__", "__exit__"):
        assert callable(getattr(ours.AxmeClient, dunder))


@pytest.mark.parametrize("name", _public_members(sdk.MeshClient))
def test_mesh_method_matches_sdk(name: str) -> None:
    problems = _compare(sdk.MeshClient, MeshClient, name)
    assert not problems, f"MeshClient.{name} [families (B)]: " + "; ".join(problems)


def test_mesh_client_is_built_from_the_client() -> None:
    assert signature_problems(sdk.MeshClient.__init__, MeshClient.__init__) == []
    assert isinstance(inspect.getattr_static(ours.AxmeClient, "mesh"), property)


def test_config_fields_and_defaults_match_sdk() -> None:
    sdk_fields = dataclasses.fields(sdk.AxmeClientConfig)
    our_fields = dataclasses.fields(ours.AxmeClientConfig)
    assert [f.name for f in our_fields[: len(sdk_fields)]] == [f.name for f in sdk_fields], (
        "the SDK's fields come first, in the SDK's order (positional construction)"
    )
    for theirs, mine in zip(sdk_fields, our_fields, strict=False):
        assert mine.default == theirs.default, (
            f"{mine.name}: {mine.default!r} != {theirs.default!r}"
        )
    for extra in our_fields[len(sdk_fields) :]:
        has_default = (
            extra.default is not dataclasses.MISSING
            or extra.default_factory is not dataclasses.MISSING
        )
        assert has_default, f"extra config field {extra.name} must be optional"
    assert ours.AxmeClientConfig.__dataclass_params__.frozen


def test_config_validation_matches_sdk() -> None:
    for kwargs in ({"api_key": ""}, {"api_key": "k", "actor_token": "a", "bearer_token": "b"}):
        with pytest.raises(ValueError):
            sdk.AxmeClientConfig(**kwargs)
        with pytest.raises(ValueError):
            ours.AxmeClientConfig(**kwargs)
    config = ours.AxmeClientConfig(api_key="k", bearer_token="tok")
    assert config.actor_token == sdk.AxmeClientConfig(api_key="k", bearer_token="tok").actor_token


@pytest.mark.parametrize("name", sdk.__all__)
def test_sdk_exports_exist(name: str) -> None:
    assert hasattr(ours, name), (
        f"django_axme.client.{name} is missing (`from axme_sdk import {name}` has no drop-in;"
        " MeshClient lives in django_axme.client.families and needs re-exporting)"
    )


@pytest.mark.parametrize(
    ("sdk_name", "status"),
    [
        ("AxmeAuthError", 401),
        ("AxmeValidationError", 422),
        ("AxmeRateLimitError", 429),
        ("AxmeServerError", 503),
    ],
)
def test_error_classes_keep_sdk_constructor_and_hierarchy(sdk_name: str, status: int) -> None:
    cls = getattr(ours, sdk_name)
    assert issubclass(cls, ours.AxmeHttpError) and issubclass(cls, ours.AxmeError)
    error = cls(status, "boom", body={"x": 1}, request_id="r", trace_id="t", retry_after=3)
    assert str(error) == str(getattr(sdk, sdk_name)(status, "boom")) == f"HTTP {status}: boom"
    assert (error.status_code, error.body, error.request_id, error.trace_id, error.retry_after) == (
        status,
        {"x": 1},
        "r",
        "t",
        3,
    )


def test_signature_checker_detects_incompatibilities() -> None:
    def sdk_style(self, thread_id, *, owner_agent=None, limit: int = 10): ...

    def renamed(self, thread, *, owner_agent=None, limit: int = 10): ...

    def keyword_became_positional(self, thread_id, owner_agent=None, limit: int = 10): ...

    def other_default(self, thread_id, *, owner_agent=None, limit: int = 50): ...

    def required_extra(self, thread_id, *, owner_agent=None, limit: int = 10, strict): ...

    def compatible(self, thread_id, extra=None, *, owner_agent=None, limit=10, **more): ...

    assert signature_problems(sdk_style, renamed)
    assert signature_problems(sdk_style, keyword_became_positional)
    assert signature_problems(sdk_style, other_default) == ["'limit' defaults to 50, SDK: 10"]
    assert signature_problems(sdk_style, required_extra) == ["extra parameter 'strict' is required"]
    assert signature_problems(sdk_style, compatible) == []
