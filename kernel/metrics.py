"""Prometheus metrics (prometheus-client, the process's default registry), served at ``GET /metrics``.

Counters and histograms are updated where things happen; the gauges of database state (outbox depth and
age, payments by status) are read from the database when ``/metrics`` is scraped, so they are right
whichever process did the work. With several API processes each serves its own counters (scrape each).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("ipm_http_requests_total", "HTTP requests by method, route template and status",
                        ["method", "route", "status"])
HTTP_LATENCY = Histogram("ipm_http_request_duration_seconds", "HTTP request latency by route template",
                         ["method", "route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
OUTBOX_DEPTH = Gauge("ipm_outbox_jobs", "Outbox jobs not done, by status", ["status"])
OUTBOX_OLDEST_DUE = Gauge("ipm_outbox_oldest_due_seconds", "How long the oldest due queued job has waited")
OUTBOX_RUNS = Counter("ipm_outbox_job_runs_total", "Outbox job runs by kind and outcome", ["kind", "outcome"])
PAYMENTS = Gauge("ipm_payments", "Payments by method and status", ["method", "status"])
DAY_END_SECONDS = Histogram("ipm_day_end_handler_seconds", "Duration of each day-end handler run", ["handler"],
                            buckets=(0.01, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
LEDGER_POSTINGS = Counter("ipm_ledger_postings_total", "Ledger postings written, by entry phase", ["phase"])
LEDGER_ENTRIES = Counter("ipm_ledger_entries_total", "Ledger entries written, by kind and phase",
                         ["kind", "phase"])
