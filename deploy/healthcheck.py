"""Container health check: exit 0 when the gateway answers ``/healthz`` on this host.

Usage: ``python healthcheck.py [PORT]``. Without PORT it checks the agency
listener (``GATEWAY_AGENCY_PORT``, default 8080; HTTPS when
``GATEWAY_AGENCY_TLS`` is true). ``gateway worker`` is checked on its
``GATEWAY_WORKER_METRICS_PORT``.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request


def main(argv: list[str]) -> int:
    agency = len(argv) < 2
    port = os.environ.get("GATEWAY_AGENCY_PORT", "8080") if agency else argv[1]
    tls = agency and os.environ.get("GATEWAY_AGENCY_TLS", "false").lower() in ("1", "true", "yes", "on")
    context = None
    if tls:
        # Liveness of the local process only; the certificate is checked by real clients.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    url = f"{'https' if tls else 'http'}://127.0.0.1:{int(port)}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=4, context=context) as response:  # noqa: S310 - fixed local URL
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
