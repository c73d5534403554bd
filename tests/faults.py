"""Fault-injection harness: a whole private stack (Redis, PostgreSQL, gunicorn, workers) and a provider.

``Stack`` starts a redis-server (append-only, ``appendfsync always``) and a PostgreSQL cluster of its
own on random ports in temp dirs, then the real web (gunicorn) and worker processes against them;
tests kill and restart any piece. ``Provider`` signs and POSTs distinct events over real HTTP the
way providers do (a new connection each), remembers every answer, and re-delivers what failed.
``Stack.figures`` compares what was acknowledged with the event log and the effects table.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa
from rq import Worker

import db
from config import CelcoinCreds, Secrets, Settings
from providers import celcoin, kobana, transfeera
from schemas.envelope import Envelope
from tests import effects
from tests.helpers import CELCOIN_PASSWORD, CELCOIN_USER, KOBANA_SECRET, SAMPLES, TRANSFEERA_SECRET
from tests.log_audit import record_file
from tests.procs import ROOT, RedisServer, children_of, service_env, stop, wait_for_port
from tests.servers import free_port, wait_for

PG_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), None)

_KOBANA, _TRANSFEERA = Secrets([KOBANA_SECRET.encode()]), Secrets([TRANSFEERA_SECRET.encode()])
_CELCOIN = CelcoinCreds(CELCOIN_USER.encode(), CELCOIN_PASSWORD.encode())


class PrivatePostgres:
    """A throwaway PostgreSQL cluster (initdb + pg_ctl, run as the ``postgres`` user: it refuses root)."""

    def __init__(self) -> None:
        if PG_BIN is None:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql")
        self.dir = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        self.port = free_port()
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_postgres:
            shutil.chown(self.dir, "postgres")
        self._run(str(PG_BIN / "initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "--no-sync")

    def _run(self, *argv: str) -> None:
        subprocess.run([*self._as_postgres, *argv], check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections=60"
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.dir / "data"),
            "-o",
            options,
            "-l",
            str(self.dir / "log"),
            "-w",
            "start",
        )  # type: ignore[operator]

    def stop(self, mode: str = "immediate") -> None:
        """``immediate`` is a crash as far as clients can tell: connections drop, nothing is flushed politely."""
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", mode, "-w", "stop")  # type: ignore[operator]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        engine = sa.create_engine(self.url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        return self.url(name)

    def close(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Delivery:
    """One distinct event as its provider would send it."""

    number: int
    path: str
    body: bytes
    headers: dict[str, str]
    answers: list[Any] = field(default_factory=list)  # status codes, or "error:<Type>"
    statuses: list[str] = field(default_factory=list)  # the JSON "status" of each 2xx: accepted, duplicate...
    event_id: str | None = None

    @property
    def acknowledged(self) -> bool:
        return any(isinstance(a, int) and 200 <= a < 300 for a in self.answers)

    def signed_headers(self) -> dict[str, str]:
        if self.path.endswith("transfeera"):  # the timestamp is signed at send time
            return {**self.headers, **transfeera.sign(self.body, _TRANSFEERA, time.time())}
        return self.headers


def _sample(provider: str, name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / provider / name).read_text())


def deliveries(count: int, prefix: str = "f") -> list[Delivery]:
    """``count`` distinct events, round-robin over the three providers (distinct ids, so distinct keys)."""
    made = []
    for n in range(count):
        kind = n % 3
        if kind == 0:
            body = _sample("kobana", "bank_billet.paid.json")
            body["object"]["id"] = 10_000_000 + n
            raw = json.dumps(body, separators=(",", ":")).encode()
            headers = {
                **kobana.sign(raw, _KOBANA, 0),
                "X-Kobana-Delivery-Id": f"{prefix}-{n}",
            }
            made.append(Delivery(n, "/webhooks/kobana", raw, headers))
        elif kind == 1:
            body = _sample("transfeera", "CashIn.json")
            body["id"] = f"{prefix}-{n:08d}-transfeera"
            made.append(Delivery(n, "/webhooks/transfeera", json.dumps(body, separators=(",", ":")).encode(), {}))
        else:
            body = _sample("celcoin", "pix-payment-in.json")
            body["body"]["id"] = f"{prefix}-{n:08d}-celcoin"
            raw = json.dumps(body, separators=(",", ":")).encode()
            made.append(
                Delivery(
                    n,
                    "/webhooks/celcoin",
                    raw,
                    celcoin.sign(raw, _CELCOIN, 0),
                )
            )
    return made


class Provider:
    """Sends deliveries over real HTTP from a few threads, like providers with parallel deliveries."""

    def __init__(self, port: int, threads: int = 4) -> None:
        self.port = port
        self.threads = threads
        self.sent = 0
        self._lock = threading.Lock()

    def send(self, delivery: Delivery) -> Any:
        headers = {"Content-Type": "application/json", **delivery.signed_headers()}
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
        try:
            conn.request("POST", delivery.path, body=delivery.body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            answer: Any = response.status
            if 200 <= response.status < 300:
                answered = json.loads(data)
                delivery.event_id = answered["id"]
                delivery.statuses.append(answered["status"])
        except (OSError, http.client.HTTPException) as exc:
            answer = f"error:{type(exc).__name__}"
        finally:
            conn.close()  # also when the server died mid-request: an unclosed socket is a ResourceWarning
        with self._lock:
            self.sent += 1
            delivery.answers.append(answer)
        return answer

    def send_all(self, batch: list[Delivery], pace: float = 0.0, during: Callable[[int], None] | None = None) -> None:
        """Send every delivery once; ``during(i)`` runs in the caller's thread as delivery ``i`` goes out."""
        with ThreadPoolExecutor(self.threads) as pool:
            futures = []
            for i, delivery in enumerate(batch):
                if during:
                    during(i)
                futures.append(pool.submit(self.send, delivery))
                if pace:
                    time.sleep(pace)
            for future in futures:
                future.result()

    def redeliver_failures(self, batch: list[Delivery], rounds: int = 5, pause: float = 1.0) -> None:
        """What providers do with a 5xx or a broken connection: try again until acknowledged."""
        for _ in range(rounds):
            pending = [d for d in batch if not d.acknowledged]
            if not pending:
                return
            self.send_all(pending)
            time.sleep(pause)


