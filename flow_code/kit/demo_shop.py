"""An offline stand-in for nike.com: real HTTP product pages in the markups real shops use.

    python -m flow_code.kit.demo_shop --port 8000          # serve in the foreground
    shop = demo_shop.start(latency=0.5, fail_first=2)  # from a notebook or a test
    shop.product_urls()  ...  shop.stop()

Routes: `/` (an index page), `/products.json` (every product with its URL and stock),
`/t/<product>/<style>` (a product page), `/trouble/<kind>` (pages that go wrong the ways real
shops do: see `TROUBLE`). Knobs for workshops and tests:

- `latency`: seconds every page takes to answer; `?delay=S` on a URL sets it for one request;
- `fail_first`: the first N requests of each page answer 503 (a flaky site, for retries);
- `set_price(slug, price)`: change a product's price while the shop runs;
- `requests_for(url)`: how many requests a page has received; `request_times()`: when each came.
"""

from __future__ import annotations

import argparse
import html
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, replace
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

from flow_code.kit.background_http import BackgroundServer, QuietHandler

MAX_DELAY_SECONDS = 30.0
HTML = "text/html; charset=utf-8"


@dataclass(frozen=True)
class Product:
    slug: str
    style: str
    name: str
    price: Decimal
    markup: str
    was: Decimal | None = None
    in_stock: bool = True

    @property
    def path(self) -> str:
        return f"/t/{self.slug}/{self.style}"


CATALOG = (
    Product("air-max-270-womens-shoes", "AH6789-601", "Nike Air Max 270", Decimal("160.00"), "json-ld"),
    Product(
        "air-max-terrascape-90-mens-shoes",
        "DH2973-100",
        "Nike Air Max Terrascape 90",
        Decimal("140.00"),
        "json-ld-graph",
    ),
    Product(
        "pegasus-trail-3-gore-tex-mens-running-shoes",
        "DR0137-200",
        "Nike Pegasus Trail 3 GORE-TEX",
        Decimal("112.97"),
        "nike-sale",
        was=Decimal("160.00"),
    ),
    Product("revolution-7-mens-road-running-shoes", "FB2207-001", "Nike Revolution 7", Decimal("70.00"), "microdata"),
    Product(
        "court-vision-low-next-nature-mens-shoes",
        "DH2987-101",
        "Nike Court Vision Low Next Nature",
        Decimal("75.00"),
        "meta-tags",
    ),
    Product(
        "blazer-mid-77-vintage-mens-shoes", "BQ6806-100", "Nike Blazer Mid '77 Vintage", Decimal("105.00"), "legacy"
    ),
    Product(
        "air-jordan-1-retro-high-og-shoes",
        "DZ5485-612",
        "Air Jordan 1 Retro High OG",
        Decimal("180.00"),
        "json-ld",
        in_stock=False,
    ),
)


def start(host: str = "127.0.0.1", port: int = 0, latency: float = 0.0, fail_first: int = 0) -> DemoShop:
    """Start the demo shop in a background thread; returns it with `.url` and `.stop()`."""
    return DemoShop(host=host, port=port, latency=latency, fail_first=fail_first)


class ShopHandler(QuietHandler):
    def do_GET(self):
        shop: DemoShop = self.app
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        if url.path == "/products.json":
            return self.send_body(200, products_json(shop).encode(), "application/json")
        if url.path == "/":
            return self.send_body(200, index_page(shop).encode(), HTML)
        attempt = shop.count_request(url.path.rstrip("/"))
        if url.path.startswith("/trouble/"):
            return self.send_body(*trouble_response(url.path.removeprefix("/trouble/")))
        product = shop.products.get(url.path.rstrip("/"))
        if product is None:
            return self.send_body(404, not_found_page(url.path).encode(), HTML)
        delay = float(query.get("delay", [shop.latency])[0])
        time.sleep(min(max(delay, 0.0), MAX_DELAY_SECONDS))
        if attempt <= shop.fail_first:
            body = b"<html><head><title>503 Service Unavailable</title></head><body>Try again.</body></html>"
            return self.send_body(503, body, "text/html", {"Retry-After": "1"})
        self.send_body(200, product_page(product).encode(), HTML)

    do_HEAD = do_GET


