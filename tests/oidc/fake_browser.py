"""A "browser" for tests: `BROWSER="python fake_browser.py %s"` makes Python's webbrowser run
this with the login URL, and it logs in on node-oidc-provider's dev pages like a person would:
fill the login form, confirm consent, follow the redirect to the plugin's loopback listener.

Environment:
  FAKE_BROWSER_LOG   append one line per URL opened (tests count browser launches)
  FAKE_BROWSER_USER  the login name (default: alice)
  FAKE_BROWSER_MODE  "login" (default), "ignore" (open nothing: an abandoned login),
                     "tamper-state" (deliver the redirect with a different state)
"""

from __future__ import annotations

import os
import sys
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import requests


class Forms(HTMLParser):
    """Every <form> with its action, method and input values (buttons included)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, object]] = []
        self._current: dict[str, object] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = {
                "id": attr.get("id", ""),
                "action": attr.get("action", ""),
                "method": attr.get("method", "get").lower(),
                "fields": {},
            }
            self.forms.append(self._current)
        elif tag in ("input", "button") and attr.get("name"):
            form = self._current
            if attr.get("form"):
                form = next((f for f in self.forms if f["id"] == attr["form"]), form)
            if form is not None:
                fields = form["fields"]
                assert isinstance(fields, dict)
                fields.setdefault(attr["name"], attr.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def is_loopback_redirect(url: str) -> bool:
    return urlsplit(url).hostname == "127.0.0.1" and "code=" in urlsplit(url).query


def log_in(start: str, user: str, mode: str) -> None:
    session = requests.Session()
    session.trust_env = False
    url, response = start, session.get(start, allow_redirects=False, timeout=20)
    for _ in range(20):
        while response.is_redirect:
            url = urljoin(url, response.headers["Location"])
            if is_loopback_redirect(url):
                if mode == "tamper-state":
                    parts = urlsplit(url)
                    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                    query["state"] = "forged-" + query.get("state", "")
                    url = urlunsplit(parts._replace(query=urlencode(query)))
                session.get(url, timeout=20)
                return
            response = session.get(url, allow_redirects=False, timeout=20)
        parser = Forms()
        parser.feed(response.text)
        if "Sign-in Success" in response.text or not parser.forms:
            return

        def fields_of(form: dict[str, object]) -> dict[str, str]:
            fields = form["fields"]
            assert isinstance(fields, dict)
            return fields

        form = next(
            (f for f in parser.forms if "login" in fields_of(f) or "confirm" in fields_of(f)),
            parser.forms[0],
        )
        fields = dict(fields_of(form))
        if "login" in fields:
            fields.update(login=user, password="any-password")
        if "user_code" in fields and not fields["user_code"]:
            fields["user_code"] = parse_qs(urlsplit(start).query).get("user_code", [""])[0]
        if "abort" in fields:
            fields.pop("abort")
        target = urljoin(url, str(form["action"]) or url)
        response = session.post(target, data=fields, allow_redirects=False, timeout=20)
        url = target


def main() -> int:
    url = sys.argv[1]
    log = os.environ.get("FAKE_BROWSER_LOG")
    if log:
        with open(log, "a") as handle:
            handle.write(url + "\n")
    mode = os.environ.get("FAKE_BROWSER_MODE", "login")
    if mode == "ignore":
        return 0
    log_in(url, os.environ.get("FAKE_BROWSER_USER", "alice"), mode)
    return 0


if __name__ == "__main__":
    sys.exit(main())
