"""Drive the Django admin over HTTP like a person with a browser would (headless demo).

Uses one :class:`requests.Session`: GET the login page for the CSRF cookie, POST the login,
GET the approval's change page (which must offer the decision form) and POST the decision to
the admin's decide endpoint. Every step checks the answer and raises :class:`AdminError` with
what went wrong.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import requests


class AdminError(RuntimeError):
    """The admin did not answer as a person would expect."""


class _FormFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.actions: list[str] = []
        self.inputs: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.actions.append(values.get("action", ""))
        elif tag in ("input", "button") and values.get("name"):
            self.inputs.setdefault(values["name"], values.get("value", ""))


_MESSAGE = re.compile(r'<li class="(success|warning|error|info)">(.*?)</li>', re.S)


def page_messages(html: str) -> list[tuple[str, str]]:
    """The ``django.contrib.messages`` shown on an admin page, as ``(level, text)``."""
    return [(level, re.sub(r"<[^>]+>", "", text).strip()) for level, text in _MESSAGE.findall(html)]


class AdminSession:
    """A logged-in admin user, talking to ``base_url`` (for example ``http://127.0.0.1:8000``)."""

    def __init__(self, base_url: str, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()

    def _url(self, path: str) -> str:
        return self.base_url + path

    def _csrf(self) -> str:
        token = self.http.cookies.get("csrftoken")
        if not token:
            raise AdminError("the admin did not set a csrftoken cookie")
        return token

    def login(self, login_path: str, username: str, password: str) -> None:
        page = self.http.get(self._url(login_path), timeout=self.timeout)
        if page.status_code != 200:
            raise AdminError(f"GET {login_path} answered {page.status_code}")
        answer = self.http.post(
            self._url(login_path),
            data={
                "username": username,
                "password": password,
                "csrfmiddlewaretoken": self._csrf(),
                "next": "/admin/",
            },
            headers={"Referer": self._url(login_path)},
            timeout=self.timeout,
        )
        if answer.status_code != 200 or "sessionid" not in self.http.cookies:
            raise AdminError(
                f"login as {username!r} failed (HTTP {answer.status_code}); check the password"
            )

    def get(self, path: str) -> str:
        answer = self.http.get(self._url(path), timeout=self.timeout)
        if answer.status_code != 200:
            raise AdminError(f"GET {path} answered {answer.status_code}")
        return answer.text

    def post_form(self, page_path: str, action_path: str, fields: dict[str, str]) -> str:
        """POST ``fields`` to ``action_path`` as the form on ``page_path`` would.

        Checks that the page really offers a form posting to ``action_path`` (so the demo does
        exactly what a person could do), follows the redirect and returns the final page.
        """
        html = self.get(page_path)
        finder = _FormFinder()
        finder.feed(html)
        if not any(
            action.rstrip("/").endswith(action_path.rstrip("/")) for action in finder.actions
        ):
            raise AdminError(
                f"{page_path} offers no form posting to {action_path} (forms: {finder.actions})"
            )
        data = {"csrfmiddlewaretoken": self._csrf(), **fields}
        answer = self.http.post(
            self._url(action_path),
            data=data,
            headers={"Referer": self._url(page_path)},
            timeout=self.timeout,
        )
        if answer.status_code != 200:
            raise AdminError(f"POST {action_path} answered {answer.status_code}")
        return answer.text
