"""xrm against PostGraphile 4, side by side: a three-level nested list query.

The anchor of issue 3: 3 customers → 59 contacts → 412 tasks, about 11.6 kB
of JSON. Both servers run at the same time on free ports, against the same
PostgreSQL, each on a fresh schema of its own:

- PostGraphile 4 (``npm ci`` installs it from package.json; one Node process,
  ``bench/postgraphile/serve.js``) serving hand-made tables in
  ``pgl_bench_<hex>`` that hold the same rows, queried through its default
  inflection (``allCustomers { nodes { contactsByCustomerId { nodes {
  tasksByContactId { nodes ... } } } } }``);
- one ``xrm serve --workers 1`` process on ``xrm_bench_<hex>`` with the built-in
  catalog and rows written through the record service, queried as
  ``customers { nodes { contacts { nodes { tasks { nodes ... } } } } }``.

First both answers are checked: the same counts per level and the same
values, field names aside; their sizes are printed. Then ``--rounds`` rounds
alternate the two (the order flips each round): per server the median latency
of one request and the requests per second with ``--clients`` concurrent
clients (httpx threads) over ``--seconds``, with the CPU each request cost the
server, PostgreSQL, the load client and everything else on the machine. The
summary takes the median over the rounds and the ratios xrm / PostGraphile.
Both servers are stopped and both schemas dropped at the end, on error and on
SIGTERM too. It is a benchmark, not a test: it fails only when the two
answers differ.

By default every request sends the same body, as a client repeating a query
does; xrm then answers from the plan it remembered (xrm/api/express.py).
With ``--fresh`` xrm is asked the same query with a filter value never sent
before (``name ne $x``, which every record passes), so it cannot reuse an
earlier request's statement or plan: the cost of its ordinary path.
PostGraphile keeps its query: it compiles the SQL of every request whatever
the variables, so its cost does not depend on them.

``--profile N`` skips the servers and instead profiles xrm answering the query
N times in-process (cProfile, the ASGI app driven on one thread with its
thread-pool hops run inline), printing the top functions by cumulative and by
own time.

    python bench/bench_postgraphile.py [--db URL] [--seconds 10] [--rounds 3] [--fresh]
    python bench/bench_postgraphile.py --profile 200
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import itertools
import os
import pstats
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import sqlalchemy as sa
from bench_graphql import catalog_platform, free_port, median_seconds, xrm_command

from xrm.entities.records import RecordService
from xrm.entities.registry import Registry
from xrm.platform.db import Database
from xrm.platform.identity import create_token
from xrm.platform.settings import Settings

DEFAULT_DB = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = Path(__file__).resolve().parent / "postgraphile" / "serve.js"

PARENTS, CHILDREN, GRANDCHILDREN = 3, 59, 412

XRM_QUERY = """{ customers(orderBy: [{name: ASC}]) { nodes { id name
  contacts { nodes { fullName tasks { nodes { title } } } } } } }"""

# --fresh: the same query, with a value never asked before; every record still matches.
XRM_FRESH_QUERY = """query($x: String) {
  customers(orderBy: [{name: ASC}], filter: {name: {ne: $x}}) { nodes { id name
    contacts { nodes { fullName tasks { nodes { title } } } } } } }"""

PG_QUERY = """{ allCustomers(orderBy: NAME_ASC) { nodes { id name
  contactsByCustomerId { nodes { fullName tasksByContactId { nodes { title } } } } } } }"""

# The hand-made tables PostGraphile serves: the columns the query reads and a
# few more, the same foreign keys (indexed, as xrm's are), nothing else.
PG_TABLES = """
CREATE TABLE "{s}".customer (
  id uuid PRIMARY KEY, name text NOT NULL, tier text);
CREATE TABLE "{s}".contact (
  id uuid PRIMARY KEY, customer_id uuid REFERENCES "{s}".customer (id),
  full_name text NOT NULL);
CREATE INDEX ON "{s}".contact (customer_id);
CREATE TABLE "{s}".task (
  id uuid PRIMARY KEY, contact_id uuid REFERENCES "{s}".contact (id),
  title text NOT NULL, status text);
