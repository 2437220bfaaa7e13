"""The demo shop and the Slack receiver over real sockets."""

import time
from decimal import Decimal

import requests

from flow_code.kit.demo_shop import CATALOG
from flow_code.prices import PriceNotFound, read_offer


def test_every_in_stock_page_has_its_catalog_price(shop):
    prices = {product.name: product.price for product in CATALOG}
    urls = shop.product_urls()
    assert len(urls) >= 6
    for url in urls:
        offer = read_offer(requests.get(url, timeout=5).text)
        assert offer.price == prices[offer.product], url


def test_pages_use_different_markups_including_sale_and_sold_out(shop):
    listing = requests.get(f"{shop.url}/products.json", timeout=5).json()
    markups = {item["markup"] for item in listing}
    assert {"json-ld", "json-ld-graph", "microdata", "meta-tags", "nike-sale", "legacy"} <= markups
    sold_out = [item["url"] for item in listing if not item["in_stock"]]
    assert sold_out == shop.product_urls(in_stock=False)
    try:
        read_offer(requests.get(sold_out[0], timeout=5).text)
    except PriceNotFound as error:
        assert "sold out" in str(error)
    else:
        raise AssertionError("the sold-out page showed a price")


def test_fail_first_answers_503_then_the_page(shop):
    shop.fail_first = 2
    url = shop.product_urls()[0]
    statuses = [requests.get(url, timeout=5).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert shop.requests_for(url) == 3


def test_latency_and_per_request_delay(shop):
    url = shop.product_urls()[0]
    started = time.perf_counter()
    requests.get(f"{url}?delay=0.3", timeout=5)
    assert time.perf_counter() - started >= 0.3
    shop.latency = 0.2
    started = time.perf_counter()
    requests.get(url, timeout=5)
    assert time.perf_counter() - started >= 0.2


def test_price_change(shop):
    shop.set_price("revolution-7-mens-road-running-shoes", "59.99")
    url = next(url for url in shop.product_urls() if "revolution-7" in url)
    assert read_offer(requests.get(url, timeout=5).text).price == Decimal("59.99")


def test_unknown_page_is_404(shop):
    assert requests.get(f"{shop.url}/t/no-such-shoe/XX", timeout=5).status_code == 404


def test_receiver_records_messages_and_can_refuse(receiver):
    answer = requests.post(receiver.webhook_url, json={"text": "hello"}, timeout=5)
    assert (answer.status_code, answer.text) == (200, "ok")
    receiver.status = 404
    refused = requests.post(receiver.webhook_url, json={"text": "lost"}, timeout=5)
    assert (refused.status_code, refused.text) == (404, "no_service")
    assert receiver.texts() == ["hello"]
