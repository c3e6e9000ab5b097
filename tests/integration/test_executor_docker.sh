#!/usr/bin/env bash
# A Docker engine that accepts connections and never answers (trust rule 7):
# the executor, pointed at it through WINGMAN_DOCKER_SOCKET, gives up after
# WINGMAN_DOCKER_TIMEOUT_MS, ends the request `failed` with DOCKER_TIMEOUT,
# and stays alive for the next order.
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

daemons_alive
echo "$checks passed, 0 failed"
