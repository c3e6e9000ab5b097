#!/usr/bin/env bash
# A Docker engine that accepts connections and never answers (trust rule 7):
# the executor, pointed at it through WINGMAN_DOCKER_SOCKET, gives up after
# WINGMAN_DOCKER_TIMEOUT_MS, ends a read `failed` with DOCKER_TIMEOUT, and
# stays alive for the next order. A restart the engine received may have
# happened: it ends `interrupted` (EXEC_OUTCOME_UNKNOWN), never `failed`,
# and a redelivery says the same; with no engine at all it is `failed`.
. "$(dirname "$0")/lib.sh"

hung=$T/hung-docker.sock
python3 - "$hung" >"$T/hung.log" 2>&1 <<'EOF' &
# Accepts every connection, reads what is sent, answers nothing, ever.
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(64)
held = []
while True:
    c, _ = s.accept()
    c.settimeout(0.5)
    try:
        c.recv(65536)
    except OSError:
        pass
    held.append(c)
EOF
DAEMON_PIDS+=($!)
for _ in $(seq 1 50); do [ -S "$hung" ] && break; sleep 0.1; done
[ -S "$hung" ] || fail "the hung engine did not start"

for s in consensus approval token; do
	as_service "$s" "$build/services/$s/wingman-$s" >"$T/$s.log" 2>&1 &
	DAEMON_PIDS+=($!)
done
WINGMAN_DOCKER_SOCKET=$hung WINGMAN_DOCKER_TIMEOUT_MS=1500 \
    as_service executor "$build/services/executor/wingman-executor" >"$T/executor.log" 2>&1 &
exec_pid=$!
DAEMON_PIDS+=($exec_pid)

say "an engine that never answers: failed, DOCKER_TIMEOUT"
for cmd in "docker inspect wingman-test-demo" "docker logs --tail 5 wingman-test-api"; do
	set +e
	out=$("$W" submit --env test --worker agent-7 --text "hung engine" --cmd "$cmd" --wait --timeout 60)
	rc=$?
	set -e
	[ $rc -eq 1 ] || fail "'$cmd': wait exited $rc: $out"
	[ "$(jq -r .status <<<"$out")" = failed ] || fail "'$cmd': status: $out"
	jq -r .reason <<<"$out" | grep -q '^DOCKER_TIMEOUT: ' || fail "'$cmd': reason: $out"
	[ "$(jq -r '.commands[0].status' <<<"$out")" = failed ] || fail "'$cmd': command: $out"
	id=$(jq -r .request_id <<<"$out")
	[ "$(audit_count "$id" execution_result)" = 1 ] || fail "'$cmd': result not audited"
	kill -0 "$exec_pid" 2>/dev/null || fail "the executor died on a hung engine"
	ok "'$cmd': failed, $(jq -r .reason <<<"$out" | cut -c1-60)…; executor alive"
done
grep -q 'event=result .*status=failed reason="DOCKER_TIMEOUT' "$T/executor.log" ||
    fail "the executor's log does not name DOCKER_TIMEOUT"
ok "the reason reaches the executor's log, the audit row and the result"

# order ID CMD: a genuine order (the stack's token key) for one command.
order() {
	local tok
	tok=$("$W" token mint --key "$WINGMAN_KEYS_DIR/token.key" --kid token --sub agent-7 \
	    --env test --request-id "$1" --cmd "$2" --ttl 120 --approved-by bob)
	jq -cn --arg id "$1" --arg c "$2" --arg t "$tok" --argjson ev "$(evidence_json "$1" test agent-7 "$2")" \
	    '{v: 1, type: "order", request_id: $id, ts: (now | strftime("%Y-%m-%dT%H:%M:%S.000Z")),
	      worker_id: "agent-7", environment: "test", commands: [{cmd: $c, token: $t}], evidence: $ev}' |
	    "$KT" sign "$WINGMAN_KEYS_DIR" token
}

# run_filter SOCKET ID ORDER: the executor's answer, in filter mode.
run_filter() {
	printf '{"topic":"wingman.orders","key":"%s","value":%s}\n' "$2" "$3" |
	    WINGMAN_DOCKER_SOCKET=$1 WINGMAN_DOCKER_TIMEOUT_MS=1500 \
	    as_service executor "$build/services/executor/wingman-executor" --stdin 2>>"$T/filter.log" >"$T/out" ||
	    fail "executor --stdin exited non-zero for $2"
	jq -c 'select(.topic == "wingman.results") | .value' "$T/out"
}

say "a restart the hung engine received: interrupted, EXEC_OUTCOME_UNKNOWN"
id=$(new_id)
o=$(order "$id" "docker restart -t 0 wingman-test-demo")
res=$(run_filter "$hung" "$id" "$o")
[ "$(jq -r .status <<<"$res")" = interrupted ] || fail "restart on a hung engine: $res"
jq -r .reason <<<"$res" | grep -q '^EXEC_OUTCOME_UNKNOWN: .*DOCKER_TIMEOUT: ' || fail "reason: $res"
[ "$(pgq "SELECT count(*) FROM audit_log WHERE request_id = '$id' AND event = 'result'
    AND content LIKE '%interrupted%' AND content LIKE '%EXEC_OUTCOME_UNKNOWN%'")" = 1 ] || fail "not audited"
ok "interrupted, $(jq -r .reason <<<"$res" | cut -c1-60)…, audited"
res=$(run_filter "$hung" "$id" "$o")
[ "$(jq -r .status <<<"$res")" = interrupted ] || fail "redelivered: $res"
[ "$(audit_count "$id" execution_result)" = 1 ] || fail "the redelivery called the engine again"
ok "the redelivered order reads the stored outcome: interrupted, not called again"

say "a restart with no engine at all: failed (nothing was sent)"
id=$(new_id)
res=$(run_filter "$T/no-such-docker.sock" "$id" "$(order "$id" "docker restart -t 0 wingman-test-demo")")
[ "$(jq -r .status <<<"$res")" = failed ] || fail "restart without an engine: $res"
jq -r .reason <<<"$res" | grep -q '^DOCKER_UNAVAILABLE: ' || fail "reason: $res"
ok "failed, DOCKER_UNAVAILABLE"

daemons_alive
echo "$checks passed, 0 failed"
