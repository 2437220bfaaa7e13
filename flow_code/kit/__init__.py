"""The workshop's props and machinery: what the course and the tests run around the capstone.

    demo_shop.py          the offline shoe shop the capstone scrapes (latency, 503s, price changes, bad pages)
    temporary_server.py   the main job launches Prefect's temporary server first, to boot while the job imports
    slack_receiver.py     a local Slack-compatible webhook receiver that keeps every message
    background_http.py    the small stdlib HTTP server in a background thread under both props
    processes.py          Prefect servers and other commands run in the background, never outliving the kit
    postgres.py           a throwaway PostgreSQL on loopback (the production layout's test and benchmark)
    notebook_helpers.py   the notebooks' small helpers: set-up check, stopwatch, runs read back, schedule times
    exercises.py          exercises that check themselves: `check()` reads the learner's runs, `hint()` nudges
    exercise_checks.py    the course's exercise checks, one per notebook (API, shop and receiver evidence)
    prefect_ui.py         links into the Prefect UI from where it is served (`make lab`, Binder, a Codespace)
    log_display.py        Prefect's failure logs on one line in a notebook (the API keeps the traceback)
    execute_notebooks.py  the course's notebook list; re-execute them in place (`make notebooks`)
    doctor.py             `make doctor`: the learner's set-up checked, one line per problem with its fix
    build_site.py         `make site`: the course website from the committed notebooks (Sphinx + MyST-NB)
    secret_scan.py        look for credentials in files, notebook outputs and git history
"""

import os
import sys

if "ipykernel" in sys.modules and os.environ.get("PREFECT_API_URL"):
    # A notebook opened right after a launch (make lab, Binder, a Codespace): the Prefect server that
    # binder/start launched needs 10-20 s; wait for it here rather than fail the notebook's first flow.
    from flow_code.kit.doctor import wait_for_starting_server

    wait_for_starting_server(os.environ["PREFECT_API_URL"])
