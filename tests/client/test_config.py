"""AxmeClientConfig validation and secret hiding."""

from __future__ import annotations

import pytest

from django_axme.client import AxmeClient, AxmeClientConfig

from .conftest import API_KEY


def test_sdk_defaults() -> None:
    c = AxmeClientConfig(api_key="k")
    assert c.base_url == "https://api.cloud.axme.ai"
    assert (c.timeout_seconds, c.max_retries, c.retry_backoff_seconds) == (15.0, 2, 0.2)
    assert c.auto_trace_id is True and c.default_owner_agent is None
    assert (c.mcp_endpoint_path, c.mcp_protocol_version) == ("/mcp", "2024-11-05")
    assert (c.connect_timeout_seconds, c.retry_backoff_max_seconds, c.pool_maxsize) == (
        5.0,
        10.0,
        10,
    )
    assert c.auth_style == "x-api-key" and c.auto_idempotency_key is True
    assert c.idempotency_store is None
    assert c.max_response_bytes == 16 * 1024 * 1024


@pytest.mark.parametrize("key", ["", "   ", None])
def test_empty_api_key_names_the_field(key: object) -> None:
    with pytest.raises(ValueError, match="api_key"):
        AxmeClientConfig(api_key=key)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "url",
    [
        "",
        "api.cloud.axme.ai",
        "ftp://axme.test",
        "http://",
        "https://:443",
        "http://h:port",
        "https://h/?x=1",
        "https://user:pw@h",
    ],
)
def test_malformed_base_url_names_the_field(url: str) -> None:
    with pytest.raises(ValueError, match="base_url"):
        AxmeClientConfig(api_key="k", base_url=url)


def test_credentials_in_url_are_not_echoed() -> None:
    with pytest.raises(ValueError) as info:
        AxmeClientConfig(api_key="k", base_url="https://me:hunter2@h")
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "field",
    [
        "timeout_seconds",
        "connect_timeout_seconds",
        "max_retries",
        "retry_backoff_seconds",
        "retry_backoff_max_seconds",
    ],
)
def test_negative_numbers_name_the_field(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        AxmeClientConfig(api_key="k", **{field: -1})


def test_pool_and_auth_style_validation() -> None:
    with pytest.raises(ValueError, match="pool_maxsize"):
        AxmeClientConfig(api_key="k", pool_maxsize=0)
    with pytest.raises(ValueError, match="auth_style"):
        AxmeClientConfig(api_key="k", auth_style="basic")
    with pytest.raises(ValueError, match="auth_style"):
        AxmeClientConfig(api_key="k", auth_style="bearer", actor_token="t")


@pytest.mark.parametrize("value", [1023, 0, -1, 2048.0, True, "4096", None])
def test_max_response_bytes_validation(value: object) -> None:
    with pytest.raises(ValueError) as info:
        AxmeClientConfig(api_key="k", max_response_bytes=value)  # type: ignore[arg-type]
    assert str(info.value).startswith("max_response_bytes")


def test_max_response_bytes_accepts_an_int_from_1024() -> None:
    assert AxmeClientConfig(api_key="k", max_response_bytes=1024).max_response_bytes == 1024


def test_actor_and_bearer_token_aliases() -> None:
    assert AxmeClientConfig(api_key="k", bearer_token="t").actor_token == "t"
    assert AxmeClientConfig(api_key="k", actor_token="t", bearer_token="t").actor_token == "t"
    with pytest.raises(ValueError, match="actor_token and bearer_token"):
        AxmeClientConfig(api_key="k", actor_token="a", bearer_token="b")


def test_secrets_absent_from_repr_and_str() -> None:
    config = AxmeClientConfig(api_key=API_KEY, actor_token="actor-SECRET-jwt")
    client = AxmeClient(config)
    try:
        for text in (repr(config), str(config), repr(client), str(client)):
            assert API_KEY not in text
            assert "actor-SECRET-jwt" not in text
        assert "axme.ai" in repr(config)
    finally:
        client.close()


def test_config_is_frozen() -> None:
    config = AxmeClientConfig(api_key="k")
    with pytest.raises(AttributeError):
        config.api_key = "other"  # type: ignore[misc]


def test_client_refuses_a_non_config() -> None:
    with pytest.raises(ValueError, match="AxmeClientConfig"):
        AxmeClient({"api_key": "k"})  # type: ignore[arg-type]
