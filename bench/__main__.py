"""`make bench`: the ingest, drain, orders, catalog and campaign benchmarks, each with its same-run baseline.

Knobs (flag, or environment variable for `make bench`):
  --ingest-requests / BENCH_INGEST_REQUESTS  requests per endpoint (default 2000)
  --ingest-rounds   / BENCH_INGEST_ROUNDS    rounds the endpoints take turns in (default 5)
  --ingest-warmup   / BENCH_INGEST_WARMUP    untimed requests per endpoint first (default 100)
  --clients         / BENCH_INGEST_CLIENTS   concurrent client threads (default 8)
  --web-workers     / BENCH_WEB_WORKERS      gunicorn worker processes (default 2)
  --drain-events    / BENCH_DRAIN_EVENTS     events, and as many no-op jobs (default 5000)
  --startup-runs    / BENCH_DRAIN_STARTUP_RUNS  empty-queue worker runs, median taken (default 3)
  --drain-workers   / BENCH_DRAIN_WORKERS    worker processes of the drain's second run (default: CPUs)
  --orders          / BENCH_ORDERS           webhooks per kind of orders run, over its rounds (default 1000)
  --orders-rounds   / BENCH_ORDERS_ROUNDS    rounds the kinds of orders run take turns in (default 3)
  --orders-warmup   / BENCH_ORDERS_WARMUP    untimed webhooks before each orders run (default 50)
  --catalog-families / BENCH_CATALOG_FAMILIES  families in the catalog's generated feed (default 5000)
  --catalog-variants / BENCH_CATALOG_VARIANTS  variants (index lines, records) per family (default 4)
  --catalog-images   / BENCH_CATALOG_IMAGES    images of its own per family (default 2)
  --campaign-contacts / BENCH_CAMPAIGN_CONTACTS  contacts an SMS campaign goes to (default 100000)
DATABASE_URL and REDIS_URL say which servers to use; the data goes to bench-only databases there
(see bench/environment.py). Exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

BENCHMARKS = ("ingest", "drain", "orders", "catalog", "campaign")


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Ingest, drain, orders, catalog and campaign benchmarks"
    )
    # No `choices=`: argparse checks the empty list against them when nothing is given.
    parser.add_argument(
        "which",
        nargs="*",
        help="ingest, drain, orders, catalog and/or campaign (default: all, in that order)",
    )
    parser.add_argument("--ingest-requests", type=int, default=env_int("BENCH_INGEST_REQUESTS", 2000))
    parser.add_argument("--ingest-rounds", type=int, default=env_int("BENCH_INGEST_ROUNDS", 5))
    parser.add_argument("--ingest-warmup", type=int, default=env_int("BENCH_INGEST_WARMUP", 100))
    parser.add_argument("--clients", type=int, default=env_int("BENCH_INGEST_CLIENTS", 8))
    parser.add_argument("--web-workers", type=int, default=env_int("BENCH_WEB_WORKERS", 2))
    parser.add_argument("--drain-events", type=int, default=env_int("BENCH_DRAIN_EVENTS", 5000))
    parser.add_argument("--startup-runs", type=int, default=env_int("BENCH_DRAIN_STARTUP_RUNS", 3))
    parser.add_argument(
        "--drain-workers", type=int, default=env_int("BENCH_DRAIN_WORKERS", os.cpu_count() or 2)
    )
    parser.add_argument("--orders", type=int, default=env_int("BENCH_ORDERS", 1000))
    parser.add_argument("--orders-rounds", type=int, default=env_int("BENCH_ORDERS_ROUNDS", 3))
    parser.add_argument("--orders-warmup", type=int, default=env_int("BENCH_ORDERS_WARMUP", 50))
    parser.add_argument("--catalog-families", type=int, default=env_int("BENCH_CATALOG_FAMILIES", 5000))
    parser.add_argument("--catalog-variants", type=int, default=env_int("BENCH_CATALOG_VARIANTS", 4))
    parser.add_argument("--catalog-images", type=int, default=env_int("BENCH_CATALOG_IMAGES", 2))
    parser.add_argument("--campaign-contacts", type=int, default=env_int("BENCH_CAMPAIGN_CONTACTS", 100_000))
    args = parser.parse_args(argv)
    args.which = args.which or list(BENCHMARKS)
    if unknown := set(args.which) - set(BENCHMARKS):
        parser.error(f"unknown benchmark: {', '.join(sorted(unknown))}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A SIGTERM (a CI timeout) unwinds like Ctrl-C: gunicorn and workers have their own sessions.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = time.monotonic()
    # Imported here: bench.environment must set the environment before Django reads settings.
    from bench import environment

    env = environment.prepare()
    print(f"Database: {env.database}; Redis: {env.redis}; DEBUG={env.debug}; {os.cpu_count()} CPUs")
    results: list[bool] = []  # each benchmark: did its checks pass
    try:
        if "ingest" in args.which:
            from bench import ingest

            results.append(
                ingest.run(
                    env,
                    requests_per_endpoint=args.ingest_requests,
                    rounds=args.ingest_rounds,
                    clients=args.clients,
                    warmup=args.ingest_warmup,
                    web_workers=args.web_workers,
                )
            )
            environment.flush_redis()  # the ingested events' jobs: the drain starts on an empty queue
            sys.stdout.flush()
        if "drain" in args.which:
            from bench import drain

            results.append(
                drain.run(
                    env,
                    events=args.drain_events,
                    startup_runs=args.startup_runs,
                    processes=args.drain_workers,
                )
            )
            sys.stdout.flush()
        if "orders" in args.which:
            from bench import orders

            results.append(
                orders.run(
                    env,
                    orders=args.orders,
                    rounds=args.orders_rounds,
                    warmup=args.orders_warmup,
                    clients=args.clients,
                    web_workers=args.web_workers,
                )
            )
            sys.stdout.flush()
        if "catalog" in args.which:
            from bench import catalog

            results.append(
                catalog.run(
                    env,
                    families=args.catalog_families,
                    variants=args.catalog_variants,
                    images=args.catalog_images,
                )
            )
        if "campaign" in args.which:
            from bench import campaign

            results.append(campaign.run(env, contacts=args.campaign_contacts))
    finally:
        environment.cleanup()
    verdict = "all checks OK" if all(results) else "CHECKS FAILED"
    print(f"bench: {verdict} in {time.monotonic() - started:.0f} s")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
