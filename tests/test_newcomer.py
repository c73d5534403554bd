"""A newcomer's first hour (issue 15 §2): the README's commands on a fresh copy, every entry point's
--help, and every configuration or connection mistake answered in one line with exit code 2."""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import pytest
import sqlalchemy as sa

import serve
from ops import embedded_redis
from tests.newcomer_helpers import (
    descendants,
    embedded_redis_pids,
    flask,
    fresh_copy,
    fresh_env,
    python,
    run,
    stop_all,
)
from tests.servers import free_port, wait_for


def _postgres_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5432), timeout=0.5).close()
        return True
    except OSError:
        return False


# -- 1. the embedded Redis: started only by what needs it, stopped by whoever started it -------


def test_flask_help_starts_no_redis(tmp_path):
    """`flask --help` (and `flask ledger list`) build the app but need no Redis: none is started."""
    env = fresh_env(tmp_path / "var")
    assert run(flask("--help"), env).returncode == 0
    run(flask("ledger", "list"), env)
    assert not (tmp_path / "var" / "redis.pid").exists()
    assert embedded_redis_pids(tmp_path / "var") == set()


def test_whoever_starts_the_embedded_redis_stops_it_and_only_that(tmp_path):
    """stop_started() stops the server this process started; one it found running is left alone."""
    mine, theirs = tmp_path / "mine", tmp_path / "theirs"
    embedded_redis.ensure_running(theirs)
    embedded_redis._started.discard(theirs.resolve())  # as if another process had started it
    try:
        embedded_redis.ensure_running(mine)
        embedded_redis.ensure_running(theirs)
        embedded_redis.stop_started()
        assert embedded_redis_pids(mine) == set()
        assert embedded_redis_pids(theirs) != set()
    finally:
        embedded_redis.stop(theirs)


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_the_readme_first_command_on_a_fresh_copy_leaves_nothing_running(tmp_path, stop_signal):
    """`.venv/bin/python serve.py` from a fresh copy (the installed .venv reused): it serves, and
    on SIGTERM or Ctrl-C it exits 0 leaving no gunicorn, worker or embedded redis-server behind."""
    copy = fresh_copy(tmp_path / "clone")
    var_dir, port = tmp_path / "var", free_port()
    env = fresh_env(var_dir, PORT=str(port), WEB_CONCURRENCY="1")
    log = tmp_path / "serve.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(python("serve.py"), cwd=copy, env=env, stdout=stderr, stderr=stderr)
    started: set[int] = set()
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60, "serve.py's web")
        wait_for(lambda: any("workers" in _cmd(p) for p in descendants(proc.pid)), 30, "serve.py's worker")
        started = descendants(proc.pid) | embedded_redis_pids(var_dir)
        assert embedded_redis_pids(var_dir), "no embedded Redis was started"
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
        still = {p for p in started if Path(f"/proc/{p}").exists() and _state(p) != "Z"}
        assert still == set(), [_cmd(p) for p in still]
        assert embedded_redis_pids(var_dir) == set()
    finally:
        proc.kill()
        proc.wait()
        stop_all(started)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _cmd(pid: int) -> str:
    from tests.newcomer_helpers import cmdline

    return cmdline(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"


# -- 2. a second serve.py spares the running one's metrics --------------------------------------


def test_a_second_serve_spares_the_metric_files_of_the_running_one(tmp_path):
    """Metric files of living processes stay; only those of processes that are gone are removed."""
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    running = metrics / f"counter_{os.getpid()}.db"
    gone = metrics / "counter_999999999.db"
    running.write_bytes(b"x")
    gone.write_bytes(b"x")
    serve._metrics_dir({"PROMETHEUS_MULTIPROC_DIR": str(metrics)}, serve.Settings())
    assert running.exists() and not gone.exists()


# -- 3. an empty secret is refused, never replaced by the development one ----------------------


def test_serve_refuses_an_empty_kobana_secret(tmp_path):
    """KOBANA_WEBHOOK_SECRET='' stops serve.py with one line naming it (exit 2); nothing starts."""
    result = run(python("serve.py"), fresh_env(tmp_path / "var", KOBANA_WEBHOOK_SECRET=""), timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("serve: configuration error: KOBANA_WEBHOOK_SECRET")
    assert "dev-kobana-secret" not in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "var" / "redis.pid").exists()


# -- 4. configuration and connection problems: one line, the variable, the fix, exit 2 ---------

ENTRY_POINTS = {
    "flask": flask("events", "list"),
    "workers": python("-m", "workers"),
    "gunicorn": python("-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"),
    "serve": python("serve.py"),
    "db": python("-m", "db", "upgrade"),
}


def _closed_port() -> int:
    return free_port()  # nothing listens there


#: (problem, env, entry points it applies to, the variable named, a word of the fix)
PROBLEMS = [
    ("malformed_url", {"REDIS_URL": "redis://localhost:port/0"}, list(ENTRY_POINTS), "REDIS_URL", "malformed"),
    ("malformed_db_url", {"DATABASE_URL": "postgresql://u@h:nope/x"}, list(ENTRY_POINTS), "DATABASE_URL", "malformed"),
    ("unreachable_redis", {"REDIS_URL": "redis://127.0.0.1:{port}/0"}, ["workers", "gunicorn", "serve"], "REDIS_URL",
     "start it"),
    ("missing_database", {"DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/i15_no_such_database"},
     ["flask", "workers", "serve", "db"], "DATABASE_URL", "createdb"),
    ("unmigrated_database", {"DATABASE_URL": "sqlite:///{tmp}/empty.sqlite3"}, ["flask", "workers"], "DATABASE_URL",
     "python -m db upgrade"),
]  # fmt: skip
CASES = [(problem, entry) for problem, _env, entries, _var, _fix in PROBLEMS for entry in entries]


@pytest.mark.parametrize(("problem", "entry"), CASES, ids=[f"{e}-{p}" for p, e in CASES])
def test_every_entry_point_reports_a_problem_in_one_line(tmp_path, problem, entry):
    """Exit 2, no traceback, the last line names the variable and the fix."""
    _name, extra, _entries, variable, fix = next(p for p in PROBLEMS if p[0] == problem)
    if problem == "missing_database" and not _postgres_answers():
        pytest.skip("needs the PostgreSQL on 127.0.0.1:5432")
    env = fresh_env(tmp_path / "var", PORT=str(free_port()),
                    **{k: v.format(port=_closed_port(), tmp=tmp_path) for k, v in extra.items()})  # fmt: skip
    if problem == "unmigrated_database":
        sa.create_engine(env["DATABASE_URL"]).connect().close()  # the file exists, its tables do not
    result = run(ENTRY_POINTS[entry], env, timeout=60)
    output = (result.stderr + result.stdout).strip()
    assert result.returncode == 2, output
    assert "Traceback" not in output
    [line] = output.splitlines()  # one line, nothing before it
    assert variable in line and fix in line, output
    assert not (tmp_path / "var" / "redis.pid").exists() or not embedded_redis_pids(tmp_path / "var")


# -- 5. every command answers --help without side effects --------------------------------------

HELPS = {
    "workers": python("-m", "workers", "--help"),
    "db": python("-m", "db", "--help"),
    "serve": python("serve.py", "--help"),
    "bench_worker_class": python("bench/worker_class.py", "--help"),
    "bench": python("-m", "bench", "--help"),
    "flask": flask("--help"),
    "flask_events": flask("events", "--help"),
    "flask_events_list": flask("events", "list", "--help"),
    "flask_ledger_show": flask("ledger", "show", "--help"),
    "flask_reconcile_report": flask("reconcile", "report", "--help"),
    "flask_webhooks_send": flask("webhooks", "send", "--help"),
}


@pytest.mark.parametrize("name", list(HELPS))
def test_every_command_answers_help_and_does_nothing_else(tmp_path, name):
    """Exit 0 and a usage text within seconds; no Redis started, no database file created."""
    var_dir = tmp_path / "var"
    result = run(HELPS[name], fresh_env(var_dir), timeout=30)
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout.lower()
    assert not (var_dir / "redis.pid").exists() and not (var_dir / "events.sqlite3").exists()


def test_ledger_show_help_is_not_cut_off(tmp_path):
    """`flask ledger --help` lists show's whole one-line help, not "... e.g." cut mid-sentence."""
    out = run(flask("ledger", "--help"), fresh_env(tmp_path / "var")).stdout
    assert "State and event history of one money object." in out and "e.g." not in out


# -- 8. noise -----------------------------------------------------------------------------------


def test_a_cli_command_prints_no_provider_warnings(tmp_path):
    """`flask ledger list` with no credentials set: no provider.disabled lines (only a server says that)."""
    env = fresh_env(tmp_path / "var")
    run(python("-m", "db", "upgrade"), env)
    result = run(flask("ledger", "list"), env)
    assert result.returncode == 0, result.stderr
    assert "provider.disabled" not in result.stderr + result.stdout


def test_an_idle_worker_keeps_rq_maintenance_lines_to_debug():
    """RQ's "cleaning registries" line (every 15 s) is dropped at INFO and kept at DEBUG."""
    from workers.__main__ import QuietMaintenance

    rq_log = logging.getLogger("rq.worker")
    record = rq_log.makeRecord("rq.worker", logging.INFO, __file__, 1,
                               "Worker %s: cleaning registries for queue: %s", ("w1", "events"), None)  # fmt: skip
    groups = rq_log.makeRecord("rq.worker", logging.INFO, __file__, 1, "Worker %s: cleaning group registries",
                               ("w1",), None)  # fmt: skip
    job = rq_log.makeRecord("rq.worker", logging.INFO, __file__, 1, "%s: %s (%s)", ("events", "job", "id"), None)
    level = rq_log.level
    try:
        rq_log.setLevel(logging.INFO)
        assert QuietMaintenance().filter(record) is False and QuietMaintenance().filter(groups) is False
        assert QuietMaintenance().filter(job) is True
        rq_log.setLevel(logging.DEBUG)
        assert QuietMaintenance().filter(record) is True
    finally:
        rq_log.setLevel(level)


# -- 6. bench/worker_class.py -------------------------------------------------------------------


def test_bench_worker_class_runs(tmp_path, redis_url):
    """The bench the README cites measures both worker classes instead of crashing."""
    if not redis_url.startswith("redis://"):
        pytest.skip("needs a TCP Redis database the bench may flush")
    result = run(python("bench/worker_class.py", "5"), fresh_env(tmp_path / "var", REDIS_URL=redis_url), timeout=180)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "SimpleWorker" in result.stdout and "jobs/s" in result.stdout


# -- 7. one CLI form in the README and the docs --------------------------------------------------


def test_every_documented_flask_line_uses_the_one_form_that_works_from_the_project_folder():
    """Code lines that run flask say `.venv/bin/flask --app wsgi`: no bare `flask`, no missing --app."""
    from tests.newcomer_helpers import ROOT

    wrong = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]:
        in_code = False
        for number, line in enumerate(doc.read_text().splitlines(), 1):
            if line.startswith("```"):
                in_code = not in_code
            command = line.split("#")[0].strip()
            runs_flask = command.startswith(("flask ", ".venv/bin/flask ")) or " .venv/bin/flask " in command
            if in_code and runs_flask and ".venv/bin/flask --app wsgi " not in command:
                wrong.append(f"{doc.name}:{number}: {line.strip()}")
    assert wrong == []