CREATE INDEX ON "{s}".task (contact_id);
"""


class Terminated(Exception):
    """SIGTERM arrived: unwind so that the ``finally`` blocks clean up."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise Terminated(f"signal {signum}")


# --- data -------------------------------------------------------------------------------


def split(total: int, parts: int, rng: random.Random, low: int) -> list[int]:
    """``parts`` random counts of at least ``low`` that add up to exactly ``total``."""
    counts = [low] * parts
    for _ in range(total - low * parts):
        counts[rng.randrange(parts)] += 1
    return counts


def seed_xrm(service: RecordService, admin: Any) -> None:
    """3 customers, 59 contacts, 412 tasks, through the record service."""
    rng = random.Random(3)
    statuses = ["todo", "in_progress", "done", "cancelled"]
    kinds = ["call", "email", "meeting", "visit", "follow_up", "other"]
    with service.session(admin, channel="import") as s:
        customers = s.create_many(
            "customer",
            [
                {"name": f"Customer {i}", "email": f"c{i}@example.com", "tier": "gold"}
                for i in range(PARENTS)
            ],
        )
        contact_rows = []
        for c, n in zip(customers, split(CHILDREN, PARENTS, rng, 15), strict=True):
            for j in range(n):
                contact_rows.append(
                    {"full_name": f"Person {j} of {c['name']}", "customer": c["id"]}
                )
        contacts = s.create_many("contact", contact_rows)
        task_rows = []
        for p, n in zip(contacts, split(GRANDCHILDREN, CHILDREN, rng, 3), strict=True):
            for j in range(n):
                task_rows.append(
                    {
                        "title": f"Task {j}",
                        "status": rng.choice(statuses),
                        "kind": rng.choice(kinds),
                        "contact": p["id"],
                        "customer": p["customer"],
                    }
                )
        s.create_many("task", task_rows)


def copy_to_postgraphile(db: Database, registry: Registry, admin: sa.Engine, schema: str) -> None:
    """Create PostGraphile's hand-made tables and copy xrm's rows into them."""
    catalog = registry.current()
    cu, co, ta = (catalog.tables[n] for n in ("customer", "contact", "task"))
    with db.read() as conn:
        customers = [
            {"id": r.id, "name": r.name, "tier": r.tier}
            for r in conn.execute(sa.select(cu.c.id, cu.c.name, cu.c.tier))
        ]
        contacts = [
            {"id": r.id, "customer_id": r.customer_id, "full_name": r.full_name}
            for r in conn.execute(sa.select(co.c.id, co.c.customer_id, co.c.full_name))
        ]
        tasks = [
            {"id": r.id, "contact_id": r.contact_id, "title": r.title, "status": r.status}
            for r in conn.execute(sa.select(ta.c.id, ta.c.contact_id, ta.c.title, ta.c.status))
        ]
    with admin.begin() as conn:
        for statement in PG_TABLES.format(s=schema).split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
        for table, rows in (("customer", customers), ("contact", contacts), ("task", tasks)):
            columns = list(rows[0])
            conn.execute(
                sa.text(
                    f'INSERT INTO "{schema}".{table} ({", ".join(columns)}) '
                    f"VALUES ({', '.join(':' + c for c in columns)})"
                ),
                rows,
            )
        conn.exec_driver_sql(f'ANALYZE "{schema}".customer, "{schema}".contact, "{schema}".task')


# --- responses --------------------------------------------------------------------------


def shape(body: bytes, top: str, middle: str, bottom: str) -> tuple[int, int, int, list[Any]]:
    """Counts of the three levels and the data with xrm's field names, from one response."""
    document = orjson.loads(body)
    if document.get("errors"):
        raise RuntimeError(f"the response has errors: {document['errors']}")
    parents = document["data"][top]["nodes"]
    children = grandchildren = 0
    normal = []
    for parent in parents:
        kids = parent[middle]["nodes"]
        children += len(kids)
        entry = {k: v for k, v in parent.items() if k != middle}
        entry["contacts"] = []
        for kid in kids:
            grandchildren += len(kid[bottom]["nodes"])
            entry["contacts"].append(
                {**{k: v for k, v in kid.items() if k != bottom}, "tasks": kid[bottom]["nodes"]}
            )
        normal.append(entry)
    return len(parents), children, grandchildren, normal


