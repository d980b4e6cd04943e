"""HTTP client for partner listeners: mutual TLS, one keep-alive connection pool per partner."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

from gateway.errors import ConfigurationError
from gateway.node import Node
from gateway.transport.tls import client_context

JOSE = "application/jose"


@dataclass
class PartnerClients:
    """Lazily built httpx clients, each trusting only its partner's CA."""

    node: Node
    timeout: float = 15.0
    _clients: dict[str, httpx.Client] = field(default_factory=dict)

    def base_url(self, party: str) -> str:
        url = self.node.settings.partners.get(party)
        if not url:
            raise ConfigurationError(f"no partner URL configured for {party}", hint="set GATEWAY_PARTNERS")
        return url.rstrip("/")

    def client(self, party: str) -> httpx.Client:
        if party not in self._clients:
            settings = self.node.settings
            if settings.tls_cert is None or settings.tls_key is None:
                raise ConfigurationError("GATEWAY_TLS_CERT and GATEWAY_TLS_KEY are required to send")
            context = client_context(
                settings.tls_cert, settings.tls_key, self.node.bundle, settings.data_dir / "tls", party
            )
            self._clients[party] = httpx.Client(
                base_url=self.base_url(party),
                verify=context,
                timeout=self.timeout,
                headers={"User-Agent": f"mou-gateway/{self.node.party}"},
            )
        return self._clients[party]

    def post_record(self, party: str, jws: str, correlation_id: str) -> httpx.Response:
        """POST one compact JWS to ``party``; raises httpx.HTTPError on transport failure."""
        return self.client(party).post(
            "/v1/exchange/records",
            content=jws.encode("ascii"),
            headers={"Content-Type": JOSE, "Accept": JOSE, "X-Correlation-ID": correlation_id},
        )

    def post_batch(self, party: str, jws_list: list[str], correlation_id: str) -> httpx.Response:
        """POST several compact JWS to ``party`` in one request (``records:batch``: one result each, in order)."""
        return self.client(party).post(
            "/v1/exchange/records:batch",
            json={"records": jws_list},
            headers={"Accept": "application/json", "X-Correlation-ID": correlation_id},
        )

    def post_onward(self, party: str, jws: str, consent_jws: str, correlation_id: str) -> httpx.Response:
        """POST a record shared onward, with the originator's consent, to ``party``."""
        return self.client(party).post(
            "/v1/exchange/records:onward",
            json={"record": jws, "consent": consent_jws},
            headers={"Accept": JOSE, "X-Correlation-ID": correlation_id},
        )

    def get(self, party: str, path: str) -> httpx.Response:
        return self.client(party).get(path)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()
        self._clients.clear()
