"""django-hordak's transfers, the Python peer of ``bench.ledger_postings``: run by the Python of a throwaway
venv that has django-hordak and psycopg (``uv venv /tmp/hordak && uv pip install --python /tmp/hordak
django-hordak psycopg[binary]``), never imported by the project.

    python bench/_hordak_peer.py DSN N_ACCOUNTS WORKERS PROCESSES SECONDS

Prints one JSON line: {"entries": n, "seconds": s, "errors": e}. Each transfer is
``Account.transfer_to`` (a transaction and two legs, balanced by hordak's own triggers) inside
``transaction.atomic``, in its own Django connection per thread; time counts from when every client is
connected.
"""

from __future__ import annotations

import json
import multiprocessing
import random
import sys
import threading
import time
from urllib.parse import urlparse


def _setup(dsn: str) -> None:
    import django
    from django.conf import settings

    u = urlparse(dsn)
    settings.configure(
        DATABASES={"default": {"ENGINE": "django.db.backends.postgresql", "NAME": u.path.lstrip("/"),
                               "USER": u.username or "postgres", "PASSWORD": u.password or "",
                               "HOST": u.hostname or "127.0.0.1", "PORT": str(u.port or 5432),
                               "CONN_MAX_AGE": None}},
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "mptt", "djmoney", "hordak"],
        USE_TZ=True, DEFAULT_AUTO_FIELD="django.db.models.BigAutoField", HORDAK_DECIMAL_PLACES=2,
        DEFAULT_CURRENCY="CNY", CURRENCIES=["CNY"],
    )
    django.setup()


def _prepare(n_accounts: int) -> list[int]:
    from django.core.management import call_command
    from django.db import connection
    from hordak.models import Account

    call_command("migrate", verbosity=0)
    with connection.cursor() as cur:
        cur.execute("TRUNCATE hordak_leg, hordak_transaction, hordak_account RESTART IDENTITY CASCADE")
    # MPTT keeps tree fields, so no bulk_create: one by one, under one root.
    root = Account.objects.create(name="bench", type=Account.TYPES.asset, currencies=["CNY"])
    ids = [Account.objects.create(name=f"acct {i}", parent=root, type=Account.TYPES.asset, currencies=["CNY"]).pk
           for i in range(n_accounts)]
    return ids


def _thread(ids: list[int], seed: int, start: threading.Barrier, seconds: float, out: dict) -> None:
    from django.db import connection, transaction
    from hordak.models import Account
    from moneyed import Money

    rng = random.Random(seed)
    accounts = {a.pk: a for a in Account.objects.filter(pk__in=ids)}  # also opens this thread's connection
    start.wait()
    t0 = time.perf_counter()
    ok = errors = 0
    while time.perf_counter() - t0 < seconds:
        a, b = rng.sample(ids, 2)
        try:
            with transaction.atomic():
                accounts[a].transfer_to(accounts[b], Money(rng.randint(1, 10_000) / 100, "CNY"),
                                        description="bench transfer")
            ok += 1
        except Exception:  # counted, like ours
            errors += 1
    out[seed] = (ok, errors, time.perf_counter() - t0)
    connection.close()


def _process(args: tuple) -> tuple[int, int, float]:
    dsn, ids, seeds, seconds, barrier = args
    _setup(dsn)
    out: dict = {}
    local = threading.Barrier(len(seeds) + 1)
    threads = [threading.Thread(target=_thread, args=(ids, s, local, seconds, out)) for s in seeds]
    for t in threads:
        t.start()
    barrier.wait()  # every process's threads are connected
    local.wait()
    for t in threads:
        t.join()
    return sum(v[0] for v in out.values()), sum(v[1] for v in out.values()), max(v[2] for v in out.values())


def main() -> None:
    dsn, n_accounts, workers, processes, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \
        int(sys.argv[4]), float(sys.argv[5])
    _setup(dsn)
    ids = _prepare(n_accounts)
    from django.db import connection

    connection.close()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Manager().Barrier(processes)
    seeds = [list(range(workers))[p::processes] for p in range(processes)]
    with ctx.Pool(processes) as pool:
        parts = pool.map(_process, [(dsn, ids, s, seconds, barrier) for s in seeds])
    print(json.dumps({"entries": sum(p[0] for p in parts), "errors": sum(p[1] for p in parts),
                      "seconds": max(p[2] for p in parts)}))


if __name__ == "__main__":
    main()
