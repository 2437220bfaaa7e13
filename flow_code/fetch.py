"""Fetch a product page over HTTP, with a timeout, a browser-like User-Agent and clear errors."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36 prefect-workshop-kit"
)
TIMEOUT_SECONDS = (5.0, 15.0)  # connect, read
TRANSIENT_STATUSES = {408, 425, 429, 500, 502, 503, 504}


class PageError(Exception):
    """A page could not be fetched. `transient` says whether trying again may help."""

    def __init__(self, url: str, reason: str, transient: bool = False):
        super().__init__(f"{url}: {reason}")
        self.url, self.reason, self.transient = url, reason, transient

    def __reduce__(self):
        return type(self), (self.url, self.reason, self.transient)


def fetch_page(url: str, timeout: tuple[float, float] = TIMEOUT_SECONDS) -> str:
    """The text of the page at `url`; `PageError` naming the URL if it cannot be had."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PageError(url, "not an http(s) URL")
    try:
        response = requests.get(url, timeout=timeout, headers={"User-Agent": USER_AGENT})
    except requests.Timeout:
        raise PageError(url, f"no answer within {timeout[1]:g} s (timeout)", transient=True) from None
    except requests.ConnectionError as exc:
        raise PageError(url, f"could not connect ({_root_cause(exc)})", transient=True) from None
    except requests.RequestException as exc:
        raise PageError(url, f"request failed ({exc})") from None
    if response.status_code >= 400:
        reason = f"HTTP {response.status_code} {response.reason or ''}".strip()
        raise PageError(url, reason, transient=response.status_code in TRANSIENT_STATUSES)
    return response.text


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__
    return str(exc).split(": ", 1)[-1] or type(exc).__name__
