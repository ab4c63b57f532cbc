#!/usr/bin/env bash
# CPU cost of the poster + hover preview inside the worker's one ffmpeg run
# (docs/PERFORMANCE.md §6). Runs the job's exact ffmpeg command (printed by
# crates/worker/examples/pipeline_args.rs) on a realistic clip — 45 s 1080p30,
# ~14 Mbit/s, testsrc2 through temporal noise (testclip::PhoneClip, made by
# crates/worker/examples/phone_clip.rs) — with and without the two extra
# outputs, interleaved, and prints user+system CPU seconds, wall time and peak RSS of
# each run, then the medians and the cost in percent.
# Usage: scripts/bench/posters.sh [runs=5]
# Needs a dev build of the example: cargo build --workspace --all-targets --locked
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/bench/env.sh
. scripts/bench/env.sh
runs="${1:-5}"
dir="$BENCH_DIR/posters"
mkdir -p "$dir/clips" "$dir/out"
export MEDIA_ASSETS_DIR="$dir/assets" FFMPEG_PRESET="${FFMPEG_PRESET:-veryfast}" RUST_LOG=warn
args_bin="$CARGO_TARGET_DIR/debug/examples/pipeline_args"
[ -x "$args_bin" ] || { echo "build first: cargo build --workspace --all-targets --locked" >&2; exit 1; }

# The phone-like clip of media::testclip (sensor-like noise that changes every frame keeps
# x264 from coasting on a static pattern), cached in SKILLREEL_TEST_CACHE.
clip=$(SKILLREEL_TEST_CACHE="${SKILLREEL_TEST_CACHE:-$dir/clips}" nice "$CARGO_TARGET_DIR/debug/examples/phone_clip" landscape 45)
echo "# clip: $(ffprobe -v error -show_entries format=duration,bit_rate -of compact=p=0 "$clip")"

mapfile -t with < <("$args_bin" "$clip" "$dir/out" with)
mapfile -t without < <("$args_bin" "$clip" "$dir/out" without)
echo "# with: ffmpeg ${with[*]}"
machine_facts

results="$dir/results.tsv"
: >"$results"
: >"$dir/branch.tsv"
run() { # <run number> <label> <args...>
  local i="$1" label="$2"; shift 2
  /usr/bin/time -f "%U %S %e %M" -o "$dir/time" ffmpeg -loglevel error "$@"
  read -r user sys wall rss <"$dir/time"
  local sizes=""
  [ "$label" = with ] && sizes="poster $(stat -c %s "$dir/out/poster.jpg") B, preview $(stat -c %s "$dir/out/preview.mp4") B"
  printf '%s\t%s\t%.2f\t%.2f\t%s\t%s\t%s\n' "$i" "$label" "$(echo "$user + $sys" | bc)" "$wall" "$rss" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$sizes" | tee -a "$results"
  rm -f "$dir/out/"*
}
printf 'run\tvariant\tcpu_s\twall_s\tmax_rss_kb\tloadavg\toutputs\n'
for i in $(seq 1 "$runs"); do
  # Alternate the order so drifting machine load hits both variants alike.
  if [ $((i % 2)) -eq 1 ]; then
    run "$i" without "${without[@]}"; run "$i" with "${with[@]}"
  else
    run "$i" with "${with[@]}"; run "$i" without "${without[@]}"
  fi
done
# The branch on its own: the poster and preview chains on a processed video, against a
# plain decode of the same file (what the branch adds, without the main encode's noise).
ffmpeg -loglevel error "${without[@]}"
mapfile -t branch < <("$args_bin" "$clip" "$dir/out" branch)
for i in $(seq 1 "$runs"); do
  for variant in decode branch; do
    if [ "$variant" = decode ]; then
      /usr/bin/time -f "%U %S" -o "$dir/time" ffmpeg -loglevel error -nostdin -i "$dir/out/processed.mp4" -f null -
    else
      /usr/bin/time -f "%U %S" -o "$dir/time" ffmpeg -loglevel error "${branch[@]}"
    fi
    read -r user sys <"$dir/time"
    printf '%s\t%s\t%.2f\n' "$i" "$variant" "$(echo "$user + $sys" | bc)" | tee -a "$dir/branch.tsv"
  done
done
rm -f "$dir/out/"*
machine_facts
python3 - "$dir/branch.tsv" <<'PY'
import statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]) if line.strip()]
cpu = {(r[0], r[1]): float(r[2]) for r in rows}
d = sorted(cpu[(i, "branch")] - cpu[(i, "decode")] for i, v in cpu if v == "branch")
print(f"branch alone (branch - decode, same run): {', '.join(f'{x:+.2f}' for x in d)}; median {statistics.median(d):+.2f} s")
PY
python3 - "$results" <<'PY'
import statistics, sys
rows = [line.rstrip("\n").split("\t") for line in open(sys.argv[1]) if line.strip()]
med = lambda label, col: statistics.median(float(r[col]) for r in rows if r[1] == label)
cpu_w, cpu_o = med("with", 2), med("without", 2)
print(f"median cpu_s: without {cpu_o:.2f}, with {cpu_w:.2f} -> +{cpu_w - cpu_o:.2f} s "
      f"({(cpu_w - cpu_o) / cpu_o * 100:.1f} % of the run)")
cpu = {(r[0], r[1]): float(r[2]) for r in rows}
pairs = sorted(cpu[(i, "with")] - cpu[(i, "without")] for i, v in cpu if v == "with")
print(f"paired differences (with - without, same run): {', '.join(f'{d:+.2f}' for d in pairs)}; "
      f"median {statistics.median(pairs):+.2f} s ({statistics.median(pairs) / cpu_o * 100:+.1f} %)")
print(f"median wall_s: without {med('without', 3):.2f}, with {med('with', 3):.2f}; "
      f"median max RSS: without {med('without', 4) / 1024:.0f} MiB, with {med('with', 4) / 1024:.0f} MiB")
PY
