"""A throw-away three-party PKI, generated at test time (no key is ever committed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gateway.terms.document import EXAMPLE_TERMS, signed_copy
from gateway.trust.bundle import TrustBundle
from gateway.trust.keys import SigningKey
from gateway.trust.pki import PartyFiles, init_party


@dataclass(frozen=True)
class TestPKI:
    __test__ = False  # not a test class, despite the name
    root: Path
    parties: dict[str, PartyFiles]
    bundle_path: Path
    terms_path: Path

    def bundle(self) -> TrustBundle:
        return TrustBundle.load(self.bundle_path)

    def signing_key(self, party: str) -> SigningKey:
        files = self.parties[party]
        return SigningKey.from_files(files.signing_key, files.signing_cert)

    def rebuild_bundle(self) -> TrustBundle:
        """Re-merge the party entries (after a revocation) and rewrite the bundle file."""
        bundle = TrustBundle.merge(TrustBundle.load(f.bundle_entry) for f in self.parties.values())
        self.bundle_path.write_text(bundle.to_json(), "utf-8")
        return bundle


def make_test_pki(root: Path, parties: tuple[str, ...] = ("PA", "CO", "US")) -> TestPKI:
    files = {party: init_party(party, root / party.lower()) for party in parties}
    bundle_path = root / "trust-bundle.json"
    pki = TestPKI(root, files, bundle_path, root / "terms" / EXAMPLE_TERMS.name)
    pki.rebuild_bundle()
    signed_copy(EXAMPLE_TERMS, pki.terms_path, {p: pki.signing_key(p) for p in parties})
    return pki
