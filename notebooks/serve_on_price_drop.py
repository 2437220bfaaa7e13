"""Serve the capstone, run on a price drop: python serve_on_price_drop.py NAME SLUG BUDGET (until stopped)."""

import sys

from prefect.events import DeploymentEventTrigger

from flow_code.nike_flow import nike_flow

if __name__ == "__main__":
    name, slug, budget = sys.argv[1], sys.argv[2], int(sys.argv[3])
    nike_flow.serve(
        name=name,
        webserver=True,  # answers /run_count: how many runs it has in progress
        triggers=[
            DeploymentEventTrigger(
                name=f"{name}: check a dropped price",
                expect={"shoe.price.dropped"},
                match={"prefect.resource.id": f"shoe.product.{slug}"},
                parameters={"urls": ["{{ event.payload.url }}"], "budget": budget},
            )
        ],
    )