# --- measuring --------------------------------------------------------------------------


def processes() -> dict[int, tuple[str, int, float]]:
    """pid -> (command name, process group, user + system CPU seconds so far), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        out[int(entry.name)] = (comm, int(fields[2]), (int(fields[11]) + int(fields[12])) / tick)
    return out


def machine_cpu() -> tuple[float, float]:
    """Busy and total CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields) - idle) / tick, sum(fields) / tick


def busy_share(seconds: float = 1.0) -> float | None:
    """How busy all CPUs are over ``seconds`` (0..1), None off Linux."""
    if not Path("/proc/stat").exists():
        return None
    busy0, total0 = machine_cpu()
    time.sleep(seconds)
    busy1, total1 = machine_cpu()
    return (busy1 - busy0) / max(total1 - total0, 1e-9)


@dataclass
class CpuSnapshot:
    """The CPU seconds used so far by every process, this one and the whole machine."""

    processes: dict[int, tuple[str, int, float]]
    client: float
    machine: float

    @classmethod
    def take(cls) -> CpuSnapshot:
        if not Path("/proc/stat").exists():
            return cls({}, time.process_time(), 0.0)
        return cls(processes(), time.process_time(), machine_cpu()[0])

    def used_since(self, before: CpuSnapshot, server: int) -> tuple[float, float, float, float]:
        """CPU seconds since ``before``: the server's process group, PostgreSQL, this, the rest.

        Counted per process, so a process that ended meanwhile (another
        client's PostgreSQL backend) does not make a share negative. "The rest"
        is whatever else keeps the machine busy (the idle other server
        included): other people's work skews a benchmark, and this shows by
        how much.
        """

        def share(pick: Callable[[str, int], bool]) -> float:
            total = 0.0
            for pid, (comm, pgid, seconds) in self.processes.items():
                if pick(comm, pgid):
                    total += max(seconds - before.processes.get(pid, (comm, pgid, 0.0))[2], 0.0)
            return total

        server_s = share(lambda comm, pgid: pgid == server)
        postgres_s = share(lambda comm, pgid: comm == "postgres")
        client_s = self.client - before.client
        rest = self.machine - before.machine - server_s - postgres_s - client_s
        return server_s, postgres_s, client_s, max(rest, 0.0)


def fresh_bodies(query: str) -> Callable[[], bytes]:
    """Bodies of ``query`` with a ``$x`` never sent before, from any thread."""
    numbers = itertools.count()  # next() is atomic under the GIL
    return lambda: orjson.dumps({"query": query, "variables": {"x": f"nobody {next(numbers)}"}})


