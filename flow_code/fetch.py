"""Fetch a product page over HTTP, with a timeout, a size cap, a browser-like User-Agent and clear errors."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Safari/537.36 prefect-workshop-kit"
)
TIMEOUT_SECONDS = 15.0  # for an answer; connecting may take at most 5 s of it
MAX_PAGE_BYTES = 5_000_000  # a product page is a few hundred kB; more is not a product page
TRANSIENT_STATUSES = {408, 425, 429, 500, 502, 503, 504}
PAGE_TYPES = ("text/html", "application/xhtml+xml", "text/plain")


class PageError(Exception):
    """A page could not be fetched. `transient` says whether trying again may help."""

    def __init__(self, url: str, reason: str, transient: bool = False):
        super().__init__(f"{url}: {reason}")
        self.url, self.reason, self.transient = url, reason, transient

    def __reduce__(self):
        return type(self), (self.url, self.reason, self.transient)


def check_url(url: str) -> None:
    """`PageError` unless `url` is an absolute http(s) URL."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise PageError(str(url), "not an http(s) URL")


def fetch_page(url: str, timeout: float = TIMEOUT_SECONDS, max_bytes: int = MAX_PAGE_BYTES) -> str:
    """The text of the HTML page at `url`; `PageError` naming the URL if it cannot be had."""
    check_url(url)
    try:
        with requests.get(
            url, timeout=(min(5.0, timeout), timeout), headers={"User-Agent": USER_AGENT}, stream=True
        ) as response:
            _check_response(url, response, max_bytes)
            body = _read_capped(url, response, max_bytes)
            encoding = response.encoding or "utf-8"
    except requests.Timeout:
        raise PageError(url, f"no answer within {timeout:g} s (timeout)", transient=True) from None
    except requests.ConnectionError as exc:
        raise PageError(url, f"could not connect ({_root_cause(exc)})", transient=True) from None
    except requests.RequestException as exc:
        raise PageError(url, f"request failed ({exc})") from None
    if b"\0" in body[:4096]:
        raise PageError(url, "not an HTML page (binary content)")
    return body.decode(encoding, errors="replace")


def _check_response(url: str, response: requests.Response, max_bytes: int) -> None:
    if response.status_code >= 400:
        reason = f"HTTP {response.status_code} {response.reason or ''}".strip()
        raise PageError(url, reason, transient=response.status_code in TRANSIENT_STATUSES)
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type and content_type not in PAGE_TYPES:
        raise PageError(url, f"not an HTML page (Content-Type: {content_type})")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise PageError(url, f"page too large ({int(declared):,} bytes; the limit is {max_bytes:,})")


def _read_capped(url: str, response: requests.Response, max_bytes: int) -> bytes:
    body = bytearray()
    for chunk in response.iter_content(chunk_size=65536):
        body += chunk
        if len(body) > max_bytes:
            raise PageError(url, f"page too large (over {max_bytes:,} bytes; the limit is {max_bytes:,})")
    return bytes(body)


def _root_cause(exc: BaseException) -> str:
    while exc.__cause__ or exc.__context__:
        exc = exc.__cause__ or exc.__context__
    return str(exc).split(": ", 1)[-1] or type(exc).__name__
