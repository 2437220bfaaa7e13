"""parse_price over many page variants, written the way real shops write them."""

import json
from decimal import Decimal

import pytest

from flow_code.prices import PriceNotFound, parse_amount, parse_price, read_offer


def page(head: str = "", body: str = "") -> str:
    return f"<!DOCTYPE html><html><head><title>Shoe</title>{head}</head><body>{body}</body></html>"


def json_ld(data) -> str:
    return f'<script type="application/ld+json">{json.dumps(data)}</script>'


PRODUCT = {"@context": "https://schema.org", "@type": "Product", "name": "Air Zoom"}


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param(
            page(json_ld(PRODUCT | {"offers": {"@type": "Offer", "price": "129.97"}})),
            "129.97",
            id="json-ld offer object, price as string",
        ),
        pytest.param(
            page(json_ld(PRODUCT | {"offers": {"@type": "Offer", "price": 129.97}})),
            "129.97",
            id="json-ld price as JSON number keeps its cents",
        ),
        pytest.param(
            page(
                json_ld(
                    PRODUCT | {"offers": [{"@type": "Offer", "price": "95.00"}, {"@type": "Offer", "price": "99.00"}]}
                )
            ),
            "95.00",
            id="json-ld offers list",
        ),
        pytest.param(
            page(json_ld([{"@type": "WebSite", "name": "x"}, PRODUCT | {"offers": {"price": "60"}}])),
            "60",
            id="json-ld top-level list",
        ),
        pytest.param(
            page(
                json_ld(
                    {
                        "@context": "https://schema.org",
                        "@graph": [
                            {"@type": "Organization", "name": "Nike"},
                            PRODUCT | {"offers": {"price": "1299.00"}},
                        ],
                    }
                )
            ),
            "1299.00",
            id="json-ld @graph",
        ),
        pytest.param(
            page(
                json_ld(PRODUCT | {"offers": {"@type": "AggregateOffer", "lowPrice": "80.00", "highPrice": "120.00"}})
            ),
            "80.00",
            id="json-ld aggregate offer",
        ),
        pytest.param(
            page(
                json_ld(
                    PRODUCT
                    | {
                        "offers": {
                            "@type": "Offer",
                            "priceSpecification": {
                                "@type": "UnitPriceSpecification",
                                "price": "74.99",
                                "priceCurrency": "USD",
                            },
                        }
                    }
                )
            ),
            "74.99",
            id="json-ld price specification",
        ),
        pytest.param(
            page(json_ld(PRODUCT | {"@type": ["Product", "IndividualProduct"], "offers": {"price": "42.50"}})),
            "42.50",
            id="json-ld @type list",
        ),
        pytest.param(
            page(
                "<script type='application/ld+json'>{not json</script>",
                "<span itemprop='price' content='88.00'>$88.00</span>",
            ),
            "88.00",
            id="malformed json-ld falls through to microdata",
        ),
        pytest.param(
            page(
                body="<div itemscope itemtype='https://schema.org/Offer'>"
                "<span itemprop='price' content='1299.00'>$1,299.00</span></div>"
            ),
            "1299.00",
            id="microdata content attribute",
        ),
        pytest.param(
            page(body="<p>Now <span itemprop='price'>$1,299.00</span></p>"),
            "1299.00",
            id="microdata text with thousands separator",
        ),
        pytest.param(
            page("<meta property='product:price:amount' content='64.97'>"), "64.97", id="product:price:amount meta"
        ),
        pytest.param(
            page("<meta property='og:price:amount' content='1,050.00'>"), "1050.00", id="og:price:amount meta"
        ),
        pytest.param(
            page("<meta name='product:price:amount' content='33.00'>"),
            "33.00",
            id="meta with name= instead of property=",
        ),
        pytest.param(
            page(
                body="<div data-testid='currentPrice-container'>$129.97</div>"
                "<div data-testid='initialPrice-container'><s>$170</s></div>"
            ),
            "129.97",
            id="nike sale page: current price, not the struck-through one",
        ),
        pytest.param(
            page(
                body="<div data-testid='initialPrice-container'><s>$170.00</s></div>"
                "<div data-testid='currentPrice-container'>$99.97</div>"
            ),
            "99.97",
            id="nike sale page: struck-through price first in the page",
        ),
        pytest.param(
            page(body="<div data-test='product-price' class='css-b9fpep'>$150</div>"),
            "150",
            id="legacy data-test=product-price",
        ),
        pytest.param(
            page(body="<div class='product-price is--current-price css-1emn094'>$ 160</div>"),
            "160",
            id="legacy div.product-price (the seed's selector)",
        ),
        pytest.param(
            page(body="<p>Free shipping over $50</p><div class='product-price'>$1,299.00</div>"),
            "1299.00",
            id="a decoy amount elsewhere on the page",
        ),
        pytest.param(page(body="<div class='product-price'>1.299,00 €</div>"), "1299.00", id="european decimal comma"),
    ],
)
def test_parse_price_reads_the_current_price(html, expected):
    price = parse_price(html)
    assert price == Decimal(expected)
    assert str(price) == expected  # exactly as written: cents kept, no float rounding


def test_json_ld_comes_before_other_markups():
    html = page(json_ld(PRODUCT | {"offers": {"price": "10.00"}}), "<div class='product-price'>$99</div>")
    assert read_offer(html).source == "JSON-LD"
    assert parse_price(html) == Decimal("10.00")


def test_read_offer_reports_currency_and_product():
    offer = read_offer(page(json_ld(PRODUCT | {"offers": {"price": "89.99", "priceCurrency": "EUR"}})))
    assert (offer.price, offer.currency, offer.product) == (Decimal("89.99"), "EUR", "Air Zoom")


@pytest.mark.parametrize(
    ("html", "words"),
    [
        pytest.param(page(body="<h1>Air Max</h1><p>Sold Out</p>"), "no price", id="no price markup"),
        pytest.param(
            page(json_ld(PRODUCT | {"offers": {"availability": "https://schema.org/OutOfStock"}})),
            "sold out",
            id="sold out in json-ld",
        ),
        pytest.param(
            "<html><head><title>Access Denied</title></head><body>You don't have permission to "
            "access this page. Reference #18.2f</body></html>",
            "Access Denied",
            id="bot-block page",
        ),
        pytest.param("", "no price", id="empty page"),
        pytest.param(
            page(body="<div class='product-price'>Price unavailable</div>"),
            "no price",
            id="price container without an amount",
        ),
    ],
)
def test_no_price_is_a_clear_error(html, words):
    with pytest.raises(PriceNotFound, match=words) as caught:
        parse_price(html)
    assert isinstance(caught.value, ValueError)
    if words == "no price":
        assert "JSON-LD" in str(caught.value) and "div.product-price" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$1,299.00", "1299.00"),
        ("$129.97", "129.97"),
        ("$ 180", "180"),
        ("1 299,00 €", "1299.00"),
        ("€1.234.567", "1234567"),
        ("USD 75.5", "75.5"),
        ("160 $112.97", "160"),
    ],
)
def test_parse_amount(text, expected):
    assert str(parse_amount(text)) == expected