class DemoShop(BackgroundServer):
    """The running shop: its knobs are plain attributes and methods (see the module docstring)."""

    handler = ShopHandler

    def __init__(self, host="127.0.0.1", port=0, latency=0.0, fail_first=0):
        self.latency = latency
        self.fail_first = fail_first
        self.products = {product.path: product for product in CATALOG}
        self._requests: Counter[str] = Counter()
        self._request_times: list[float] = []
        self._lock = threading.Lock()
        super().__init__(host, port)

    def product_urls(self, in_stock: bool | None = True) -> list[str]:
        """URLs of the products (in stock only by default; `None` for all)."""
        return [
            self.url + product.path
            for product in self.products.values()
            if in_stock is None or product.in_stock == in_stock
        ]

    def set_price(self, slug: str, price: Decimal | str | float) -> None:
        """Change a product's price (its slug or path, e.g. "revolution-7-mens-road-running-shoes")."""
        path = self._path_of(slug)
        self.products[path] = replace(self.products[path], price=Decimal(str(price)))

    def requests_for(self, url_or_path: str) -> int:
        """How many requests a page (URL, path or slug) has received."""
        with self._lock:
            return self._requests[self._path_of(url_or_path)]

    def request_times(self) -> list[float]:
        """`time.monotonic()` of every page request so far, in order."""
        with self._lock:
            return list(self._request_times)

    def trouble_urls(self) -> dict[str, str]:
        """The URL of each trouble page, by kind (see `TROUBLE`)."""
        return {kind: f"{self.url}/trouble/{kind}" for kind in TROUBLE}

    def reset(self) -> None:
        """Forget request counts, latency, failures and price changes."""
        with self._lock:
            self._requests.clear()
            self._request_times.clear()
        self.latency, self.fail_first = 0.0, 0
        self.products = {product.path: product for product in CATALOG}

    def count_request(self, path: str) -> int:
        with self._lock:
            self._requests[path] += 1
            self._request_times.append(time.monotonic())
            return self._requests[path]

    def _path_of(self, url_or_slug: str) -> str:
        path = urlsplit(url_or_slug).path or url_or_slug
        for product in self.products.values():
            if path in (product.path, product.slug):
                return product.path
        return path


def products_json(shop: DemoShop) -> str:
    return json.dumps(
        [
            {
                "name": product.name,
                "url": shop.url + product.path,
                "in_stock": product.in_stock,
                "markup": product.markup,
            }
            for product in shop.products.values()
        ],
        indent=2,
    )


