"""Run code in a kernel of a running Jupyter server, through its REST and websocket APIs (as JupyterLab does)."""

from __future__ import annotations

import json
import uuid

import requests
import websocket


def run_in_new_kernel(base_url: str, token: str, code: str, timeout: float = 120) -> str:
    """Start a kernel on the Jupyter server at `base_url`, run `code`, shut it down; returns its output.

    Raises `RuntimeError` with the traceback if the code raises.
    """
    headers = {"Authorization": f"token {token}"}
    kernel = requests.post(f"{base_url}api/kernels", json={"name": "python3"}, headers=headers, timeout=30)
    kernel.raise_for_status()
    kernel_id = kernel.json()["id"]
    try:
        channels = f"{base_url.replace('http', 'ws', 1)}api/kernels/{kernel_id}/channels"
        connection = websocket.create_connection(channels, header=[f"Authorization: token {token}"], timeout=timeout)
        try:
            return _execute(connection, code)
        finally:
            connection.close()
    finally:
        requests.delete(f"{base_url}api/kernels/{kernel_id}", headers=headers, timeout=30)


def _execute(connection, code: str) -> str:
    msg_id = uuid.uuid4().hex
    connection.send(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": "test",
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "content": {"code": code, "silent": False, "store_history": False, "allow_stdin": False},
                "channel": "shell",
            }
        )
    )
    output, error, replied, idle = [], None, False, False
    while not (replied and idle):
        message = json.loads(connection.recv())
        if message.get("parent_header", {}).get("msg_id") != msg_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream":
            output.append(content["text"])
        elif kind in ("execute_result", "display_data"):
            output.append(content["data"].get("text/plain", ""))
        elif kind == "error":
            error = "\n".join(content["traceback"])
        elif kind == "execute_reply":
            replied = True
        elif kind == "status" and content["execution_state"] == "idle":
            idle = True
    if error:
        raise RuntimeError(f"the code raised in the kernel:\n{error}")
    return "".join(output)
