#!/bin/bash
# Runs one libFuzzer target for a short time on a scratch copy of its seed
# corpus (the checked-in corpus is never written to). Exits non-zero on any
# crash, leak, sanitizer report or timeout, and shows the reproducer.
#
#   run_fuzz.sh FUZZER_BINARY SEED_DIR SECONDS
set -euo pipefail

bin=$1 seeds=$2 seconds=$3
[ -x "$bin" ] || { echo "FAIL: fuzzer $bin was not built (is clang installed?)" >&2; exit 1; }
[ -d "$seeds" ] || { echo "FAIL: no seed corpus at $seeds" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/wingman-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
set +e
"$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1
rc=$?
set -e
tail -n 25 "$work/log"
if [ $rc -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
	echo "FAIL: $(basename "$bin") exited $rc; reproducers:" >&2
	for f in "$work"/artifacts/*; do
		[ -f "$f" ] || continue
		echo "--- $(basename "$f") (base64)" >&2
		base64 -w 76 "$f" | head -n 40 >&2
	done
	exit 1
fi
echo "ok: $(basename "$bin") ran ${seconds}s from $(ls "$seeds" | wc -l) seeds without a finding"
