"""The test-control contract (docs/protocol.md section 13) for our node, in tests only.

A plain HTTP server on 127.0.0.1 that, asked to send, submits a record draft
through the node's agency API like any agency system would. Production nodes
have no such listener.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tests.support.exchange import agency_client, example_draft
from tests.support.nodes import TEST_AGENCIES, RunningNode


class ControlServer:
    def __init__(self, running: RunningNode) -> None:
        self.client: httpx.Client = agency_client(running)
        party = running.party
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                if self.path != "/conformance/v1/send" or request.get("record_type") != "criminal_network_flag":
                    self._answer(404, {})
                    return
                draft = example_draft("criminal_network_flag", recipients=[request["recipient"]])
                draft["originator"].update(party=party, agency=TEST_AGENCIES[party])
                draft.pop("terms", None)  # the node names the terms in force
                response = outer.client.post("/v1/records", json=draft)
                if response.status_code != 202:
                    self._answer(502, {"detail": response.text})
                    return
                self._answer(202, {"record_id": response.json()["record_id"]})

            def _answer(self, status: int, document: dict[str, Any]) -> None:
                payload = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
        self.client.close()
