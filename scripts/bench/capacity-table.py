#!/usr/bin/env python3
"""Prints the CAPACITY.md tables from load-harness result folders.

Usage: scripts/bench/capacity-table.py load-tests/results/<run>...
Web runs: whole-run figures from summary.json, plus the hold phase (after the ramp) from
timeseries.csv: requests/s, and the highest per-second p95 seen while holding.
Worker runs: throughput and service times from summary.json.
"""
import csv
import json
import sys
from pathlib import Path


def web_row(d, folder):
    s = d["settings"]
    ramp = s.get("ramp_up_s") or 0
    rows = list(csv.DictReader(open(folder / "timeseries.csv")))
    hold = [r for r in rows if float(r["second"]) >= ramp and int(r["active_users"]) == d["peak_users"]]
    hold_rps = sum(int(r["requests"]) for r in hold) / max(len(hold), 1)
    worst_p95 = max((float(r["p95_ms"]) for r in hold if r["p95_ms"]), default=float("nan"))
    ep = {e["endpoint"]: e for e in d["endpoints"]}
    up = ep.get("upload", {})
    sign = ep.get("signup", {})
    lat = d["latency"]
    verdict = "PASS" if d["verdict"]["pass"] else "FAIL"
    return (f"| {d['scenario']} | {d['peak_users']} | {d['requests']:,} | {d['throughput_rps']:.0f} | {hold_rps:.0f} | "
            f"{lat['p50_ms']:.1f} | **{lat['p95_ms']:.0f}** | {lat['p99_ms']:.0f} | {worst_p95:.0f} | "
            f"{sign.get('p95_ms', float('nan')):.0f} | {up.get('p95_ms', float('nan')):.0f} | "
            f"{100 * d['error_rate']:.2f} % | **{verdict}** | `{folder.name}` |")


def worker_row(d, folder):
    t = d["throughput"]
    f = lambda v: "-" if v is None else f"{v:.1f}"
    rate = d.get("rate_per_min")
    return (f"| {d['clip_bytes'] / 1e6:.0f} MB | {d.get('worker_concurrency')} | "
            f"{'burst' if rate is None else f'{rate:g}/min'} | {d['jobs']} | {t['processed']} | {d['failed']} | "
            f"**{f(t.get('videos_per_min'))}** | {f(t.get('mean_service_s'))} | {f(t.get('p95_service_s'))} | "
            f"{f(t.get('mean_turnaround_s'))} | {f(t.get('effective_parallelism'))} | {d['max_queue_depth']} | `{folder.name}` |")


def main():
    web, worker = [], []
    for arg in sys.argv[1:]:
        folder = Path(arg)
        d = json.load(open(folder / "summary.json"))
        (web if d["kind"] == "web" else worker).append(web_row(d, folder) if d["kind"] == "web" else worker_row(d, folder))
    if web:
        print("| scenario | users | requests | req/s (run) | req/s (hold) | p50 ms | p95 ms | p99 ms | worst 1-s p95 in hold, ms | signup p95 ms | upload p95 ms | errors | verdict | results |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(web))
    if worker:
        print("| clip | concurrency | arrivals | jobs | processed | failed | videos/min | mean service s | p95 service s | mean turnaround s | parallelism | max queue | results |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        print("\n".join(worker))


if __name__ == "__main__":
    main()
