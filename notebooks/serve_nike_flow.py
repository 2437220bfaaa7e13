"""Serve the capstone: python serve_nike_flow.py NAME URL... (it runs until stopped, e.g. with Ctrl+C)."""

import sys

from prefect.schedules import Cron

from flow_code.nike_flow import nike_flow

if __name__ == "__main__":
    name, *urls = sys.argv[1:]
    nike_flow.serve(
        name=name,
        schedules=[Cron("0 9 * * 1-5", timezone="America/New_York")],  # Monday to Friday at 09:00
        parameters={"urls": urls, "budget": 120},  # every run's defaults
        tags=["workshop", "served"],
    )