def requests_per_second(
    url: str,
    body: Callable[[], bytes],
    headers: dict[str, str],
    clients: int,
    seconds: float,
    server: int,
) -> tuple[float, tuple[float, ...]]:
    """Requests/s, and CPU seconds per request: server, PostgreSQL, this client, the rest."""
    done = 0
    failed: list[BaseException] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def load() -> None:
        nonlocal done
        try:
            with httpx.Client(headers=headers, timeout=30) as client:
                while time.monotonic() < stop:
                    client.post(url, content=body()).raise_for_status()
                    with lock:
                        done += 1
        except BaseException as exc:  # reported after the join
            failed.append(exc)

    started, before = time.monotonic(), CpuSnapshot.take()
    threads = [threading.Thread(target=load, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, used = time.monotonic() - started, CpuSnapshot.take().used_since(before, server)
    if failed:
        raise RuntimeError(f"a load client failed: {failed[0]!r}")
    return done / elapsed, tuple(seconds / max(done, 1) for seconds in used)


@dataclass
class Round:
    """One server's numbers in one round."""

    latency: float  # median seconds of one request, one client
    rps: float  # requests per second, ``--clients`` clients
    cpu: tuple[float, ...]  # CPU seconds per request: server, PostgreSQL, load client, others


@dataclass
class Server:
    """One running server, the query it is asked, what it answered and how fast."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    url: str
    query: str
    headers: dict[str, str]
    levels: tuple[str, str, str]  # the field names of the three levels in its answer
    answer: bytes = b""
    counts: tuple[int, int, int] = (0, 0, 0)
    data: list[Any] = field(default_factory=list)  # with xrm's field names, to compare
    rounds: list[Round] = field(default_factory=list)
    fresh_query: str | None = None  # asked with a new ``$x`` each time under --fresh

    @property
    def body(self) -> bytes:
        return orjson.dumps({"query": self.query})

    def bodies(self, fresh: bool) -> Callable[[], bytes]:
        """The body of each request: the same one, or (``fresh``, xrm) one never sent before."""
        if not fresh or self.fresh_query is None:
            return lambda: self.body
        return fresh_bodies(self.fresh_query)

    @property
    def request_headers(self) -> dict[str, str]:
        return {**self.headers, "content-type": "application/json"}

    def client(self) -> httpx.Client:
        return httpx.Client(headers=self.request_headers, timeout=30)

    def check(self) -> None:
        """Ask once and keep the answer, its counts and its data; fails on errors."""
        with self.client() as client:
            response = client.post(self.url, content=self.body)
            response.raise_for_status()
        self.answer = response.content
        parents, children, grandchildren, self.data = shape(self.answer, *self.levels)
        self.counts = (parents, children, grandchildren)

    def warm_up(self, requests: int) -> None:
        """JIT, caches and connection pools, before anything is measured."""
        with self.client() as client:
            for _ in range(requests):
                client.post(self.url, content=self.body).raise_for_status()

    def measure(self, args: argparse.Namespace) -> Round:
        body = self.bodies(args.fresh)
        with self.client() as client:
            latency = median_seconds(
                lambda: client.post(self.url, content=body()).raise_for_status(), args.runs
            )
        rps, cpu = requests_per_second(
            self.url, body, self.request_headers, args.clients, args.seconds, self.process.pid
        )
        result = Round(latency, rps, cpu)
        self.rounds.append(result)
        return result


# --- processes --------------------------------------------------------------------------


def start(command: list[str], env: dict[str, str] | None, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() takes its children too
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL it after 10 s."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    except ProcessLookupError:
        pass


def wait_until_answering(server: Server) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            log = server.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{server.name}: the server exited early:\n{log}")
        try:
            response = httpx.post(
                server.url, json={"query": "{ __typename }"}, headers=server.headers
            )
            if response.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    log = server.log.read_text(errors="replace")[-3000:]
    raise RuntimeError(f"{server.name}: no answer within 60 s:\n{log}")


# --- profiling --------------------------------------------------------------------------


def profile_xrm(
    settings: Settings, token: str, requests: int, out: str | None, fresh: bool
) -> None:
    """cProfile xrm answering the query ``requests`` times in-process, on one thread."""
    import starlette.concurrency

    import xrm.api.view
    from xrm.app import create_app

    async def inline(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return func(*args, **kwargs)

    # The view hops to a worker thread per request; cProfile sees one thread only.
    xrm.api.view.run_in_threadpool = inline
    starlette.concurrency.run_in_threadpool = inline
    app = create_app(settings)
    fixed = orjson.dumps({"query": XRM_QUERY})
    body = fresh_bodies(XRM_FRESH_QUERY) if fresh else lambda: fixed

    headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}

    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    async def run() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://xrm", headers=headers
            ) as client:
                for _ in range(20):  # warm the schema, parser and validation caches
                    (await client.post("/graphql", content=body())).raise_for_status()
                started = time.perf_counter()
                for _ in range(requests):
                    response = await client.post("/graphql", content=body())
                plain = (time.perf_counter() - started) / requests
                sa.event.listen(sa.Engine, "before_cursor_execute", count)
                profiler = cProfile.Profile()
                started = time.perf_counter()
                profiler.enable()
                for _ in range(requests):
                    response = await client.post("/graphql", content=body())
                profiler.disable()
                sa.event.remove(sa.Engine, "before_cursor_execute", count)
                profiled = (time.perf_counter() - started) / requests
                response.raise_for_status()
                counts = shape(response.content, "customers", "contacts", "tasks")[:3]
        print(
            f"{requests} requests in-process (httpx ASGITransport, no network): "
            f"{plain * 1000:.2f} ms each, {profiled * 1000:.2f} ms under cProfile; "
            f"counts {counts}, {len(response.content)} bytes"
        )
        print(f"{len(statements) / requests:g} SQL statements per request (through SQLAlchemy):")
        for statement in statements[: len(statements) // requests]:
            print("  " + " ".join(statement.split())[:150])
        if out:
            profiler.dump_stats(out)
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(25)

    asyncio.run(run())


# --- main -------------------------------------------------------------------------------


@contextmanager
def schemas(admin: sa.Engine, *names: str) -> Iterator[None]:
    """Fresh PostgreSQL schemas for the run, dropped at its end whatever happens."""
    try:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f'CREATE SCHEMA "{name}"')
        yield
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--db", default=os.environ.get("XRM_TEST_DATABASE_URL") or DEFAULT_DB, help="PostgreSQL"
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="each load test, per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per server")
    parser.add_argument("--runs", type=int, default=100, help="single requests for the median")
    parser.add_argument("--warmup", type=int, default=200, help="requests before measuring")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument(
        "--fresh",
        action="store_true",
        help="send every request with a body never sent before (no server may reuse its work)",
    )
    parser.add_argument("--profile", type=int, metavar="N", help="only profile xrm, N requests")
    parser.add_argument("--profile-file", metavar="PATH", help="also save the raw profile here")
    args = parser.parse_args()

    url = sa.make_url(args.db)
    if url.get_backend_name() != "postgresql":
        parser.error("--db must be a PostgreSQL URL")
    node = shutil.which("node")
    if args.profile is None and (
        node is None or not (ROOT / "node_modules" / "postgraphile").is_dir()
    ):
        sys.exit("needs Node and PostGraphile: run `npm ci` in the project root")

    signal.signal(signal.SIGTERM, _on_sigterm)
    busy = busy_share()
    suffix = secrets.token_hex(4)
    xrm_schema, pg_schema = f"xrm_bench_{suffix}", f"pgl_bench_{suffix}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    folder = Path(tempfile.mkdtemp(prefix="xrm-bench-pg-"))
    db: Database | None = None
    try:
        with schemas(admin, xrm_schema, pg_schema):
            settings = Settings(database_url=args.db, database_schema=xrm_schema)
            db, registry, service, admin_actor = catalog_platform(settings)
            with db.write() as conn:
                token = create_token(conn, admin_actor)
            seed_xrm(service, admin_actor)
            if args.profile is not None:
                profile_xrm(settings, token, args.profile, args.profile_file, args.fresh)
                return
            copy_to_postgraphile(db, registry, admin, pg_schema)
            db.dispose()
            before = "?" if busy is None else f"{busy:.0%}"
            print(
                f"machine: {os.cpu_count()} CPUs, {before} busy just before the run "
                "(other work on the machine skews every number below)",
                flush=True,
            )
            servers = run_servers(args, url, node or "node", xrm_schema, pg_schema, token, folder)
    finally:
        if db is not None:
            db.dispose()
        admin.dispose()
        shutil.rmtree(folder, ignore_errors=True)
    summary(servers, args)


def run_servers(
    args: argparse.Namespace,
    url: sa.URL,
    node: str,
    xrm_schema: str,
    pg_schema: str,
    token: str,
    folder: Path,
) -> list[Server]:
    """Start both servers, check their answers, measure them in alternating rounds, stop them."""
    connection = url.set(drivername="postgresql").render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XRM_")}
    env["XRM_DATABASE_URL"] = args.db
    env["XRM_DATABASE_SCHEMA"] = xrm_schema
    with ExitStack() as running:
        pg_port, xrm_port = free_port(), free_port()
        log = folder / "postgraphile.log"
        process = start([node, str(LAUNCHER), connection, pg_schema, str(pg_port)], None, log)
        running.callback(stop, process)
        pg = Server(
            "PostGraphile 4",
            process,
            log,
            f"http://127.0.0.1:{pg_port}/graphql",
            PG_QUERY,
            {},
            ("allCustomers", "contactsByCustomerId", "tasksByContactId"),
        )
        log = folder / "xrm.log"
        command = [*xrm_command(), "serve", "--workers", "1", "--port", str(xrm_port)]
        process = start(command, env, log)
        running.callback(stop, process)
        xrm = Server(
            "xrm (1 worker)",
            process,
            log,
            f"http://127.0.0.1:{xrm_port}/graphql",
            XRM_QUERY,
            {"Authorization": f"Bearer {token}"},
            ("customers", "contacts", "tasks"),
            fresh_query=XRM_FRESH_QUERY,
        )
        servers = [pg, xrm]
        for server in servers:
            wait_until_answering(server)
            server.check()
        compare(pg, xrm)
        for server in servers:
            server.warm_up(args.warmup)
        print(
            f"{args.rounds} rounds; each: median of {args.runs} single requests, then "
            f"{args.clients} clients for {args.seconds:g} s; CPU ms per request under load",
            flush=True,
        )
        print(f"{'round':<7}{'server':<17}{'median':>9}{'req/s':>8}{CPU_HEADER}", flush=True)
        for number in range(1, args.rounds + 1):
            for server in servers if number % 2 else servers[::-1]:
                print(f"{number:<7}{row(server.name, server.measure(args))}", flush=True)
    return servers


CPU_HEADER = "   server + PostgreSQL + client (+ others)"


def row(name: str, r: Round) -> str:
    cpu = " + ".join(f"{c * 1000:.2f}" for c in r.cpu[:3]) + f" (+ {r.cpu[3] * 1000:.2f})"
    return f"{name:<17}{r.latency * 1000:>7.2f}ms{r.rps:>8.0f}   {cpu}"


def compare(pg: Server, xrm: Server) -> None:
    """Print both answers' sizes and counts; exit when they hold different data."""
    print(f"query: {PARENTS} customers -> {CHILDREN} contacts -> {GRANDCHILDREN} tasks")
    for server in (pg, xrm):
        counts = "/".join(str(n) for n in server.counts)
        print(f"  {server.name:<17}{len(server.answer):>6} bytes, {counts} rows per level")
    expected = (PARENTS, CHILDREN, GRANDCHILDREN)
    same_counts = pg.counts == xrm.counts == expected
    same_data = pg.data == xrm.data
    print(f"  same counts: {same_counts}; same values, field names aside: {same_data}", flush=True)
    if not (same_counts and same_data):
        sys.exit("the two answers differ: nothing to compare")


def summary(servers: list[Server], args: argparse.Namespace) -> None:
    print(f"median of {args.rounds} rounds:")
    medians = {}
    for server in servers:
        r = Round(
            statistics.median(r.latency for r in server.rounds),
            statistics.median(r.rps for r in server.rounds),
            tuple(statistics.median(c) for c in zip(*(r.cpu for r in server.rounds), strict=True)),
        )
        medians[server.name] = r
        print(f"       {row(server.name, r)}")
    pg, x = medians["PostGraphile 4"], medians["xrm (1 worker)"]
    print(
        f"xrm / PostGraphile: req/s {x.rps / pg.rps:.2f}x (higher is better), "
        f"median latency {x.latency / pg.latency:.2f}x (lower is better)"
    )


if __name__ == "__main__":
    try:
        main()
    except Terminated:
        sys.exit("stopped by SIGTERM; servers stopped, schemas dropped")
