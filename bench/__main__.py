"""``python -m bench``: every measurement, in about 13 minutes, into ``bench/results.md``.

``--only ack,isolation,worker,growth,openloop,capacity,report`` runs a subset (its rows replace theirs in
the table, the others stay, each with its date and commit);
``--quick`` shortens rounds for a smoke run (figures too noisy to commit).
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
import tempfile
import traceback
from datetime import UTC, datetime
from pathlib import Path

from bench import ack, load, report

SECTIONS = ("ack", "isolation", "worker", "growth", "openloop", "capacity", "report")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds per web measurement (default 5)")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of one web round (default 5)")
    parser.add_argument("--quick", action="store_true", help="short rounds: a smoke run, not figures to commit")
    parser.add_argument("--output", type=Path, default=report.RESULTS, help="where to write the table")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (server logs) and print it")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    if {"ack", "isolation"} & set(only):
        load.require_wrk()
    if args.quick:
        args.rounds, args.seconds = 2, 2.0
    started = datetime.now(UTC)
    given = argv if argv is not None else sys.argv[1:]
    command = " ".join(["python -m bench", shlex.join(given)]).strip()
    results = report.Report()
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    plan = ack.Plan(workdir=workdir, rounds=args.rounds, seconds=args.seconds)
    failed = False
    for section in only:
        try:
            _run(section, plan, results)
        except Exception:  # one broken section must not lose the others' figures
            failed = True
            traceback.print_exc()
            results.notes.append(f"- section `{section}` failed: {traceback.format_exc().splitlines()[-1]}")
    report.write(results, command, started, args.output, keep_rows=set(only) != set(SECTIONS))
    print(f"wrote {args.output}")
    if args.keep:
        print(f"logs and data kept in {workdir}")
    else:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


def _run(section: str, plan: ack.Plan, results: report.Report) -> None:
    if section == "ack":
        ack.acknowledgement(plan, results)
    elif section == "isolation":
        ack.isolation(plan, results, ack.default_worker_argv, {})
    elif section == "report":
        from bench import reconcile

        reconcile.report_section(plan, results)
    elif section in ("openloop", "capacity"):
        from bench import service

        getattr(service, section)(plan, results)
    elif importlib.util.find_spec("bench.worker") is not None:
        from bench import worker

        worker.SECTIONS[section](plan, results)
    else:
        results.notes.append(f"- section `{section}` not available yet (bench/worker.py missing)")


if __name__ == "__main__":
    sys.exit(main())
