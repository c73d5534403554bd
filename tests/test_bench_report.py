"""bench/results.md as ``python -m bench`` writes it: the rows a run measured replace theirs, a run of
some sections keeps the other rows with their own date and commit, and the account kept by hand
(what the profiles show, each session's runs) is carried over as it is."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from bench import report
from bench.report import KEPT_FROM, KEPT_TO, Report, Row

FIRST = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 1, 5, 30, tzinfo=UTC)
ACK = "(1) ack throughput, signed Kobana bank_billet.paid (6,909 B), 16 connections"
WORKERS = "(3) worker throughput, PostgreSQL, 2 worker processes"


def _run(*rows: Row) -> Report:
    run = Report()
    run.rows.extend(rows)
    run.details.append("ack ours  #1:   2013 req/s")
    return run


def _ack(rate: str) -> Row:
    return Row(ACK, rate, "4,302 req/s (bare Flask)", "0.47×", "≥ 0.5×", False)


def _table(path: Path) -> dict[str, list[str]]:
    rows = report._table(path.read_text())
    return {name: [cell.strip() for cell in line.strip("| ").split(" | ")] for name, line in rows}


def test_a_run_of_some_sections_replaces_its_rows_and_keeps_the_others_with_their_date(tmp_path: Path) -> None:
    path = tmp_path / "results.md"
    workers = Row(WORKERS, "2,272 events/s", "-", "-", "≥ 1,000 events/s", True)
    report.write(_run(_ack("2,013 req/s"), workers), "python -m bench", FIRST, path, keep_rows=False)
    report.write(_run(_ack("1,781 req/s")), "python -m bench --only ack", LATER, path)

    table = _table(path)
    assert list(table) == [ACK, WORKERS]
    assert table[ACK][1] == "1,781 req/s"
    assert table[ACK][-1] == f"2026-12-01 05:30, {report.commit()}"
    assert table[WORKERS][1] == "2,272 events/s"
    assert table[WORKERS][-1] == f"2026-12-01 03:00, {report.commit()}"


def test_a_run_of_every_section_writes_only_its_own_rows(tmp_path: Path) -> None:
    path = tmp_path / "results.md"
    gone = Row("(9) a measurement no section makes any more", "1", "-", "-", "-", None)
    report.write(_run(_ack("2,013 req/s"), gone), "python -m bench", FIRST, path, keep_rows=False)
    report.write(_run(_ack("1,781 req/s")), "python -m bench", LATER, path, keep_rows=False)

    assert list(_table(path)) == [ACK]


def test_the_part_kept_by_hand_is_carried_over_unchanged_and_the_rounds_are_the_last_runs(tmp_path: Path) -> None:
    path = tmp_path / "results.md"
    by_hand = "## Issue 16: where it stands\n\n| target | Q / R / S | met? |\n| --- | --- | --- |"
    kept = f"{KEPT_FROM}\n\n{by_hand}\n{KEPT_TO}"
    path.write_text(f"# Benchmark results\n\n{kept}\n\n## Rounds of the last run\n\n```\nack ours  #1: 9 req/s\n```\n")
    report.write(_run(_ack("1,781 req/s")), "python -m bench --only ack", LATER, path)

    text = path.read_text()
    assert kept in text
    assert "9 req/s" not in text
    assert text.index(kept) < text.index("ack ours  #1:   2013 req/s")


def test_rows_of_the_former_layout_are_not_carried_into_the_new_one(tmp_path: Path) -> None:
    path = tmp_path / "results.md"
    header = "| measurement | ours | baseline | ratio | target | met? |\n| --- | --- | --- | --- | --- | --- |"
    path.write_text(f"# Benchmark results\n\n{header}\n| {WORKERS} | 1,827 events/s | - | - | ≥ 1,000 | yes |\n")
    report.write(_run(_ack("1,781 req/s")), "python -m bench --only ack", LATER, path)

    assert list(_table(path)) == [ACK]


def test_the_committed_results_have_a_part_kept_by_hand_for_a_run_to_carry_over() -> None:
    kept = report._kept(report.RESULTS.read_text())
    assert kept[0] == KEPT_FROM and kept[-1] == KEPT_TO
    assert any(line.startswith("## Issue 16: where it stands") for line in kept)
