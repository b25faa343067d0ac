"""A requests session that bounds what an endpoint can do to us. Every HTTP client of ours
uses one: the oidc and google providers directly, google-auth through its transport, MSAL as
its `http_client`, azure-identity through its transport.

On every response, redirects included, before requests reads the body or follows anything:
- the body is read at most bounds.MAX_BODY_BYTES, within the request's timeout in all;
- a redirect of anything but GET or HEAD is refused: a token request's form (client secret,
  refresh token, code, password) would otherwise be sent again to wherever `Location` says
  (requests resends it on 307 and 308);
- a redirect from https to anything else is refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from credplugin import bounds
from credplugin.errors import UpstreamError

MAX_REDIRECTS = 5


class GuardedSession(requests.Session):
    """A requests.Session with the guard on every response and a default timeout (MSAL and
    azure-core do not always pass one)."""

    def __init__(self, timeout: float, *, limit: int = bounds.MAX_BODY_BYTES) -> None:
        super().__init__()
        self.timeout = timeout
        self.limit = limit
        self.max_redirects = MAX_REDIRECTS
        self.hooks["response"].append(self._guard)
        # One retry of a connection that failed; never of a request the server may have
        # received, nor of a read that timed out (that would double the time we take).
        retry = Retry(total=1, connect=1, read=False, status=0, other=0, redirect=0)
        for scheme in ("http://", "https://"):
            self.mount(scheme, HTTPAdapter(max_retries=retry))

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)

    def _guard(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        method = str(response.request.method or "GET").upper()
        url = str(response.url)
        if response.is_redirect:
            target = urljoin(url, response.headers.get("Location", ""))
            where = f"{_origin(url)} redirected a {method} to {_origin(target)}"
            if method not in ("GET", "HEAD"):
                response.close()
                raise UpstreamError(
                    f"{where}; not followed: the request would be sent again, with what it "
                    "carries, to wherever the redirect says",
                    hint="use the endpoint's final URL",
                )
            if urlsplit(url).scheme == "https" and urlsplit(target).scheme != "https":
                response.close()
                raise UpstreamError(f"{where}, off https; not followed")
        timeout = kwargs.get("timeout")
        if isinstance(timeout, tuple):
            timeout = timeout[-1]
        seconds = float(timeout) if timeout else self.timeout
        try:
            body = bounds.read_body(
                response.iter_content(64 * 1024),
                _origin(url) + urlsplit(url).path,
                limit=self.limit,
                seconds=seconds,
            )
        except BaseException:
            response.close()
            raise
        # What requests would have read itself (Response.content returns it from here on).
        response._content = body
        return response


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
