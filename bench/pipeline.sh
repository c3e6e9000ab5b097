#!/usr/bin/env bash
# End-to-end latency of auto-approved requests through the four daemons on
# the local stack: submit, consensus, approval, token, executor, result.
# Prints per-request latency percentiles; asserts nothing.
#
#   bench/pipeline.sh [REQUESTS]     (needs scripts/stack up and a build)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
build=${WINGMAN_BUILD_DIR:-$repo/build}
n=${1:-50}
eval "$("$repo/scripts/stack" env)"
logs=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$logs"' EXIT
# Each daemon with its own database role, Redis for the executor alone (as bench/run).
for s in consensus approval token executor; do
	v=WINGMAN_PG_CONNINFO_${s^^}
	if [ "$s" = executor ]; then
		(WINGMAN_PG_CONNINFO=${!v} exec "$build/services/$s/wingman-$s" >"$logs/$s.log" 2>&1) &
	else
		(WINGMAN_PG_CONNINFO=${!v} exec env -u WINGMAN_REDIS_URL "$build/services/$s/wingman-$s" \
		    >"$logs/$s.log" 2>&1) &
	fi
	pids+=($!)
done
# The first request pays for consumer-group joins: warm up, then measure.
"$build/services/cli/wingman" submit --env test --worker bench --text warmup \
    --cmd "docker inspect wingman-test-api" --wait --timeout 60 >/dev/null
: >"$logs/ms"
for i in $(seq 1 "$n"); do
	t0=$(date +%s%N)
	"$build/services/cli/wingman" submit --env test --worker bench --text "bench $i" \
	    --cmd "docker inspect wingman-test-api" --wait --timeout 60 >/dev/null
	echo $((($(date +%s%N) - t0) / 1000000)) >>"$logs/ms"
done
sort -n "$logs/ms" | awk -v n="$n" '{a[NR]=$1; s+=$1} END {
	printf "requests %d  mean %.0f ms  p50 %d ms  p95 %d ms  max %d ms\n",
	    n, s/NR, a[int(NR*0.5)+ (NR*0.5>int(NR*0.5))], a[int(NR*0.95)+(NR*0.95>int(NR*0.95))], a[NR] }'
echo "(a new CLI process per request: its start, Kafka metadata, partition assignment and the pipeline)"