# --- pages -----------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} | Demo Shoe Shop</title>{head}</head>
<body><header><a href="/">Demo Shoe Shop</a> · Free delivery on orders over $50.00</header>
<main>{main}</main>
<footer>4.6 stars (1,204 reviews) · Offline demo for the Prefect workshop</footer></body></html>
"""


def product_page(product: Product) -> str:
    name = html.escape(product.name)
    body = MARKUPS[product.markup](product, name)
    head, main = body if isinstance(body, tuple) else ("", body)
    return PAGE.format(title=name, head=head, main=main)


def _json_ld(data) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


def _schema_offer(product: Product) -> dict:
    stock = "InStock" if product.in_stock else "OutOfStock"
    offer = {"@type": "Offer", "priceCurrency": "USD", "availability": f"https://schema.org/{stock}"}
    return offer | ({"price": str(product.price)} if product.in_stock else {})


def _json_ld_page(product, name):
    data = {
        "@context": "https://schema.org",
        "@type": "Product",
        "name": product.name,
        "sku": product.style,
        "offers": _schema_offer(product),
    }
    stock = "" if product.in_stock else "<p class='sold-out'>Sold Out</p>"
    return _json_ld(data), f"<h1>{name}</h1>{stock}<button>Notify me</button>"


def _json_ld_graph_page(product, name):
    data = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "BreadcrumbList", "itemListElement": [{"@type": "ListItem", "position": 1, "name": "Men"}]},
            {"@type": "Product", "name": product.name, "offers": [_schema_offer(product)]},
        ],
    }
    return _json_ld(data), f"<h1>{name}</h1><p>Style: {product.style}</p>"


def _nike_sale_page(product, name):
    return (
        f"<h1 id='pdp_product_title'>{name}</h1><div id='price-container'>"
        f"<span data-testid='currentPrice-container'>${product.price:,.2f}</span>"
        f"<span data-testid='initialPrice-container'><s>${product.was:,.2f}</s></span>"
        f"<span data-testid='OfferPercentage'>29% off</span></div>"
    )


def _microdata_page(product, name):
    return (
        f"<div itemscope itemtype='https://schema.org/Product'><h1 itemprop='name'>{name}</h1>"
        f"<div itemprop='offers' itemscope itemtype='https://schema.org/Offer'>"
        f"<meta itemprop='priceCurrency' content='USD'>"
        f"<span itemprop='price' content='{product.price}'>${product.price:,.2f}</span></div></div>"
    )


def _meta_tags_page(product, name):
    head = (
        f"<meta property='og:title' content='{name}'>"
        f"<meta property='product:price:amount' content='{product.price}'>"
        "<meta property='product:price:currency' content='USD'>"
    )
    return head, f"<h1>{name}</h1><p>Members get free returns.</p>"


def _legacy_page(product, name):
    return (
        f"<div class='product-title'><h1>{name}</h1></div>"
        f"<div class='product-price css-11s12ax is--current-price'>$ {product.price:,.0f}</div>"
    )


MARKUPS = {
    "json-ld": _json_ld_page,
    "json-ld-graph": _json_ld_graph_page,
    "nike-sale": _nike_sale_page,
    "microdata": _microdata_page,
    "meta-tags": _meta_tags_page,
    "legacy": _legacy_page,
}


# --- pages that go wrong ---------------------------------------------------------------------

TROUBLE = {
    "bot-block": "403 with an 'Access Denied' page, as bot protection answers",
    "no-price": "a product page with no price on it",
    "malformed-json-ld": "broken JSON-LD, the price still in a price container",
    "euro-price": "a product priced in euros (EUR), not dollars",
    "huge": "a 6 MB page (over the fetcher's 5 MB cap)",
    "binary": "an image (image/png) where a page should be",
    "json": "a JSON document (application/json) where a page should be",
}


def trouble_response(kind: str) -> tuple[int, bytes, str]:
    """Status, body and content type of the trouble page `kind` (404 for an unknown kind)."""
    if kind == "bot-block":
        main = "<h1>Access Denied</h1><p>You don't have permission to access this page. Reference #18.2c</p>"
        return 403, PAGE.format(title="Access Denied", head="", main=main).encode(), HTML
    if kind == "no-price":
        main = "<h1>Nike Air Zoom Prototype</h1><p>Coming soon.</p>"
        return 200, PAGE.format(title="Nike Air Zoom Prototype", head="", main=main).encode(), HTML
    if kind == "malformed-json-ld":
        head = '<script type="application/ld+json">{"@type": "Product", "offers": {"price": 99.00,}</script>'
        main = "<h1>Nike Dunk Low</h1><div data-test='product-price'>$99.00</div>"
        return 200, PAGE.format(title="Nike Dunk Low", head=head, main=main).encode(), HTML
    if kind == "euro-price":
        offer = {"@type": "Offer", "price": "129.99", "priceCurrency": "EUR"}
        head = _json_ld(
            {"@context": "https://schema.org", "@type": "Product", "name": "Nike Air Force 1 '07", "offers": offer}
        )
        return (
            200,
            PAGE.format(title="Nike Air Force 1 '07", head=head, main="<h1>Nike Air Force 1 '07</h1>").encode(),
            HTML,
        )
    if kind == "huge":
        filler = "<p>" + "x" * 1000 + "</p>\n"
        return 200, PAGE.format(title="Huge", head="", main=filler * 6000).encode(), HTML
    if kind == "binary":
        return 200, b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(2048), "image/png"
    if kind == "json":
        return 200, json.dumps({"name": "Nike Air Max 90", "price": 130}).encode(), "application/json"
    return 404, not_found_page(f"/trouble/{kind}").encode(), HTML


def index_page(shop: DemoShop) -> str:
    items = "".join(
        f"<li><a href='{product.path}'>{html.escape(product.name)}</a>{'' if product.in_stock else ' (sold out)'}</li>"
        for product in shop.products.values()
    )
    return PAGE.format(title="All shoes", head="", main=f"<h1>All shoes</h1><ul>{items}</ul>")


def not_found_page(path: str) -> str:
    return PAGE.format(title="Not found", head="", main=f"<h1>No page at {html.escape(path)}</h1>")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the offline demo shoe shop.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each page takes")
    parser.add_argument("--fail-first", type=int, default=0, help="answer 503 to the first N requests of each page")
    args = parser.parse_args(argv)
    shop = start(args.host, args.port, latency=args.latency, fail_first=args.fail_first)
    print(f"Demo shop at {shop.url}/ (products: {shop.url}/products.json); Ctrl+C stops it.", flush=True)
    for url in shop.product_urls(in_stock=None):
        print(" ", url)
    shop.wait()


if __name__ == "__main__":
    main()
