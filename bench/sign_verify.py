"""Records signed and verified per second, next to the raw ``cryptography`` rate.

For ES256 and Ed25519, and for the biggest example (removal_manifest, 34 people)
and a small one (acknowledgement), measures in one run:

- gateway sign:   ``sign_record`` (RFC 8785 canonicalization + compact JWS)
- gateway verify: ``verify_record`` (all nine steps, schema validation included)
- raw sign/verify: ``cryptography`` alone over the same JWS signing input

The last line of output is one JSON object with every figure.

    .venv/bin/python bench/sign_verify.py [--seconds 0.6] [--profile]

``--profile`` adds a cProfile summary of ``verify_record`` on the manifest;
``--steps`` adds microseconds per call of the trust library's steps (parse,
chain, signature, canonical check, sign_compact) on both examples. When
SoftHSM2 is installed, ES256 signing with a key in a throwaway SoftHSM2 token
is measured next to a PEM file key (``--no-token`` skips it).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from gateway.records.signing import build_record, sign_record, verify_record
from gateway.trust.bundle import TrustBundle
from gateway.trust.jws import (
    RECORD_TYP,
    b64url_decode,
    check_algorithm,
    parse_compact,
    sign_compact,
    verify_signature,
    x5c_chain,
)
from gateway.trust.keys import KeyKind, SigningKey, load_certificates
from gateway.trust.path import Purpose, build_path, reference_check, validate_path
from gateway.trust.pki import init_party
from gateway.trust.verify import check_canonical, check_key_usage

EXAMPLES = Path(__file__).resolve().parents[1] / "schemas" / "examples"
RECORD_TYPES = ("removal_manifest", "acknowledgement")
KEY_KINDS: dict[str, KeyKind] = {"ES256": "ec-p256", "Ed25519": "ed25519"}


def rate(operation: Callable[[], object], seconds: float, rounds: int = 5) -> float:
    """Return calls per second of ``operation``: the best of ``rounds`` rounds over ``seconds`` in all.

    The best round rather than the mean, so that other work on a shared
    machine skews the figure less (each round runs at least 20 calls).
    """
    operation()  # warm-up: imports, caches
    best = 0.0
    for _ in range(rounds):
        calls = 0
        start = time.perf_counter()
        elapsed = 0.0
        while elapsed < seconds / rounds or calls < 20:
            operation()
            calls += 1
            elapsed = time.perf_counter() - start
        best = max(best, calls / elapsed)
    return best


def raw_operations(key: SigningKey, jws: str) -> tuple[Callable[[], object], Callable[[], object]]:
    """Return (sign, verify) closures using ``cryptography`` only, over the JWS signing input."""
    raw_header, raw_payload, raw_signature = jws.split(".")
    signing_input = f"{raw_header}.{raw_payload}".encode("ascii")
    signature = b64url_decode(raw_signature)
    private = key.private_key
    public = private.public_key()
    if isinstance(private, ed25519.Ed25519PrivateKey):
        assert isinstance(public, ed25519.Ed25519PublicKey)
        ed_public = public
        return (
            lambda: private.sign(signing_input),
            lambda: ed_public.verify(signature, signing_input),
        )
    assert isinstance(public, ec.EllipticCurvePublicKey)
    ec_public = public
    der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
    ecdsa = ec.ECDSA(hashes.SHA256())
    return (
        lambda: private.sign(signing_input, ecdsa),
        lambda: ec_public.verify(der, signing_input, ecdsa),
    )


def measure(workdir: Path, seconds: float) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    for alg, kind in KEY_KINDS.items():
        parties = {party: init_party(party, workdir / alg / party.lower(), key_kind=kind) for party in ("PA", "CO")}
        bundle = TrustBundle.merge(TrustBundle.load(f.bundle_entry) for f in parties.values())
        for record_type in RECORD_TYPES:
            draft = json.loads((EXAMPLES / f"{record_type}.json").read_text("utf-8"))
            record = build_record(draft, now)
            files = parties[record.originator.party]
            key = SigningKey.from_files(files.signing_key, files.signing_cert)
            signed = sign_record(record, key)
            assert verify_record(signed.jws, bundle, now).payload == record
            raw_sign, raw_verify = raw_operations(key, signed.jws)
            results.append(
                {
                    "alg": alg,
                    "record_type": record_type,
                    "payload_bytes": len(signed.payload),
                    "jws_bytes": len(signed.jws),
                    "sign_per_s": rate(partial(sign_record, record, key), seconds),
                    "verify_per_s": rate(partial(verify_record, signed.jws, bundle, now), seconds),
                    "raw_sign_per_s": rate(raw_sign, seconds),
                    "raw_verify_per_s": rate(raw_verify, seconds),
                }
            )
    return results


SOFTHSM_MODULE = Path("/usr/lib/softhsm/libsofthsm2.so")


def measure_token(workdir: Path, seconds: float) -> list[dict[str, Any]]:
    """ES256 records signed per second with a P-256 key in a SoftHSM2 token, next to a PEM file key.

    The token is a throwaway one under ``workdir`` (SOFTHSM2_CONF points there
    before the library loads). Returns [] when SoftHSM2 is not installed.
    """
    if not SOFTHSM_MODULE.exists() or shutil.which("softhsm2-util") is None:
        return []
    from gateway.trust.pki import issue_certificate, load_private_key
    from gateway.trust.token_keys import generate_token_key

    tokens = workdir / "softhsm" / "tokens"
    tokens.mkdir(parents=True)
    conf = workdir / "softhsm" / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n", "utf-8")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    pin = "bench-pin-1234"
    subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", "bench", "--so-pin", "bench-so-1234", "--pin", pin],
        check=True,
        capture_output=True,
    )
    files = init_party("PA", workdir / "token-pa")
    bundle = TrustBundle.load(files.bundle_entry)
    token_key = generate_token_key("pkcs11:token=bench;object=signing", SOFTHSM_MODULE, pin)
    ca = load_certificates(files.ca_cert)[0]
    cert = issue_certificate("PA", "signing", token_key, ca, load_private_key(files.ca_key))
    keys = {
        "file (PEM)": SigningKey.from_files(files.signing_key, files.signing_cert),
        "token (SoftHSM2)": SigningKey(token_key, (cert,)),
    }
    now = datetime.now(UTC)
    results: list[dict[str, Any]] = []
    for record_type in ("removal_manifest",):  # PA's example: the token holds PA's key
        record = build_record(json.loads((EXAMPLES / f"{record_type}.json").read_text("utf-8")), now)
        for where, key in keys.items():
            assert verify_record(sign_record(record, key).jws, bundle, now).payload == record
            results.append(
                {
                    "key": where,
                    "record_type": record_type,
                    "sign_per_s": rate(partial(sign_record, record, key), seconds),
                }
            )
    token_key.token_session.close()
    return results


def step_operations(
    signed_jws: str, payload: bytes, key: SigningKey, bundle: TrustBundle
) -> dict[str, Callable[[], object]]:
    """Return the verification steps (and sign_compact) of one record JWS as closures."""
    parsed = parse_compact(signed_jws, expected_typ=RECORD_TYP)
    alg = check_algorithm(parsed)
    public = check_key_usage(x5c_chain(parsed)[0], parsed.header.get("kid"))

    def chain() -> object:
        leaf, *intermediates = x5c_chain(parsed)
        return validate_path(leaf, intermediates, bundle, datetime.now(UTC), Purpose.DOCUMENT_SIGNING)

    def chain_uncached() -> object:
        # What the first record of a new chain pays: the walk and cryptography's
        # RFC 5280 verifier, which later records of that chain skip.
        leaf, *intermediates = x5c_chain(parsed)
        return reference_check(build_path(leaf, tuple(intermediates), bundle)[1], datetime.now(UTC))

    return {
        "parse_compact": lambda: parse_compact(signed_jws, expected_typ=RECORD_TYP),
        "x5c+validate_path": chain,
        "path, first use": chain_uncached,
        "verify_signature": lambda: verify_signature(parsed, public, alg),
        "check_canonical": lambda: check_canonical(parsed.payload),
        "sign_compact": lambda: sign_compact(payload, key, RECORD_TYP),
    }


def measure_steps(workdir: Path, seconds: float) -> list[dict[str, Any]]:
    """Microseconds per call of each step, per algorithm and example."""
    results: list[dict[str, Any]] = []
    now = datetime.now(UTC)
    for alg, kind in KEY_KINDS.items():
        parties = {p: init_party(p, workdir / f"steps-{alg}" / p.lower(), key_kind=kind) for p in ("PA", "CO")}
        bundle = TrustBundle.merge(TrustBundle.load(f.bundle_entry) for f in parties.values())
        for record_type in RECORD_TYPES:
            record = build_record(json.loads((EXAMPLES / f"{record_type}.json").read_text("utf-8")), now)
            files = parties[record.originator.party]
            key = SigningKey.from_files(files.signing_key, files.signing_cert)
            signed = sign_record(record, key)
            steps = step_operations(signed.jws, signed.payload, key, bundle)
            results.append(
                {"alg": alg, "record_type": record_type}
                | {name: 1e6 / rate(operation, seconds) for name, operation in steps.items()}
            )
    return results


def profile_verify(workdir: Path, alg: str, top: int = 18) -> str:
    """Return the cProfile summary (by own time) of verify_record on the manifest."""
    files = {
        party: init_party(party, workdir / f"profile-{alg}" / party.lower(), key_kind=KEY_KINDS[alg])
        for party in ("PA",)
    }["PA"]
    bundle = TrustBundle.load(files.bundle_entry)
    now = datetime.now(UTC)
    draft = json.loads((EXAMPLES / "removal_manifest.json").read_text("utf-8"))
    signed = sign_record(build_record(draft, now), SigningKey.from_files(files.signing_key, files.signing_cert))
    verify_record(signed.jws, bundle, now)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(200):
        verify_record(signed.jws, bundle, now)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.6, help="time per measurement")
    parser.add_argument("--profile", action="store_true", help="cProfile verify_record too")
    parser.add_argument("--steps", action="store_true", help="microseconds per trust step too")
    parser.add_argument("--no-token", action="store_true", help="skip the SoftHSM2 token key")
    args = parser.parse_args()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-sign-verify-") as tmp:
        results = measure(Path(tmp), args.seconds)
        steps = measure_steps(Path(tmp), args.seconds / 2) if args.steps else []
        profiles = {alg: profile_verify(Path(tmp), alg) for alg in KEY_KINDS} if args.profile else {}
        token = [] if args.no_token else measure_token(Path(tmp), args.seconds)

    header = (
        f"{'alg':<8} {'record':<17} {'payload':>8} {'sign/s':>8} {'raw sign/s':>11} "
        f"{'verify/s':>9} {'raw verify/s':>13} {'verify/raw':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['alg']:<8} {r['record_type']:<17} {r['payload_bytes']:>7}B "
            f"{r['sign_per_s']:>8.0f} {r['raw_sign_per_s']:>11.0f} "
            f"{r['verify_per_s']:>9.0f} {r['raw_verify_per_s']:>13.0f} "
            f"{r['raw_verify_per_s'] / r['verify_per_s']:>9.1f}x"
        )
    if steps:
        names = [name for name in steps[0] if name not in ("alg", "record_type")]
        print(f"\n{'µs per call':<26} " + " ".join(f"{name:>16}" for name in names))
        for row in steps:
            label = f"{row['alg']} {row['record_type']}"
            print(f"{label:<26} " + " ".join(f"{row[name]:>16.1f}" for name in names))
    if token:
        print(f"\n{'ES256 signing key':<18} {'record':<17} {'sign/s':>8}")
        for row in token:
            print(f"{row['key']:<18} {row['record_type']:<17} {row['sign_per_s']:>8.0f}")
    elif not args.no_token:
        print("\ntoken key: skipped (SoftHSM2 is not installed: apt-get install softhsm2)")
    for alg, text in profiles.items():
        print(f"\ncProfile of 200 x verify_record(removal_manifest, {alg}):")
        print(text)
    elapsed = time.perf_counter() - started
    print(f"\n(measured in {elapsed:.1f} s; verify/raw = how many times slower than raw verify)")
    summary = {
        "benchmark": "sign_verify",
        "seconds_per_measurement": args.seconds,
        "results": [{k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()} for r in results],
    }
    if token:
        summary["token"] = [{k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()} for r in token]
    if steps:
        summary["steps_us"] = [{k: (round(v, 1) if isinstance(v, float) else v) for k, v in r.items()} for r in steps]
    print(json.dumps(summary, separators=(",", ":")))


if __name__ == "__main__":
    main()
