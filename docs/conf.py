"""Sphinx configuration of the course website (`make site`; flow_code/kit/build_site.py stages the sources)."""

project = "Workflow orchestration with Prefect 3"
author = "The Prefect workshop kit"
REPOSITORY = "https://github.com/prefect-workshop-kit/prefect-workshop-kit"

extensions = ["myst_nb"]
root_doc = "index"
# README: included in parts (docs/index.md, docs/prefect-2-to-3.md)
exclude_patterns = ["_build", "**.ipynb_checkpoints", "conf.py", "README.md", "docs/screenshots"]
nb_execution_mode = "off"  # the committed outputs, tested by nbval, are what the site shows
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]  # Prefect's HTML log lines also carry text/plain

html_theme = "sphinx_book_theme"
html_title = "Prefect 3, hands-on"
html_theme_options = {
    "repository_url": REPOSITORY,
    "repository_branch": "main",
    "path_to_docs": "",
    "use_repository_button": True,
    "launch_buttons": {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
    "icon_links": [
        {
            "name": "Open in GitHub Codespaces",
            "url": "https://codespaces.new/prefect-workshop-kit/prefect-workshop-kit?quickstart=1",
            "icon": "fa-solid fa-laptop-code",
        }
    ],
}
