#!/usr/bin/env bash
# Two recd builds side by side, serving the same split90 model: the
# daemon's CPU time per request (from /proc/PID/stat around each run) and
# p50/p99 latency paced at RATE, ROUNDS rounds with the builds interleaved
# (old then new, then new then old, ...), all driven by NEW's recctl.
#
#   RECD_DATASETS=../shared/datasets benches/serving-ab.sh OLD_BIN_DIR NEW_BIN_DIR [ROUNDS] [RATE] [SECONDS]
#
# OLD_BIN_DIR and NEW_BIN_DIR hold `recd` and `recctl` (e.g. two checkouts'
# target/release). Prints one line per run and the medians per build.
# To compare a setting on one build, give the same dir twice and NEW_CONFIG,
# config text (printf's escapes) appended to NEW's config; with SCRAPE_URL
# set, NEW's runs have it fetched every second (e.g. a [metrics] endpoint).
# OLD_ALGORITHM and NEW_ALGORITHM (default: the default model) pick the model
# each side serves, trained by NEW's `recd train --algorithm`: the same dir
# twice with OLD_ALGORITHM=svd NEW_ALGORITHM=bayes_svdpp compares the models.
set -euo pipefail
old=$(realpath "$1") new=$(realpath "$2") rounds=${3:-5} rate=${4:-30000} secs=${5:-4}
split=${RECD_DATASETS:?set RECD_DATASETS}/ml-1m-part
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

mkdir -p "$work/data"
ln -s "$split/split90/train.dat" "$work/data/ratings.dat"
ln -s "$split/movies.dat" "$work/data/movies.dat"
for label in old new; do
    var=${label^^}_ALGORITHM
    "$new/recd" train --no-database --dataset "$work/data" --models-dir "$work/$label-models" \
        ${!var:+--algorithm "${!var}"} >/dev/null
done

tick=$(getconf CLK_TCK)
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

run() { # label bin_dir
    local label=$1 bin=$2 dir="$work/$1"
    mkdir -p "$dir"
    cat >"$dir/recd.toml" <<CONF
[paths]
dataset = "$work/data"
dataset_url = ""
models_dir = "$work/$label-models"
state_dir = "$dir/state"
[daemon]
socket = "$dir/recd.sock"
admin_group = ""
[logging]
dir = "$dir/logs"
level = "warn"
CONF
    if [ "$label" = new ]; then printf '%b' "${NEW_CONFIG:-}" >>"$dir/recd.toml"; fi
    "$bin/recd" --config "$dir/recd.toml" 2>/dev/null &
    local pid=$!
    pids+=("$pid")
    for _ in $(seq 200); do
        "$new/recctl" --socket "$dir/recd.sock" --json stats 2>/dev/null | grep -q '"available": true' && break
        sleep 0.05
    done
    local before after out scraper=
    if [ "$label" = new ] && [ -n "${SCRAPE_URL:-}" ]; then
        (while sleep 1; do curl -sf -o /dev/null "$SCRAPE_URL" || echo "scrape failed" >&2; done) &
        scraper=$!
    fi
    before=$(cpu "$pid")
    out=$("$new/recctl" --socket "$dir/recd.sock" --json bench -c 32 -d "$secs" -r "$rate")
    after=$(cpu "$pid")
    if [ -n "$scraper" ]; then kill "$scraper"; wait "$scraper" 2>/dev/null || true; fi
    kill "$pid"; wait "$pid" 2>/dev/null || true
    python3 - "$label" "$before" "$after" "$tick" "$out" <<'PY'
import json, sys
label, before, after, tick, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
m = json.loads(out)["methods"][0]
cpu_us = (after - before) / tick * 1e6 / m["requests"]
print(f'{label} requests {m["requests"]} errors {m["errors"]} p50_us {m["p50_us"]} p99_us {m["p99_us"]} cpu_us_per_request {cpu_us:.1f}')
PY
}

results=$work/results
for r in $(seq "$rounds"); do
    if (( r % 2 )); then order="old new"; else order="new old"; fi
    for label in $order; do
        if [ "$label" = old ]; then bin=$old; else bin=$new; fi
        run "$label" "$bin" | tee -a "$results"
    done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for label in ("old", "new"):
    mine = [dict(zip(r[1::2], r[2::2])) for r in rows if r[0] == label]
    med = lambda k: statistics.median(float(x[k]) for x in mine)
    print(f"{label}: median p50 {med('p50_us'):.0f} us, p99 {med('p99_us'):.0f} us, "
          f"CPU {med('cpu_us_per_request'):.1f} us/request over {len(mine)} runs")
PY
