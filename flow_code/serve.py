"""Serve the capstone flow with a schedule from one process (`flow.serve`): no work pool, no worker.

    python -m flow_code.nike_flow serve                          # demo shop, daily
    python -m flow_code.nike_flow serve --cron "0 9 * * 1-5" --timezone America/New_York URL ...

With no URL it also starts the demo shop in this process and watches its products. The process
runs scheduled runs and runs triggered from the UI, the CLI or `run_deployment` until Ctrl+C.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from prefect.schedules import Cron, Interval, RRule

from flow_code.nike_flow import nike_flow

DEFAULT_NAME = "price-tracker"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flow_code.nike_flow serve", description="Serve the price tracker on a schedule."
    )
    parser.add_argument("urls", nargs="*", metavar="URL", help="product pages (default: a demo shop started here)")
    parser.add_argument("--name", default=DEFAULT_NAME, help=f"deployment name (default: {DEFAULT_NAME})")
    parser.add_argument("--budget", type=int, default=120, help="the most you will pay (default: 120)")
    schedule = parser.add_mutually_exclusive_group()
    schedule.add_argument("--interval", type=float, help="seconds between runs (default: one day)")
    schedule.add_argument("--cron", help='a cron expression, e.g. "0 9 * * 1-5"')
    schedule.add_argument("--rrule", help='an RFC 5545 rule, e.g. "FREQ=WEEKLY;BYDAY=MO"')
    parser.add_argument("--timezone", help="timezone of --cron/--rrule, e.g. Europe/Paris")
    args = parser.parse_args(argv)

    shop = None
    if not args.urls:
        from flow_code.kit import demo_shop

        shop = demo_shop.start()
        args.urls = shop.product_urls()
        print(f"Watching the demo shop at {shop.url}", flush=True)
    if args.cron or args.rrule:
        kind = Cron if args.cron else RRule
        schedule = kind(args.cron or args.rrule, timezone=args.timezone)
    else:
        schedule = Interval(timedelta(seconds=args.interval or 86400))
    try:
        nike_flow.serve(name=args.name, schedules=[schedule], parameters={"urls": args.urls, "budget": args.budget})
    finally:
        if shop is not None:
            shop.stop()
    return 0
