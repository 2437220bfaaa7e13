"""Links into the Prefect UI, built from where this kernel's UI is served (`make lab`, Binder, a Codespace)."""

from __future__ import annotations

from IPython.display import Markdown, display


def ui_url(page: str) -> str:
    """The Prefect UI's address of `page` ("runs/flow-run/<id>"), from where this kernel's UI is served.

    `PREFECT_UI_URL` is set by `make lab`, Binder and Codespaces (binder/start) to the UI under JupyterLab,
    a path on Binder and in a Codespace; without it Prefect derives it from `PREFECT_API_URL`.
    """
    from prefect.settings import PREFECT_UI_URL

    base = PREFECT_UI_URL.value()
    if not base:
        raise RuntimeError("no Prefect UI: PREFECT_API_URL is not set, so runs go to a temporary server")
    return f"{base.rstrip('/')}/{page.lstrip('/')}"


def see_in_ui(page: str, what: str, look_at: str) -> None:
    """Show a link to `page` of the Prefect UI, named `what`, and one line on what to look at there."""
    display(Markdown(f"**See it in the UI:** [{what}]({ui_url(page)}): {look_at}"))
