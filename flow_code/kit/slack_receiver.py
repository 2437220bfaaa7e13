"""A local stand-in for Slack's incoming webhooks: it records every message it is sent.

    receiver = slack_receiver.start()
    os.environ["SLACK_WEBHOOK_URL"] = receiver.webhook_url
    ... run a flow ...
    receiver.texts()          # the messages that arrived, oldest first
    receiver.status = 500     # answer the next messages with an error, as Slack does when it fails
    receiver.stop()

Like Slack it answers `ok` with status 200, or an error word (`no_service`, `invalid_payload`, ...)
with an error status. `python -m flow_code.kit.slack_receiver --port 9000` runs it in the foreground
and prints each message.
"""

from __future__ import annotations

import argparse
import json
import threading
import time

from flow_code.kit.background_http import BackgroundServer, QuietHandler

WEBHOOK_PATH = "/services/local/demo/webhook"
ERROR_WORDS = {400: "invalid_payload", 403: "action_prohibited", 404: "no_service", 410: "channel_is_archived"}


class WebhookHandler(QuietHandler):
    def do_POST(self):
        receiver: SlackReceiver = self.app
        raw = self.read_body()
        time.sleep(receiver.delay)
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            return self.send_body(400, b"invalid_payload", "text/plain")
        if receiver.status >= 400:
            word = ERROR_WORDS.get(receiver.status, "internal_error")
            return self.send_body(receiver.status, word.encode(), "text/plain")
        receiver.record(self.path, payload)
        self.send_body(200, b"ok", "text/plain")


class SlackReceiver(BackgroundServer):
    """The running receiver: `.webhook_url`, `.messages`, `.texts()`, and the knobs `status`, `delay`."""

    handler = WebhookHandler

    def __init__(self, host="127.0.0.1", port=0, status=200, delay=0.0, echo=False):
        self.status = status
        self.delay = delay
        self.echo = echo
        self.messages: list[dict] = []
        self._lock = threading.Lock()
        super().__init__(host, port)
        self.webhook_url = self.url + WEBHOOK_PATH

    def record(self, path: str, payload: dict) -> None:
        with self._lock:
            self.messages.append({"path": path, **payload})
        if self.echo:
            print(f"Slack message: {payload.get('text')}", flush=True)

    def texts(self) -> list[str]:
        """The text of every message received, oldest first."""
        with self._lock:
            return [message.get("text", "") for message in self.messages]

    def clear(self) -> None:
        with self._lock:
            self.messages.clear()


def start(host: str = "127.0.0.1", port: int = 0, status: int = 200, delay: float = 0.0) -> SlackReceiver:
    """Start a receiver in a background thread; returns it with `.webhook_url` and `.stop()`."""
    return SlackReceiver(host=host, port=port, status=status, delay=delay)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="A local Slack-compatible incoming-webhook receiver.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--status", type=int, default=200, help="HTTP status to answer with")
    args = parser.parse_args(argv)
    receiver = SlackReceiver(args.host, args.port, status=args.status, echo=True)
    print(f"Webhook URL: {receiver.webhook_url}\n(export SLACK_WEBHOOK_URL=...; Ctrl+C stops it)", flush=True)
    receiver.wait()


if __name__ == "__main__":
    main()
