#!/usr/bin/env bash
# The durable fence (trust rules 4 and 7): with PostgreSQL down the executor
# cannot write an intent row, so nothing runs and the order is not skipped:
# it is retried, and once PostgreSQL is back it runs exactly once.
# Stops the stack's PostgreSQL; the trap starts it again, pass or fail.
. "$(dirname "$0")/lib.sh"

state=${WINGMAN_STATE_DIR:-/var/tmp/wingman}
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
restore() {
	stop_daemons
	"$src/scripts/stack" up >"$T/stack-up.log" 2>&1 || { echo "scripts/stack up failed:"; tail -n 20 "$T/stack-up.log"; }
	rm -rf "$T"
}
trap restore EXIT

pg_stop() {
	runuser -u postgres -- "$pgbin/pg_ctl" -D "$state/postgres/data" stop -m fast >/dev/null
	! "$pgbin/pg_isready" -q -d "$WINGMAN_PG_CONNINFO" || fail "PostgreSQL is still up"
}

jti_of() { # ORDER-FILE INDEX
	local p
	p=$(jq -r ".commands[$2].token" "$1" | cut -d. -f2 | tr '_-' '/+')
	while [ $((${#p} % 4)) -ne 0 ]; do p="$p="; done
	base64 -d <<<"$p" | jq -r .jti
}

say "orders wait on the topic: one approved restart, one auto-approved inspect"
for s in consensus approval token; do
	as_service "$s" "$build/services/$s/wingman-$s" >"$T/$s.log" 2>&1 &
	DAEMON_PIDS+=($!)
done
restart=$("$W" submit --env test --worker agent-7 --text "restart" --cmd "docker restart wingman-test-api")
first_on wingman.approval-prompts "$restart" 30 >/dev/null || fail "no prompt"
"$W" approve "$restart" --as bob >/dev/null
inspect=$("$W" submit --env test --worker agent-7 --text "look" --cmd "docker inspect wingman-test-demo")
first_on wingman.orders "$restart" 30 >"$T/order-restart" || fail "no order for the restart"
first_on wingman.orders "$inspect" 30 >"$T/order-inspect" || fail "no order for the inspect"
ok "two orders published, no executor running yet"

say "PostgreSQL down: the executor runs nothing"
before=$(started_at wingman-test-api)
w=$(events_watch wingman-test-api start)
pg_stop
as_service executor "$build/services/executor/wingman-executor" >"$T/executor.log" 2>&1 &
exec_pid=$!
DAEMON_PIDS+=($exec_pid)
sleep 10
kill -0 "$exec_pid" 2>/dev/null || fail "the executor died with PostgreSQL down"
[ "$(started_at wingman-test-api)" = "$before" ] || fail "the restart ran without the intent row"
for id in "$restart" "$inspect"; do
	! "$KT" consume wingman.results "$id" --timeout 2 --count 1 >/dev/null ||
	    fail "a result for $id was published with PostgreSQL down"
done
grep -q 'event=tempfail .*reason="\(AUDIT\|LEDGER\)_UNAVAILABLE' "$T/executor.log" ||
    fail "no tempfail in the executor's log"
for f in "$T/order-restart" "$T/order-inspect"; do
	[ "$(redis-cli -u "$WINGMAN_REDIS_URL" EXISTS "wingman:jti:$(jti_of "$f" 0)")" = 0 ] ||
	    fail "a token was claimed in Redis with PostgreSQL down"
done
ok "10 s with PostgreSQL down: no restart, no result, no claim; the executor retries"

say "PostgreSQL back: each order runs exactly once"
"$src/scripts/stack" up >"$T/stack-up.log" 2>&1 || fail "scripts/stack up failed"
out=$("$W" wait "$restart" --timeout 90) || fail "the restart did not execute: $out"
out=$("$W" wait "$inspect" --timeout 90) || fail "the inspect did not execute: $out"
after=$(started_at wingman-test-api)
[ "$after" != "$before" ] || fail "the restart did not run"
sleep 3
for id in "$restart" "$inspect"; do
	[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$id' AND state = 'done'")" = 1 ] ||
	    fail "$id: executions rows"
	[ "$(audit_count "$id" execution_result)" = 1 ] || fail "$id: ran more than once"
	n=$({ "$KT" consume wingman.results "$id" --timeout 5 || true; } | wc -l)
	[ "$n" = 1 ] || fail "$id: $n results"
done
starts=$(events_count "$w")
[ "$starts" = 1 ] || fail "wingman-test-api started $starts times"
ok "restart and inspect executed once each: one intent row, one result, one container start"

daemons_alive
echo "$checks passed, 0 failed"
