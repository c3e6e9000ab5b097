#!/usr/bin/env bash
# Single use when Redis forgets for real (trust rule 4): redis-server is
# killed with SIGKILL and started again with its data directory (AOF
# included) wiped, between a token's first use and a replay of its order.
# The PostgreSQL fence still refuses to run it again. And while Redis is
# down nothing runs; once it is back the waiting order runs exactly once.
# The trap brings the stack's Redis back, pass or fail.
. "$(dirname "$0")/lib.sh"

state=${WINGMAN_STATE_DIR:-/var/tmp/wingman}
restore() {
	stop_daemons
	"$src/scripts/stack" up >"$T/stack-up.log" 2>&1 || { echo "scripts/stack up failed:"; tail -n 20 "$T/stack-up.log"; }
	rm -rf "$T"
}
trap restore EXIT

redis() { redis-cli -u "$WINGMAN_REDIS_URL" "$@"; }

redis_kill() { # kill -9 the stack's redis-server, wait until it is gone
	local pid
	pid=$(cat "$state/pids/redis-auth.pid")
	[[ $pid =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = redis-server ] ||
	    fail "no redis-server at the pid in $state/pids/redis-auth.pid"
	kill -KILL "$pid"
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$pid" 2>/dev/null || fail "redis-server survived SIGKILL"
	! redis ping >/dev/null 2>&1 || fail "something still answers on the Redis port"
}

redis_up() { "$src/scripts/stack" up >"$T/stack-up.log" 2>&1 || fail "scripts/stack up failed"; }

jti_of() { # ORDER-FILE INDEX
	local p
	p=$(jq -r ".commands[$2].token" "$1" | cut -d. -f2 | tr '_-' '/+')
	while [ $((${#p} % 4)) -ne 0 ]; do p="$p="; done
	base64 -d <<<"$p" | jq -r .jti
}


start_daemons

say "a token is used once"
id=$("$W" submit --env test --worker agent-7 --text "restart" --cmd "docker restart wingman-test-demo")
first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "no prompt"
"$W" approve "$id" --as bob >/dev/null
"$W" wait "$id" --timeout 60 >"$T/first" || fail "first run failed: $(cat "$T/first")"
first_on wingman.orders "$id" 30 >"$T/order" || fail "no order"
jti=$(jti_of "$T/order" 0)
[ "$(redis EXISTS "wingman:jti:$jti")" = 1 ] || fail "the token's claim is not in Redis"
ok "restart executed; jti $jti claimed in Redis"

say "redis-server killed, its data wiped, started again"
redis_kill
rm -rf "${state:?}/redis-auth/"*
redis_up
[ "$(redis DBSIZE)" = 0 ] || fail "Redis came back with data"
[ "$(redis EXISTS "wingman:jti:$jti")" = 0 ] || fail "the claim survived the wipe"
ok "Redis restarted empty: the claim is gone"

say "the replayed order is refused by the PostgreSQL fence"
started=$(started_at wingman-test-demo)
w=$(events_watch wingman-test-demo start)
"$KT" produce wingman.orders "$id" <"$T/order"
"$KT" consume wingman.results "$id" --timeout 60 --count 2 >"$T/results" || true
[ "$(wc -l <"$T/results")" -ge 2 ] || fail "no answer to the replayed order"
[ "$(sed -n 2p "$T/results" | jq -c '[.status, .commands]')" = \
    "$(sed -n 1p "$T/results" | jq -c '[.status, .commands]')" ] || fail "the answer differs from the first result"
[ "$(started_at wingman-test-demo)" = "$started" ] || fail "the replay restarted the container"
[ "$(events_count "$w")" = 0 ] || fail "the container was started again"
[ "$(pgq "SELECT count(*) FROM executions WHERE jti = '$jti'")" = 1 ] || fail "executions rows"
[ "$(audit_count "$id" execution_result)" = 1 ] || fail "a second execution was audited"
[ "$(audit_count "$id" replay_answered)" -ge 1 ] || fail "the replay was not audited"
ok "replay answered with the stored result, container not restarted, audited"

say "Redis down: nothing runs; back up: the waiting order runs once"
redis_kill
before=$(started_at wingman-test-api)
w=$(events_watch wingman-test-api start)
id=$("$W" submit --env test --worker agent-7 --text "restart" --cmd "docker restart wingman-test-api")
first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "no prompt"
"$W" approve "$id" --as bob >/dev/null
first_on wingman.orders "$id" 30 >"$T/order2" || fail "no order"
sleep 8
[ "$(started_at wingman-test-api)" = "$before" ] || fail "the restart ran with Redis down"
! "$KT" consume wingman.results "$id" --timeout 2 --count 1 >/dev/null || fail "a result with Redis down"
[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$id'")" = 0 ] ||
    fail "an intent row was written with Redis down"
grep -q 'LEDGER_UNAVAILABLE: Redis' "$T/executor.log" || fail "the executor did not say Redis is down"
ok "8 s with Redis down: no intent row, no restart, no result"
redis_up
out=$("$W" wait "$id" --timeout 90) || fail "the order did not run once Redis was back: $out"
sleep 3
[ "$(events_count "$w")" = 1 ] || fail "wingman-test-api started $(events_count "$w") times"
[ "$("$KT" consume wingman.results "$id" --timeout 5 | wc -l)" = 1 ] || fail "more than one result"
[ "$(audit_count "$id" execution_result)" = 1 ] || fail "ran more than once"
ok "Redis back: executed exactly once"

daemons_alive
echo "$checks passed, 0 failed"
