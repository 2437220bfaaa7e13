# The Prefect UI inside JupyterLab, through jupyter-server-proxy: at <base_url>prefect/, with a
# "Prefect UI" tile in the launcher. `binder/start` runs the server on $PREFECT_UI_PORT (4200).
# Binder: postBuild copies this file to ~/.jupyter/. Locally: `make lab` passes it with --config.
import os

port = int(os.environ.get("PREFECT_UI_PORT", "4200"))
c = get_config()  # noqa: F821 - provided by Jupyter when it loads this file
c.ServerProxy.servers = {
    "prefect": {
        "command": [],  # started by binder/start, before JupyterLab, so flows in notebooks find it
        "port": port,
        "absolute_url": True,  # the UI is built for its full path (PREFECT_UI_SERVE_BASE)
        "launcher_entry": {"title": "Prefect UI", "path_info": "prefect/"},
    }
}
