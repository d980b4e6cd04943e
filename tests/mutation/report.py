"""Per-module table of a mutmut run over gateway/trust/ (``make mutation``).

Reads mutmut's results (mutants/gateway/trust/*.py.meta) and the mutants
judged equivalent (tests/mutation/equivalent.txt: one mutant name per line,
then the reason). Prints killed / survived / equivalent per module and the
share of non-equivalent mutants killed, then every survivor not listed as
equivalent. Exits 1 when a module that was run is under ``--fail-under``
per cent, or when equivalent.txt names a mutant that was killed or no longer
exists (the code changed under it: judge it again).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT_FILE = Path(__file__).resolve().parent / "equivalent.txt"
SOURCE = Path("gateway") / "trust"

# mutmut's exit codes (mutmut/stats.py): a timeout or a type-check failure also means a test caught the mutant.
KILLED = {1, 3, 24, -24, 36, 37, 152, 255}
SURVIVED = {0}
NO_TESTS = {5, 33}
NOT_RUN = {None, 2, 34}


@dataclass
class Tally:
    killed: int = 0
    survived: int = 0
    equivalent: int = 0
    no_tests: int = 0
    not_run: int = 0
    other: int = 0
    survivors: list[str] = field(default_factory=list)

    @property
    def judged(self) -> int:
        """Mutants with a verdict that counts toward the score (equivalents excluded)."""
        return self.killed + self.survived + self.no_tests + self.other

    @property
    def score(self) -> float | None:
        return 100.0 * self.killed / self.judged if self.judged else None


def read_equivalents(path: Path) -> dict[str, str]:
    """Return mutant name → why it is equivalent; ``#`` starts a comment line."""
    equivalents: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        name, _, reason = text.partition(" ")
        if not reason.strip():
            raise SystemExit(f"{path}:{number}: {name} has no reason why it is equivalent")
        equivalents[name] = reason.strip()
    return equivalents


def tally(mutants_dir: Path, equivalents: dict[str, str]) -> tuple[dict[str, Tally], set[str], set[str]]:
    """Return module → Tally, every mutant name mutmut knows, and the killed ones."""
    tallies: dict[str, Tally] = {}
    known: set[str] = set()
    killed: set[str] = set()
    for source in sorted((ROOT / SOURCE).glob("*.py")):
        meta = mutants_dir / SOURCE / f"{source.name}.meta"
        module = f"{SOURCE.as_posix()}/{source.name}"
        counts = tallies[module] = Tally()
        if not meta.exists():
            continue
        exit_codes: dict[str, int | None] = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        for name, code in sorted(exit_codes.items()):
            known.add(name)
            if code in NOT_RUN:
                counts.not_run += 1
            elif code in KILLED:
                counts.killed += 1
                killed.add(name)
            elif code in SURVIVED and name in equivalents:
                counts.equivalent += 1
            elif code in SURVIVED:
                counts.survived += 1
                counts.survivors.append(name)
            elif code in NO_TESTS:
                counts.no_tests += 1
                counts.survivors.append(name)
            else:  # suspicious, segfault: neither a clean kill nor a survivor
                counts.other += 1
    return tallies, known, killed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants", help="mutmut's working copy")
    parser.add_argument("--equivalent", type=Path, default=EQUIVALENT_FILE)
    parser.add_argument("--fail-under", type=float, default=0.0, help="minimum %% killed per module that was run")
    args = parser.parse_args()

    equivalents = read_equivalents(args.equivalent)
    tallies, known, killed = tally(args.mutants, equivalents)
    header = (
        f"{'module':<32} {'killed':>6} {'survived':>8} {'equivalent':>10} {'no tests':>8} {'not run':>7} {'score':>7}"
    )
    print(header)
    print("-" * len(header))
    failed = False
    for module, counts in tallies.items():
        score = counts.score
        shown = "-" if score is None else f"{score:6.1f}%"
        print(
            f"{module:<32} {counts.killed:>6} {counts.survived:>8} {counts.equivalent:>10} "
            f"{counts.no_tests:>8} {counts.not_run:>7} {shown:>7}"
        )
        if score is not None and score < args.fail_under:
            failed = True
    total = Tally(
        killed=sum(t.killed for t in tallies.values()),
        survived=sum(t.survived for t in tallies.values()),
        equivalent=sum(t.equivalent for t in tallies.values()),
        no_tests=sum(t.no_tests for t in tallies.values()),
        not_run=sum(t.not_run for t in tallies.values()),
        other=sum(t.other for t in tallies.values()),
    )
    shown = "-" if total.score is None else f"{total.score:6.1f}%"
    print("-" * len(header))
    print(
        f"{'total':<32} {total.killed:>6} {total.survived:>8} {total.equivalent:>10} "
        f"{total.no_tests:>8} {total.not_run:>7} {shown:>7}"
    )
    survivors = [name for counts in tallies.values() for name in counts.survivors]
    if survivors:
        print("\nSurvivors (see each with `.venv/bin/mutmut show NAME`):")
        for name in survivors:
            print(f"  {name}")
    stale = sorted(name for name in equivalents if name not in known)
    wrongly_listed = sorted(name for name in equivalents if name in killed)
    for name in stale:
        print(f"\nequivalent.txt names {name}, which mutmut no longer generates: judge the code again")
    for name in wrongly_listed:
        print(f"\nequivalent.txt names {name}, but a test kills it: remove it from the list")
    if failed:
        print(f"\nA module is under {args.fail_under:.0f}% of its non-equivalent mutants killed.")
    return 1 if failed or stale or wrongly_listed else 0


if __name__ == "__main__":
    sys.exit(main())
