"""Receiving a record shared onward: the originator's signed bytes plus the originator's consent.

The forwarding party is the mTLS peer but not the originator, so the usual
"peer is originator, we are a recipient" rule is replaced by the consent: a
granted ``onward_sharing_consent`` signed by the originator, naming these very
bytes, the forwarder as requester and this node as third party. The terms
still apply as if the originator had sent the record here, and handling codes
the terms forbid onward (H3) are refused whatever the consent says.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from gateway.exchange.refusal import PolicyRefusal
from gateway.exchange.service import Outcome, ReceivePolicy, receive_record, within_terms
from gateway.node import Node
from gateway.records.kinds import SHAREABLE_TYPES
from gateway.records.lifecycle_bodies import ConsentDecision
from gateway.records.schemas import OnwardSharingConsentRecord, Record
from gateway.records.signing import verify_record
from gateway.terms.sharing import forbidden_handling
from gateway.trust.canonical import sha256_hex
from gateway.trust.errors import TrustError


def consented_onward(consent_jws: bytes, record_digest: str) -> ReceivePolicy:
    """Return the receive policy that admits a forwarded record only under a matching consent."""

    def policy(_session: Session, node: Node, record: Record, peer_party: str) -> None:
        if record.handling.value in forbidden_handling(node):
            raise PolicyRefusal("onward_sharing_forbidden", f"handling {record.handling.value} forbids sharing onward")
        if record.record_type not in SHAREABLE_TYPES:
            # Notices about records answer their own parties; forwarded, they would skip lifecycle_rules.
            raise PolicyRefusal("onward_sharing_forbidden", f"a {record.record_type.value} is not shared onward")
        if record.originator.party == peer_party or node.party in record.recipients:
            raise PolicyRefusal("not_onward", "the originator sends its records to their recipients directly")
        try:
            consent = verify_record(consent_jws, node.bundle, node.now()).payload
        except TrustError as exc:
            raise PolicyRefusal("onward_not_consented", f"the consent does not verify: {exc.reason}") from exc
        problems = _consent_problems(consent, record, record_digest, peer_party, node.party)
        if problems:
            raise PolicyRefusal("onward_not_consented", "; ".join(problems))

    return policy


def _consent_problems(consent: Record, record: Record, digest: str, requester: str, third_party: str) -> list[str]:
    if not isinstance(consent, OnwardSharingConsentRecord):
        return [f"the consent is a {consent.record_type.value}, not an onward_sharing_consent"]
    body = consent.body
    checks = [
        (consent.originator.party == record.originator.party, "the consent is not signed by the originator"),
        (body.consented_record_id == record.record_id, "the consent names another record"),
        (body.consented_jws_sha256 == digest, "the consent names other bytes of the record"),
        (body.requester == requester, f"the consent was given to {body.requester}, not {requester}"),
        (body.third_party == third_party, f"the consent is for {body.third_party}, not {third_party}"),
        (body.decision is ConsentDecision.GRANTED, "the originator refused consent"),
    ]
    return [message for ok, message in checks if not ok]


def receive_onward(session: Session, node: Node, raw: bytes, consent: bytes, peer_party: str) -> Outcome:
    """Process a record forwarded by ``peer_party`` with the originator's ``consent``; returns the receipt.

    Raises what receive_record raises (malformed JWS, conflict).
    """
    raw = raw.strip()
    policies = (consented_onward(consent.strip(), sha256_hex(raw)), within_terms)
    extra = {"received_via": "onward", "onward_consent_jws": consent.strip().decode("ascii", "replace")}
    return receive_record(session, node, raw, peer_party, policies, extra_columns=extra)
