#!/usr/bin/env bash
# Vote night (issue 15): votes/s and their latency, rankings read during the flood, and how
# soon a vote shows in the rankings, for both owner distributions. Drives a release
# skillreel-web started here (RATE_LIMITS=off: every vote comes from this one address)
# with the load harness's `votes` scenario (load-tests/README.md): 1,000 voters x 100
# public videos seeded per run, 64 keep-alive connections, every pair voted once.
#
# Usage: scripts/bench/votes.sh [rounds, default 3] [extra `skillreel-load votes` flags...]
#   scripts/bench/votes.sh 5                                   # 5 x (distinct, one), interleaved
#   scripts/bench/votes.sh 3 --readers 8 --reader-city seeded  # with rankings readers
# The runs seed and delete their own players and videos, so any migrated database works;
# on skillreel_bench seeded as in docs/PERFORMANCE.md §1 (10,000 ranked players) the
# rankings readers read what the read-path figures read.
# Env: NO_BUILD=1 skips the release build; BENCH_PORT (default: a free port); BIN, BENCH_DB_URL (default
# skillreel_bench, created when missing, migrated by the web) as in scripts/bench/env.sh;
# VOTES_RESULTS_DIR (default var/bench/votes, git-ignored) receives one folder per run.
# Prints one line per run, then a markdown table of the medians per owner distribution.
set -euo pipefail
# shellcheck source=scripts/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
cd "$REPO_ROOT"
# A free port unless one is given: a web already listening on the default port would
# otherwise answer the readiness check and be measured instead.
BENCH_PORT="${BENCH_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
# shellcheck source=scripts/bench/env.sh
source scripts/bench/env.sh
ROUNDS="${1:-3}"
shift || true
RESULTS="${VOTES_RESULTS_DIR:-$REPO_ROOT/var/bench/votes}"
mkdir -p "$RESULTS"

if [ -z "${NO_BUILD:-}" ]; then
  log "cargo build --release (skillreel-web, skillreel-load)"
  cargo build --release --locked -p skillreel-web -p skillreel-load
fi

db_name="${BENCH_DB_URL##*/}"
psql -q "${BENCH_DB_URL%/*}/postgres" -tc "SELECT 1 FROM pg_database WHERE datname = '$db_name'" | grep -q 1 \
  || psql -q "${BENCH_DB_URL%/*}/postgres" -c "CREATE DATABASE \"$db_name\""

cleanup() {
  stop_web || true
  # One key a line: the cache keys of a city's ranking hold the city, spaces included.
  redis-cli --scan --pattern "$BENCH_PREFIX:*" 2>/dev/null | xargs -r -d '\n' redis-cli del >/dev/null 2>&1 || true
}
trap cleanup EXIT
start_web RATE_LIMITS=off
kill -0 "$WEB_PID" 2>/dev/null || die "the web exited at start (port $BENCH_PORT taken?); see $BENCH_DIR/web.log"

# votes OWNERS LABEL RESULTS-DIR [flags...]: one harness run; prints its results folder.
votes() {
  local owners="$1" label="$2" dir="$3"; shift 3
  local out
  out=$(DATABASE_URL="$BENCH_DB_URL" "$BIN/skillreel-load" votes --base-url "$BENCH_URL" \
    --owners "$owners" --web-pid "$WEB_PID" --label "$label" --results-dir "$dir" "$@")
  sed -n '/^owners /{p;n;p;}' <<<"$out" >&2
  sed -n 's/^results: //p' <<<"$out"
}

machine_facts
echo "# web $BIN/skillreel-web (pid $WEB_PID) on $BENCH_DB_URL; $ROUNDS rounds; extra flags: ${*:-none}"
# One small unrecorded run first: the web's database pool and PostgreSQL's caches warm up.
votes distinct warmup "$BENCH_DIR/votes-warmup" --voters 100 --videos 10 --no-probe \
  >"$BENCH_DIR/votes-warmup.log" 2>&1 || die "the warm-up run failed; see $BENCH_DIR/votes-warmup.log"
runs=()
for round in $(seq 1 "$ROUNDS"); do
  for owners in distinct one; do
    dir=$(votes "$owners" "r$round" "$RESULTS" "$@")
    runs+=("$dir")
  done
done
machine_facts

python3 - "${runs[@]}" <<'PY'
import json, statistics, sys

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def fmt(v, digits=0):
    return "-" if v is None else f"{v:,.{digits}f}"

rows = {}
for path in sys.argv[1:]:
    with open(f"{path}/summary.json") as f:
        s = json.load(f)
    rows.setdefault(s["settings"]["owners"], []).append(s)

print()
print("| videos' owners | runs | votes/s | p50 ms | p90 ms | p99 ms | max ms | 200 | 400 | other | "
      "reads/s | reads p50 ms | reads p99 ms | lag p50 ms | lag max ms | harness CPU % | web CPU % | counts |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for owners, runs in rows.items():
    def pick(f):
        out = []
        for s in runs:
            try:
                out.append(f(s))
            except (KeyError, TypeError):
                out.append(None)
        return median(out)
    lat = lambda k: pick(lambda s: s["votes"]["latency"][k])
    read = lambda k: pick(lambda s: s["readers"]["latency"][k])
    lag = lambda k: pick(lambda s: s["probe"]["lag"][k])
    share = lambda k: pick(lambda s: 100 * s[k] / s["elapsed_s"])
    ok = all(
        s["votes"]["ok"] == s["pairs"]["expected_ok"]
        and s["votes"]["rejected"] == s["pairs"]["expected_rejected"]
        and s["recount"]["vote_rows"] == s["votes"]["ok"]
        and s["recount"]["consistent"]
        for s in runs
    )
    other = pick(lambda s: s["votes"]["requests"] - s["votes"]["ok"] - s["votes"]["rejected"])
    label = {"distinct": "one per video", "one": "one player owns all"}.get(owners, owners)
    print(f"| {label} | {len(runs)} | **{fmt(pick(lambda s: s['votes']['per_s']))}** | {fmt(lat('p50_ms'), 1)} | "
          f"{fmt(lat('p90_ms'), 1)} | {fmt(lat('p99_ms'), 1)} | {fmt(lat('max_ms'), 1)} | "
          f"{fmt(pick(lambda s: s['votes']['ok']))} | {fmt(pick(lambda s: s['votes']['rejected']))} | {fmt(other)} | "
          f"{fmt(pick(lambda s: s['readers']['per_s']))} | {fmt(read('p50_ms'), 1)} | {fmt(read('p99_ms'), 1)} | "
          f"{fmt(lag('p50_ms'))} | {fmt(lag('max_ms'))} | {fmt(share('harness_cpu_s'))} | {fmt(share('web_cpu_s'))} | "
          f"{'ok' if ok else 'MISMATCH'} |")
print()
print("Medians per column. votes/s: 200s per second between the warm-up and the moment the pairs ran out;")
print("CPU %: CPU seconds during the flood / its length (100 % = one core); counts: every run's 200s/400s")
print("matched the plan and the rows/counters in PostgreSQL. Run folders: " + (sys.argv[1].rsplit("/", 1)[0] if len(sys.argv) > 1 else "-"))
PY
