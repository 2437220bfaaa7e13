"""Read the current price from a product page's HTML.

Shops publish prices in several markups; `read_offer` tries them in this order and takes the first
that has a price:

1. schema.org JSON-LD `Product` offers (an object or a list, also inside a JSON-LD list or `@graph`)
2. schema.org microdata `itemprop="price"`
3. `product:price:amount` / `og:price:amount` meta tags
4. Nike's current-price containers: `data-testid="currentPrice-container"`, then the legacy
   `data-test="product-price"` and `div.product-price`

Only the *current* price is read: a struck-through "was" price lives in other containers.
Amounts keep their cents and thousands separators exactly (`$1,299.00` -> `Decimal("1299.00")`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bs4 import BeautifulSoup

LOOKED_FOR = (
    "schema.org JSON-LD Product offers, microdata itemprop=price, "
    "product:price:amount/og:price:amount meta tags, Nike price containers "
    "(data-testid=currentPrice-container, data-test=product-price, div.product-price)"
)
SOLD_OUT = ("outofstock", "soldout", "discontinued")
CURRENCY_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "₹": "INR"}
_AMOUNT = re.compile(r"\d+(?:(?:[.,]|[ \u00a0\u202f](?=\d{3}\b))\d+)*")


class PriceNotFound(ValueError):
    """The page has no current price (no known markup, sold out, or a bot-block page)."""


@dataclass(frozen=True)
class Offer:
    """A price read from a page, with where it was found."""

    price: Decimal
    currency: str | None = None
    product: str | None = None
    source: str = ""


def parse_price(html: str) -> Decimal:
    """The current price on a product page; `PriceNotFound` if there is none."""
    return read_offer(html).price


def read_offer(html: str) -> Offer:
    """The current price on a product page with its currency and product name."""
    soup = BeautifulSoup(html, "html.parser")
    for reader in (_from_json_ld, _from_microdata, _from_meta_tags, _from_price_containers):
        offer = reader(soup)
        if offer is not None:
            return offer
    title = soup.title.get_text(strip=True) if soup.title else ""
    page = f" (page title: {title!r})" if title else ""
    raise PriceNotFound(f"no price on the page{page}; looked for {LOOKED_FOR}")


def parse_amount(text: str | int | float | Decimal) -> Decimal:
    """`"$1,299.00"` -> `Decimal("1299.00")`; also `"1.299,00 €"`, `"$ 180"`, `129.97`."""
    if isinstance(text, Decimal):
        return text
    match = _AMOUNT.search(str(text))
    if not match:
        raise PriceNotFound(f"no amount in {str(text).strip()!r}")
    token = re.sub(r"\s", "", match.group())
    separators = [i for i, char in enumerate(token) if char in ".,"]
    if separators:
        last = separators[-1]
        decimals = len(token) - last - 1
        is_decimal_point = decimals != 3 or token.count(token[last]) == 1 and len(separators) > 1
        digits = re.sub(r"[.,]", "", token[:last])
        token = f"{digits}.{token[last + 1 :]}" if is_decimal_point else digits + token[last + 1 :]
    try:
        return Decimal(token)
    except InvalidOperation:
        raise PriceNotFound(f"not an amount: {str(text).strip()!r}") from None


def currency_of(text: str) -> str | None:
    """The currency a price text is written in, from its symbol or ISO code."""
    for symbol, code in CURRENCY_SYMBOLS.items():
        if symbol in text:
            return code
    code = re.search(r"\b[A-Z]{3}\b", text)
    return code.group() if code else None


# --- the readers, one per markup: each returns an Offer or None ------------------------------


def _from_json_ld(soup: BeautifulSoup) -> Offer | None:
    for script in soup.find_all("script", type="application/ld+json"):
        try:
            data = json.loads(script.string or "", parse_float=Decimal)
        except ValueError:
            continue  # malformed JSON-LD: another markup may still have the price
        for product in _json_ld_products(data):
            offers = product.get("offers") or []
            offers = offers if isinstance(offers, list) else [offers]
            offers = [offer for offer in offers if isinstance(offer, dict)]
            if offers and all(_is_sold_out(offer) for offer in offers):
                raise PriceNotFound(f"sold out: {product.get('name') or 'the product'} has no offer in stock")
            for offer in offers:
                amount = _offer_amount(offer)
                if amount is not None and not _is_sold_out(offer):
                    return Offer(
                        price=parse_amount(amount),
                        currency=offer.get("priceCurrency") or _spec(offer).get("priceCurrency"),
                        product=product.get("name"),
                        source="JSON-LD",
                    )
    return None


def _json_ld_products(data):
    """Every schema.org Product in a JSON-LD document (objects, lists and @graph)."""
    if isinstance(data, list):
        for item in data:
            yield from _json_ld_products(item)
    elif isinstance(data, dict):
        types = data.get("@type")
        types = types if isinstance(types, list) else [types]
        if "Product" in types or "ProductGroup" in types:
            yield data
        yield from _json_ld_products(data.get("@graph", []))


def _spec(offer: dict) -> dict:
    spec = offer.get("priceSpecification") or {}
    return spec[0] if isinstance(spec, list) and spec else spec if isinstance(spec, dict) else {}


def _offer_amount(offer: dict):
    for value in (offer.get("price"), _spec(offer).get("price"), offer.get("lowPrice")):
        if value not in (None, ""):
            return value
    return None


def _is_sold_out(offer: dict) -> bool:
    availability = str(offer.get("availability", "")).rsplit("/", 1)[-1].lower()
    return availability in SOLD_OUT


def _from_microdata(soup: BeautifulSoup) -> Offer | None:
    tag = soup.find(attrs={"itemprop": "price"})
    if tag is None:
        return None
    value = tag.get("content") or tag.get_text(" ", strip=True)
    currency_tag = soup.find(attrs={"itemprop": "priceCurrency"})
    currency = currency_tag.get("content") or currency_tag.get_text(strip=True) if currency_tag else None
    name_tag = soup.find(attrs={"itemprop": "name"})
    return Offer(
        price=parse_amount(value),
        currency=currency or currency_of(value),
        product=name_tag.get_text(strip=True) if name_tag else _title(soup),
        source="microdata",
    )


def _from_meta_tags(soup: BeautifulSoup) -> Offer | None:
    for prefix in ("product", "og"):
        amount = _meta(soup, f"{prefix}:price:amount")
        if amount:
            return Offer(
                price=parse_amount(amount),
                currency=_meta(soup, f"{prefix}:price:currency"),
                product=_meta(soup, "og:title") or _title(soup),
                source="meta tags",
            )
    return None


def _meta(soup: BeautifulSoup, key: str) -> str | None:
    tag = soup.find("meta", attrs={"property": key}) or soup.find("meta", attrs={"name": key})
    return tag.get("content") if tag else None


def _from_price_containers(soup: BeautifulSoup) -> Offer | None:
    for selector in (
        '[data-testid="currentPrice-container"]',
        '[data-test="product-price"]',
        "div.product-price",
    ):
        tag = soup.select_one(selector)
        if tag is not None and _AMOUNT.search(tag.get_text()):
            text = tag.get_text(" ", strip=True)
            return Offer(
                price=parse_amount(text),
                currency=currency_of(text),
                product=_title(soup),
                source=selector,
            )
    return None


def _title(soup: BeautifulSoup) -> str | None:
    heading = soup.find("h1")
    if heading:
        return heading.get_text(" ", strip=True)
    return soup.title.get_text(strip=True) if soup.title else None
