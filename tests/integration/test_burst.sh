#!/usr/bin/env bash
# A burst through the batching stage loop and the executor's lanes: every
# request answered exactly once with the right status, every order run once
# (one ledger row per command), each request's audit story complete, and the
# hash chain intact although several writers commit rows a batch at a time.
# Asserts no time: the rate only makes batches and lanes fill up.
. "$(dirname "$0")/lib.sh"

LG=$build/bench/loadgen
[ -x "$LG" ] || fail "$LG is not built"
# The stack's policy plus `shadow`: `test` without Docker calls.
jq '.environments.shadow = (.environments.test + {execute: false})' "$WINGMAN_POLICY_FILE" \
    >"$T/policy.json"
export WINGMAN_POLICY_FILE=$T/policy.json
start_daemons

# burst ENV STATUS: 3 s at 100 requests/s; prints loadgen's summary line.
# Counted as lost only after 60 s without an answer (loadgen's default, 5 s,
# is a benchmark's patience, not a test's: this one asserts no time).
burst() {
	"$LG" --brokers "$WINGMAN_KAFKA_BROKERS" --prefix wingman --env "$1" \
	    --cmd "docker inspect wingman-test-api" --rate 100 --seconds 3 --expect "$2" \
	    --drain-idle-ms 60000 \
	    2>"$T/loadgen-$1.err" | tail -n 1
}
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

for env in test shadow; do
	status=executed
	[ "$env" = shadow ] && status=shadow
	say "300 requests in 3 s to $env: each answered once, $status"
	line=$(burst "$env" "$status") || fail "loadgen failed: $(cat "$T/loadgen-$env.err")"
	echo "   $line"
	[ "$(field "$line" sent)" = 300 ] || fail "sent: $line"
	[ "$(field "$line" answered)" = 300 ] || fail "answered: $line"
	for k in lost duplicates bad_status produce_errors; do
		[ "$(field "$line" "$k")" = 0 ] || fail "$k: $line"
	done
	ok "$env: 300 sent, 300 answered, none lost, twice or with another status"
done

# loadgen's request ids are PREFIX-N; the prefix is in its stderr.
prefixes=$(sed -n 's/.*prefix_id=\([^ ]*\).*/\1/p' "$T"/loadgen-*.err | sort -u)
[ "$(wc -l <<<"$prefixes")" = 2 ] || fail "loadgen did not name its request id prefixes: $(cat "$T"/loadgen-*.err)"
like=$(sed "s/.*/request_id LIKE '&-%'/" <<<"$prefixes" | paste -sd '|' | sed 's/|/ OR /g')

say "the ledger and the audit log, read back"
[ "$(pgq "SELECT count(*) FROM executions WHERE $like")" = 600 ] || fail "executions: $(pgq "SELECT count(*) FROM executions WHERE $like")"
[ "$(pgq "SELECT count(DISTINCT (request_id, cmd_index)) FROM executions WHERE $like")" = 600 ] ||
    fail "a command has two ledger rows"
[ "$(pgq "SELECT count(*) FROM executions WHERE ($like) AND state = 'done'")" = 600 ] ||
    fail "not every command finished"
for event in request_received assessed auto_approved token_minted execution_intent execution_result result; do
	n=$(pgq "SELECT count(*) FROM audit_log WHERE ($like) AND event = '$event'")
	[ "$n" = 600 ] || fail "audit rows $event: $n, want 600"
done
ok "600 ledger rows, one per command, all done; 7 audit rows per request"
out=$("$W" audit verify) || fail "audit verify: $out"
ok "the hash chain holds: $(head -n 1 <<<"$out")"
