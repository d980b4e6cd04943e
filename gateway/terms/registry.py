"""The terms a node holds: every loaded version, its signatures, and which flows are live.

A flow is live in a version when that version is in force (between
effective_from and expires_on) and every party to the flow has signed that
exact version. A version that admits a new party (``joined_in`` of the party
is this version) is an amendment of the whole federation: its flows to or
from the newcomer are live only once *every* party of the version signed it.
A record goes out under the newest version in which its flow is live for all
its recipients, and keeps that version for good.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.records.documents import effective_type
from gateway.records.schemas import Record, RecordType
from gateway.records.signing import build_record
from gateway.terms.document import SignatureCheck, check_signatures, load_terms, terms_digest
from gateway.terms.errors import TermsFileError, TermsViolationError
from gateway.terms.policy import check_record, fields_outside, strip_fields
from gateway.terms.schemas import Flow, Terms
from gateway.trust.bundle import TrustBundle

_MEMO_LIMIT = 1024  # distinct (terms, originator, receiver, type) answers kept; far more than any deployment has


@dataclass(frozen=True)
class LoadedTerms:
    terms: Terms
    digest: str
    signatures: Mapping[str, SignatureCheck]
    source: str

    @property
    def ref(self) -> dict[str, Any]:
        return {"id": self.terms.terms_id, "version": self.terms.version, "sha256": self.digest}

    def in_force(self, at: datetime) -> bool:
        return self.terms.effective_from <= at.date() <= self.terms.expires_on

    def signed_by(self, party: str) -> bool:
        check = self.signatures.get(party)
        return check is not None and check.valid

    def flow_for(self, sender: str, recipient: str, record_type: RecordType) -> Flow | None:
        return next(
            (
                f
                for f in self.terms.flows
                if f.from_party == sender and recipient in f.to and record_type in f.record_types
            ),
            None,
        )

    def signers_needed(self, flow: Flow) -> tuple[str, ...]:
        """Return the parties whose signature of this version makes ``flow`` live."""
        return self.terms.signers_needed(flow)

    def flow_live(self, flow: Flow) -> bool:
        return all(self.signed_by(p) for p in self.signers_needed(flow))


class TermsRegistry:
    """Every terms version this node loaded, newest first."""

    def __init__(self, versions: Iterable[LoadedTerms]) -> None:
        self.versions = sorted(versions, key=lambda v: (v.terms.terms_id, v.terms.version), reverse=True)
        # What check_incoming found for a (terms reference, originator, receiver,
        # type): a partner's batch repeats the same few, and a registry never
        # changes once loaded (a terms update builds a new one). Only answers
        # that found a live flow are kept; refusals are worked out again.
        self._incoming_flows: dict[tuple[str, int, str, str, str, RecordType], tuple[LoadedTerms, Flow]] = {}

    @classmethod
    def load(cls, paths: Iterable[Path], bundle: TrustBundle, at: datetime) -> TermsRegistry:
        """Load and check terms files; raises TermsFileError when none is given or one is invalid."""
        loaded = []
        for path in paths:
            terms = load_terms(path)
            loaded.append(LoadedTerms(terms, terms_digest(terms), check_signatures(terms, bundle, at), str(path)))
        if not loaded:
            raise TermsFileError("no terms file configured", hint="set GATEWAY_TERMS_FILES")
        return cls(loaded)

    def by_ref(self, ref: Mapping[str, Any]) -> LoadedTerms | None:
        return next(
            (
                v
                for v in self.versions
                if v.terms.terms_id == ref.get("id")
                and v.terms.version == ref.get("version")
                and v.digest == ref.get("sha256")
            ),
            None,
        )

    def current(self, at: datetime) -> LoadedTerms | None:
        """Return the newest version in force at ``at``."""
        return next((v for v in self.versions if v.in_force(at)), None)

    # -- decisions ------------------------------------------------------------

    def _flows(self, version: LoadedTerms, record: Record, recipients: Iterable[str]) -> dict[str, Flow]:
        flows: dict[str, Flow] = {}
        for recipient in recipients:
            flow = version.flow_for(record.originator.party, recipient, effective_type(record))
            if flow is None:
                raise TermsViolationError(
                    "flow_not_allowed",
                    f"terms {version.terms.terms_id} v{version.terms.version} have no flow for "
                    f"{effective_type(record).value} from {record.originator.party} to {recipient}",
                )
            if not version.flow_live(flow):
                unsigned = [p for p in version.signers_needed(flow) if not version.signed_by(p)]
                raise TermsViolationError(
                    "flow_not_signed",
                    f"flow {flow.id} of {version.terms.terms_id} v{version.terms.version} is not "
                    f"live: no valid signature of {', '.join(unsigned)}",
                )
            flows[recipient] = flow
        return flows

    def _version_for(self, record: Record, at: datetime) -> LoadedTerms:
        last_error: TermsViolationError | None = None
        for version in self.versions:
            if not version.in_force(at):
                continue
            try:
                self._flows(version, record, record.recipients)
            except TermsViolationError as exc:
                last_error = last_error or exc
                continue
            return version
        if last_error is not None:
            raise last_error
        raise TermsViolationError("terms_not_in_force", "no terms version is in force today")

    def prepare_outgoing(self, draft: Mapping[str, Any], at: datetime) -> Record:
        """Return the record to sign for ``draft``: terms filled in, fields minimized, every rule met.

        Raises SchemaViolationError for an invalid draft and TermsViolationError
        naming the rule the terms in force do not allow.
        """
        document = copy.deepcopy(dict(draft))
        requested = document.pop("terms", None)
        probe = build_record({**document, "terms": {"id": "probe", "version": 1, "sha256": "0" * 64}}, at)
        version = self._version_for(probe, at)
        if requested is not None and dict(requested) != version.ref:
            chosen = self.by_ref(requested)
            if chosen is None or not chosen.in_force(at):
                raise TermsViolationError(
                    "terms_mismatch",
                    f"the draft names terms {requested!r}, which this node does not hold in force; "
                    f"omit `terms` to use {version.ref}",
                )
            version = chosen
        flows = self._flows(version, probe, probe.recipients)
        body = document.get("body")
        if isinstance(body, dict) and probe.record_type is RecordType.CORRECTION:
            # The fields of a correction are those of the record it replaces.
            replacement = body.get("replacement")
            body = replacement.get("body") if isinstance(replacement, dict) else None
        if isinstance(body, dict):
            outside = fields_outside(body, flows.values())
            refusing = [f for f in flows.values() if f.outside_fields == "refuse" and f.fields is not None]
            for flow in refusing:  # a refusing flow refuses only what its own list leaves out
                refused = fields_outside(body, [flow])
                if refused:
                    raise TermsViolationError(
                        "field_not_allowed", f"flow {flow.id} does not allow: {', '.join(refused[:5])}"
                    )
            stripped = strip_fields(body, set(outside))
            if probe.record_type is RecordType.CORRECTION:
                document["body"]["replacement"]["body"] = stripped
            else:
                document["body"] = stripped
        document["terms"] = version.ref
        record = build_record(
            {**document, "record_id": str(probe.record_id), "created_at": probe.created_at.isoformat()}, at
        )
        check_record(version.terms, flows, record, document["body"])
        return record

    def check_incoming(self, record: Record, body: dict[str, Any], receiver: str, at: datetime) -> None:
        """Raise TermsViolationError unless ``record`` may reach ``receiver`` under its terms."""
        ref = record.terms
        key = (ref.id, ref.version, ref.sha256, record.originator.party, receiver, effective_type(record))
        known = self._incoming_flows.get(key)
        if known is not None and known[0].in_force(at):
            check_record(known[0].terms, {receiver: known[1]}, record, body)
            return
        version = self.by_ref(ref.model_dump())
        if version is None:
            raise TermsViolationError(
                "terms_unknown",
                f"record shared under terms {record.terms.id} v{record.terms.version} "
                f"({record.terms.sha256[:12]}…), which this node has not signed",
            )
        if not version.in_force(at):
            raise TermsViolationError(
                "terms_expired", f"terms {record.terms.id} v{record.terms.version} are not in force"
            )
        if not version.signed_by(receiver):
            raise TermsViolationError("flow_not_signed", f"{receiver} has not signed these terms")
        flows = self._flows(version, record, [receiver])
        if len(self._incoming_flows) < _MEMO_LIMIT:
            self._incoming_flows[key] = (version, flows[receiver])
        check_record(version.terms, flows, record, body)
