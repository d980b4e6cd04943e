"""``gateway demo`` leaves no CA key behind: its temporary work directory goes, a --workdir stays."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from gateway.demo import runner


def fake_run(seen: list[Path], fail: bool = False):  # type: ignore[no-untyped-def]
    def run(console: Console, workdir: Path, *_options: object) -> list[runner.PartySummary]:
        (workdir / "pki").mkdir()
        (workdir / "pki" / "root-ca.key").write_text("stands for a CA key", "utf-8")
        seen.append(workdir)
        if fail:
            raise runner.scenario.ScenarioError("a step failed")
        return []

    return run


@pytest.mark.parametrize("fail", [False, True])
def test_temporary_workdir_is_removed_and_said(fail: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []
    monkeypatch.setattr(runner, "_run_in", fake_run(seen, fail))
    output = io.StringIO()
    if fail:
        with pytest.raises(runner.scenario.ScenarioError):
            runner.run_demo(Console(file=output, width=300))
    else:
        runner.run_demo(Console(file=output, width=300))
    (workdir,) = seen
    assert not workdir.exists()
    lines = output.getvalue().splitlines()
    assert lines[0] == f"work directory: {workdir} (removed at the end; --workdir DIR keeps one)"
    assert lines[-1] == f"removed the work directory {workdir} and the keys in it"


def test_given_workdir_is_kept_and_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Path] = []
    monkeypatch.setattr(runner, "_run_in", fake_run(seen))
    output = io.StringIO()
    runner.run_demo(Console(file=output, width=300), workdir=tmp_path / "demo")
    assert seen == [tmp_path / "demo"]
    assert (tmp_path / "demo" / "pki" / "root-ca.key").exists()
    assert output.getvalue().splitlines() == [
        f"work directory: {tmp_path / 'demo'} (kept: it holds every party's CA and private keys)"
    ]
