"""The client's :class:`requests.Session` and the one way a request goes out on it.

Both exist for the cost of a call: ``requests`` re-reads the proxy and CA bundle environment
and merges session settings, cookies and hooks on every ``Session.request``; the client needs
none of that per call (one base URL, its own auth headers, redirects never followed).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import requests

from django_axme.client.config import AxmeClientConfig
from django_axme.client.deadline import DeadlineAdapter

__all__ = ["build_session", "open_unread"]


def build_session(config: AxmeClientConfig) -> requests.Session:
    """A session with deadline-enforcing adapters, and the proxy and CA bundle environment
    read once, here.

    The proxy variables (``HTTP(S)_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) are resolved for
    ``config.base_url`` now (``NO_PROXY`` honoured), as are ``REQUESTS_CA_BUNDLE`` /
    ``CURL_CA_BUNDLE``; a change to them takes effect in the next client. ``.netrc``
    credentials are never used: the client sends its own ``Authorization``/``x-api-key``.
    """
    session = requests.Session()
    session.trust_env = False
    session.proxies.update(requests.utils.get_environ_proxies(config.base_url))
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if ca_bundle:
        session.verify = ca_bundle
    adapter = DeadlineAdapter(pool_connections=4, pool_maxsize=config.pool_maxsize, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def open_unread(
    session: requests.Session,
    method: str,
    url: str,
    *,
    params: Mapping[str, Any] | None,
    json_body: Any,
    headers: Mapping[str, str],
    timeout: tuple[float, float],
    own_session: bool,
) -> requests.Response:
    """Send one request on ``session`` and return the response with its body unread.

    On a session from :func:`build_session` (``own_session``) the request is prepared here
    and handed straight to the session's adapter, skipping ``Session.request``'s merging of
    settings, cookies and hooks (about a fifth of a ``get_intent``). A session the caller
    passed in goes through ``Session.request`` so that its own settings, adapters and hooks
    apply. Redirects are never followed either way.
    """
    if not own_session:
        return session.request(
            method,
            url,
            params=params or None,
            json=json_body,
            headers=dict(headers),
            timeout=timeout,
            stream=True,
            allow_redirects=False,
        )
    prepared = requests.PreparedRequest()
    prepared.prepare(
        method=method,
        url=url,
        headers={"Connection": "keep-alive", **headers},
        params=params or None,
        json=json_body,
    )
    return session.get_adapter(url).send(
        prepared,
        stream=True,
        timeout=timeout,
        verify=True if session.verify is None else session.verify,
        cert=session.cert,
        proxies=session.proxies,
    )