def _job_id(row: dict[str, Any]) -> str:
    """The id the door answered for this event log row (``Delivery.event_id``)."""
    return Envelope.job_id_for(row["provider"], row["idempotency_key"])


class Stack:
    """Private Redis + PostgreSQL, gunicorn and N worker processes; every piece can be killed and restarted."""

    def __init__(self, workdir: Path, pg: PrivatePostgres, name: str, web_workers: int = 2, workers: int = 2,
                 handler_sleep: float = 0.0, env: dict[str, str] | None = None) -> None:  # fmt: skip
        self.workdir = workdir
        self.redis = RedisServer(workdir)
        self.redis.start()
        self.pg = pg
        self.database_url = pg.create_database(name)
        settings = Settings(database_url=self.database_url)
        db.migrate(settings)
        self.engine = db.engine_from(settings, poolclass=sa.pool.NullPool)
        effects.create(self.engine)
        self.env = service_env(
            {
                "REDIS_URL": self.redis.url,
                "DATABASE_URL": self.database_url,
                "VAR_DIR": str(workdir / "var"),
                "HANDLER_SLEEP": str(handler_sleep),
                "HANDLER_STARTS": str(workdir / "starts.log"),
                # Fast recovery for a test: abandoned after 2 + 15 s, maintenance every second,
                # retries 1-8 s apart (production: 30 s job timeout, 15 s, then 10 s .. 1 h).
                "JOB_TIMEOUT": "2",
                "WORKER_MAINTENANCE_INTERVAL": "1",
                "WORKER_TTL": "16",
                "JOB_RETRY_MAX": "10",
                "JOB_RETRY_INTERVALS": "1,1,2,2,4,4,8,8,8,8",
                **(env or {}),
            }
        )
        self.web_workers = web_workers
        self.worker_count = workers
        self.workers: list[subprocess.Popen[bytes]] = []
        self.worker_starts = 0
        self.web: subprocess.Popen[bytes] | None = None
        self.port = 0

    # --- processes ---------------------------------------------------------------------------------

    def _log(self, name: str) -> Any:
        return (self.workdir / f"{name}.log").open("ab")

    def start_web(self, app: str = "wsgi:app") -> int:
        self.port = free_port()
        argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "-b", f"127.0.0.1:{self.port}", app]
        with self._log("web") as log:
            self.web = subprocess.Popen(
                argv,
                cwd=ROOT, env={**self.env, "WEB_CONCURRENCY": str(self.web_workers), "WEB_THREADS": "4"},
                stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        wait_for_port(self.port, proc=self.web)
        self._warm_up()
        return self.port

    def _warm_up(self, timeout: float = 30.0) -> None:
        """Wait until every gunicorn worker has booted and answers (they load the app lazily)."""
        deadline = time.monotonic() + timeout
        fast = 0
        while fast < 2 * self.web_workers and time.monotonic() < deadline:
            started = time.monotonic()
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                conn.request("GET", "/webhooks/none")
                conn.getresponse().read()
            finally:
                conn.close()
            booted = len(children_of(self.web.pid)) >= self.web_workers if self.web else False
            fast = fast + 1 if booted and time.monotonic() - started < 0.2 else 0

    def start_worker(self) -> subprocess.Popen[bytes]:
        with self._log("worker") as log:
            # Own session: a kill takes the worker and its scheduler child, as a platform would.
            proc = subprocess.Popen(
                [sys.executable, "-m", "tests.fault_worker"],
                cwd=ROOT, env=self.env, stdout=log, stderr=log, start_new_session=True,
            )  # fmt: skip
        self.workers.append(proc)
        self.worker_starts += 1
        return proc

    def start_workers(self) -> None:
        for _ in range(self.worker_count):
            self.start_worker()

    def wait_for_workers(self, timeout: float = 30.0) -> None:
        """Until every worker process has registered with Redis: past its preflight and listening."""
        with redis.Redis.from_url(self.redis.url) as connection:
            wait_for(lambda: Worker.count(connection=connection) >= len(self.workers), timeout, "the workers to start")

    def kill_worker(self, index: int = 0) -> None:
        """SIGKILL a worker's whole process group (mid-job, if it had one) and start a fresh one."""
        proc = self.workers.pop(index)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self.start_worker()

    def supervise(self) -> int:
        """Restart workers that exited on their own (as a platform would); returns how many."""
        dead = [p for p in self.workers if p.poll() is not None]
        for proc in dead:
            self.workers.remove(proc)
            self.start_worker()
        return len(dead)

    def kill_web_worker(self) -> bool:
        children = children_of(self.web.pid) if self.web else []
        if not children:
            return False
        try:
            os.kill(children[0], signal.SIGKILL)  # the oldest (serving) one; the master starts a new one
        except ProcessLookupError:
            return False
        return True

    def close(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        if self.web is not None:
            stop(self.web)
        self.redis.close()
        self.engine.dispose()
        for name in ("web", "worker"):
            record_file(self.workdir / f"{name}.log", f"{name} process")

    # --- what happened -----------------------------------------------------------------------------

    def handler_starts(self) -> int:
        return len(self._starts())

    def _starts(self) -> list[str]:
        path = self.workdir / "starts.log"
        return path.read_text().splitlines() if path.exists() else []

    def busy_worker(self, after: int, timeout: float) -> int | None:
        """The index of a worker that started a handler after the first ``after`` starts (so it is
        inside a job), waiting up to ``timeout`` s; None if none did. Killing by the clock instead
        lands in a worker still importing on a slow machine, and no job is ever cut short."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            groups = [p.pid for p in self.workers]  # each worker leads its own process group
            for line in reversed(self._starts()[after:]):
                group = int(line.split()[1])
                if group in groups:
                    return groups.index(group)
            time.sleep(0.01)
        return None

    def log_count(self, process: str, needle: str) -> int:
        """Lines of a process's log (``web`` or ``worker``) containing ``needle``."""
        path = self.workdir / f"{process}.log"
        return sum(needle in line for line in path.read_text(errors="replace").splitlines()) if path.exists() else 0

    def event_log(self) -> list[dict[str, Any]]:
        query = sa.text("SELECT id, provider, idempotency_key, event_code, status, attempts FROM events ORDER BY id")
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def effect_counts(self) -> dict[int, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(effects.EFFECTS.c.event_id, sa.func.count()).group_by(effects.EFFECTS.c.event_id)
            )
            return {event_id: count for event_id, count in rows}

    def wait_until_processed(self, batch: list[Delivery], timeout: float) -> float:
        """Poll until every acknowledged delivery is processed (or the timeout); returns seconds waited."""
        started = time.monotonic()
        wanted = {d.event_id for d in batch if d.acknowledged}
        while time.monotonic() - started < timeout:
            self.supervise()
            try:
                log = self.event_log()
                done = {_job_id(r) for r in log if r["status"] == "processed"}
            except sa.exc.OperationalError:
                done = set()
            if wanted <= done:
                break
            time.sleep(0.5)
        return time.monotonic() - started

    def figures(self, batch: list[Delivery], sent: int) -> dict[str, Any]:
        rows = self.event_log()
        processed = {_job_id(r): r for r in rows if r["status"] == "processed"}
        acked = {d.event_id for d in batch if d.acknowledged}
        counts = self.effect_counts()
        answers = [a for d in batch for a in d.answers]
        return {
            "events": len(batch),
            "sent": sent,
            "acknowledged": len(acked),
            "processed": len(acked & processed.keys()),
            "lost": len(acked - processed.keys()),
            "duplicated": sum(n - 1 for n in counts.values() if n > 1)
            + sum(n for event_id, n in counts.items() if event_id not in {r["id"] for r in processed.values()}),
            "processed_without_effect": sum(1 for r in processed.values() if counts.get(r["id"], 0) == 0),
            "handler_runs_cut_short": self.handler_starts() - sum(counts.values()),
            "event_log_rows": len(rows),
            "answers": {str(k): answers.count(k) for k in sorted(set(answers), key=str)},
        }


@contextmanager
def stack(pg: PrivatePostgres, name: str, **options: Any) -> Iterator[Stack]:
    workdir = Path(tempfile.mkdtemp(prefix=f"faults-{name}-"))
    running = Stack(workdir, pg, name, **options)
    try:
        yield running
    finally:
        running.close()
        if not os.environ.get("FAULTS_KEEP"):  # FAULTS_KEEP=1 keeps the processes' logs to read
            shutil.rmtree(workdir, ignore_errors=True)
