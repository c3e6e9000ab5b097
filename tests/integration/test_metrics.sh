#!/usr/bin/env bash
# Health and metrics (issue 13, "Observable"): every daemon serves GET
# /healthz and GET /metrics on WINGMAN_HTTP_ADDR. Shows /healthz is 503
# before the consumer group assigns partitions and 200 once assigned with
# the stores answering; the counters move with one auto-approved request;
# promtool accepts every /metrics output, the alert rules and the scrape
# config; bad HTTP does not hurt a daemon; and /healthz turns 503 while
# PostgreSQL (every daemon) or Redis (the executor) is stopped, and back.
# Stops the stack's PostgreSQL and Redis; the trap starts them again.
. "$(dirname "$0")/lib.sh"

state=${WINGMAN_STATE_DIR:-/var/tmp/wingman}
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
FAKE=$src/tests/fakes/fake_telegram.py
PROM=$src/deploy/prometheus
SERVICES=(consensus approval token executor telegram auditor)
FAKE_PID=""
command -v promtool >/dev/null || fail "promtool is missing (Debian package prometheus)"

restore() {
	set +e
	stop_daemons
	[ -n "$FAKE_PID" ] && { kill "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null; }
	if ! "$pgbin/pg_isready" -q -d "$WINGMAN_PG_CONNINFO" ||
	    ! redis-cli -u "$WINGMAN_REDIS_URL" --no-auth-warning PING >/dev/null 2>&1; then
		"$src/scripts/stack" up >"$T/stack-up.log" 2>&1 ||
		    { echo "scripts/stack up failed:"; tail -n 20 "$T/stack-up.log"; }
	fi
	rm -rf "$T"
}
trap restore EXIT

# Six free loopback ports, one per daemon (the kernel picks them).
mapfile -t PORTS < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(7)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))')
declare -A ADDR
for i in "${!SERVICES[@]}"; do ADDR[${SERVICES[$i]}]=127.0.0.1:${PORTS[$i]}; done
SPARE=127.0.0.1:${PORTS[6]}

# code SERVICE PATH: the HTTP status (000 when nothing answers); the body lands in $T/body.
code() { curl -s -o "$T/body" -w '%{http_code}' --max-time 5 "http://${ADDR[$1]}$2" || true; }
metrics() { curl -sf --max-time 5 "http://${ADDR[$1]}/metrics"; }
# value FILE SAMPLE: the value of one sample line (name{labels} exactly), 0 when absent.
value() { awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }' "$1"; }
wait_health() { # SERVICE WANT(200|503) SECONDS
	local c
	for _ in $(seq 1 $(($3 * 4))); do
		c=$(code "$1" /healthz)
		[ "$c" = "$2" ] && return 0
		sleep 0.25
	done
	fail "$1: /healthz is $c, not $2, after $3 s: $(cat "$T/body" 2>/dev/null)"
}

# The Bot API fake for wingman-telegram (it never needs to answer a press here).
TOKEN="$(( (RANDOM << 15 | RANDOM) + 100000000 )):AA$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"
printf '%s\n' "$TOKEN" >"$T/tg.token"
chmod 600 "$T/tg.token"
/usr/bin/python3 "$FAKE" --token "$TOKEN" --port-file "$T/tg.port" --lifetime 600 >"$T/fake.log" 2>&1 9>&- &
FAKE_PID=$!
for _ in $(seq 1 50); do [ -s "$T/tg.port" ] && break; sleep 0.1; done
[ -s "$T/tg.port" ] || fail "the fake Bot API did not start"
export WINGMAN_TELEGRAM_API=http://127.0.0.1:$(cat "$T/tg.port") WINGMAN_TELEGRAM_TOKEN_FILE=$T/tg.token
export WINGMAN_TELEGRAM_CHAT_ID=-1001234567890 WINGMAN_TELEGRAM_APPROVERS="1001=alice,1002=bob"
export WINGMAN_TELEGRAM_POLL_S=2 WINGMAN_TELEGRAM_TIMEOUT_MS=3000

start() { # SERVICE [ENV=VALUE...]: one daemon in the background, serving on its address
	local s=$1
	shift
	WINGMAN_HTTP_ADDR=${ADDR[$s]} as_service "$s" env "$@" "$build/services/$s/wingman-$s" \
	    </dev/null >>"$T/$s.log" 2>&1 9>&- &
	DAEMON_PIDS+=($!)
}

say "configuration: a malformed WINGMAN_HTTP_ADDR is refused at -n"
for bad in nonsense 127.0.0.1 127.0.0.1:0 127.0.0.1:65536 :9101 '[::1]9101' 'a:b:9101'; do
	if (WINGMAN_HTTP_ADDR=$bad as_service token "$build/services/token/wingman-token" -n) \
	    >"$T/n.out" 2>&1; then
		fail "WINGMAN_HTTP_ADDR=$bad was accepted"
	fi
	grep -q 'CONFIG_INVALID: WINGMAN_HTTP_ADDR' "$T/n.out" || fail "$bad: $(cat "$T/n.out")"
done
out=$(WINGMAN_HTTP_ADDR=127.0.0.1:9101 as_service token "$build/services/token/wingman-token" -n 2>&1) ||
    fail "a good WINGMAN_HTTP_ADDR was refused: $out"
[ "$out" = "configuration OK" ] || fail "-n said: $out"
ok "malformed addresses refused (CONFIG_INVALID), HOST:PORT accepted"

say "no assignment, no health: an executor whose broker does not answer stays 503"
ADDR[lonely]=$SPARE
WINGMAN_HTTP_ADDR=$SPARE WINGMAN_KAFKA_BROKERS=127.0.0.1:9 as_service executor \
    "$build/services/executor/wingman-executor" </dev/null >"$T/lonely.log" 2>&1 9>&- &
lonely=$!
for _ in $(seq 1 40); do [ "$(code lonely /healthz)" != 000 ] && break; sleep 0.25; done
for _ in 1 2 3; do
	[ "$(code lonely /healthz)" = 503 ] || fail "/healthz without a broker: $(cat "$T/body")"
	grep -q '^kafka: ' "$T/body" || fail "the reason does not name Kafka: $(cat "$T/body")"
	sleep 1
done
metrics lonely >"$T/lonely.prom" || fail "/metrics not served without a broker"
[ "$(value "$T/lonely.prom" wingman_ready)" = 0 ] || fail "wingman_ready is not 0"
stop_pid "$lonely"
ok "503 \"$(cat "$T/body")\" while no partition is assigned"

say "no Docker engine: the executor's /healthz names it"
WINGMAN_HTTP_ADDR=$SPARE WINGMAN_KAFKA_BROKERS=127.0.0.1:9 WINGMAN_DOCKER_SOCKET=$T/no-docker.sock \
    as_service executor "$build/services/executor/wingman-executor" </dev/null >"$T/lonely.log" 2>&1 9>&- &
lonely=$!
for _ in $(seq 1 40); do [ "$(code lonely /healthz)" != 000 ] && break; sleep 0.25; done
[ "$(code lonely /healthz)" = 503 ] || fail "/healthz without Docker: $(cat "$T/body")"
grep -q '^docker: ' "$T/body" || fail "the reason does not name Docker: $(cat "$T/body")"
stop_pid "$lonely"
ok "503 \"$(cat "$T/body")\""

say "the six daemons: 503 until assigned, then 200"
for s in "${SERVICES[@]}"; do
	case $s in
	auditor) start auditor WINGMAN_AUDIT_CHECKPOINT_S=1 ;;
	*) start "$s" ;;
	esac
done
early=""
for _ in $(seq 1 40); do
	c=$(code approval /healthz)
	[ "$c" = 503 ] && { early=$(cat "$T/body"); break; }
	[ "$c" = 200 ] && break
	sleep 0.1
done
for s in "${SERVICES[@]}"; do wait_health "$s" 200 90; done
[ "$(cat "$T/body")" = ok ] || fail "the 200 body is not ok: $(cat "$T/body")"
# Seen when the first probe beats the group's join (usual, not guaranteed).
ok "all six answer 200 ok${early:+ (approval said 503 \"$early\" while joining)}"

say "one auto-approved request moves the counters"
for s in "${SERVICES[@]}"; do metrics "$s" >"$T/$s.before" || fail "$s: /metrics"; done
out=$("$W" submit --env test --worker agent-7 --text "look" --cmd "docker inspect wingman-test-demo" \
    --wait --timeout 60) || fail "the inspect did not execute: $out"
[ "$(jq -r .status <<<"$out")" = executed ] || fail "status: $out"
# The auditor handles the result after the CLI saw it: scraped until it has.
auditor_handled() {
	local k='wingman_messages_handled_total{topic="wingman.results",outcome="ok"}'
	metrics auditor >"$T/auditor.after" || return 1
	awk -v a="$(value "$T/auditor.after" "$k")" -v b="$(value "$T/auditor.before" "$k")" \
	    'BEGIN { exit !(a > b) }'
}
wait_for 60 auditor_handled || fail "auditor: the result was not handled"
for s in "${SERVICES[@]}"; do
	[ "$s" = auditor ] || metrics "$s" >"$T/$s.after" || fail "$s: /metrics"
done
moved() { # SERVICE SAMPLE
	local b a
	b=$(value "$T/$1.before" "$2")
	a=$(value "$T/$1.after" "$2")
	awk -v a="$a" -v b="$b" 'BEGIN { exit !(a > b) }' || fail "$1: $2 did not move ($b -> $a)"
	printf '   %s %s: %s -> %s\n' "$1" "$2" "$b" "$a"
}
moved consensus 'wingman_messages_handled_total{topic="wingman.requests",outcome="ok"}'
moved consensus 'wingman_handler_duration_seconds_count{topic="wingman.requests"}'
moved approval 'wingman_messages_handled_total{topic="wingman.assessments",outcome="ok"}'
moved token 'wingman_messages_handled_total{topic="wingman.decisions",outcome="ok"}'
moved executor 'wingman_messages_handled_total{topic="wingman.orders",outcome="ok"}'
moved executor 'wingman_ledger_claims_total{verdict="claimed"}'
moved executor 'wingman_docker_call_duration_seconds_count{action="inspect"}'
moved executor 'wingman_audit_rows_written_total{sink="postgresql"}'
moved auditor 'wingman_messages_handled_total{topic="wingman.results",outcome="ok"}'
grep -q '^wingman_approval_pending_requests [0-9]' "$T/approval.after" || fail "no pending gauge"
# The auditor signs a checkpoint once a second, and sets the gauge only
# once the log has a row to sign: on an empty database the first tick may
# come before this test's rows. Scraped until it is there.
checkpoint_age() {
	metrics auditor >"$T/auditor.age" &&
	    grep -q '^wingman_audit_checkpoint_age_seconds [0-9]' "$T/auditor.age"
}
wait_for 30 checkpoint_age || fail "no checkpoint age"
# The lag gauges are refreshed once a second (common/stage.c), and a new
# executor has a position to count from only once it has read an order:
# scraped until the gauge is there.
executor_lag() {
	metrics executor >"$T/executor.lag" &&
	    grep -q '^wingman_kafka_consumer_lag{topic="wingman.orders",partition="[0-9]*"} [0-9]' \
	        "$T/executor.lag"
}
wait_for 30 executor_lag || fail "no consumer lag for wingman.orders"
ok "handled, latency, claims, Docker calls, audit rows moved; pending, checkpoint age, lag present"

say "promtool: every /metrics, the alert rules, the scrape config"
for s in "${SERVICES[@]}"; do
	promtool check metrics <"$T/$s.after" >"$T/promtool-$s.out" 2>&1 ||
	    fail "$s: promtool check metrics: $(cat "$T/promtool-$s.out")"
done
promtool check rules "$PROM/alerts.yml" >"$T/rules.out" 2>&1 || fail "$(cat "$T/rules.out")"
promtool check config "$PROM/prometheus.yml" >"$T/config.out" 2>&1 || fail "$(cat "$T/config.out")"
promtool test rules "$PROM/alerts_test.yml" >"$T/rules-test.out" 2>&1 || fail "$(cat "$T/rules-test.out")"
# The rules name metrics the daemons really export.
for m in $(grep -o 'wingman_[a-z_]*' "$PROM/alerts.yml" | sort -u); do
	grep -qh "^# TYPE $m " "$T"/*.after || fail "alerts.yml names $m, which no daemon exports"
done
ok "promtool check metrics (6), check rules, test rules, check config pass"

say "bad HTTP: 404, 405, garbage, oversized headers; the daemon serves on"
[ "$(code executor /nope)" = 404 ] || fail "unknown path: not 404"
c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --path-as-is "http://${ADDR[executor]}/x/../metrics")
[ "$c" = 404 ] || fail "/x/../metrics: $c"
c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST --data x "http://${ADDR[executor]}/metrics")
[ "$c" = 405 ] || fail "POST /metrics: $c"
c=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X DELETE "http://${ADDR[executor]}/healthz")
[ "$c" = 405 ] || fail "DELETE /healthz: $c"
python3 - "${PORTS[3]}" <<'EOF' || fail "raw requests"
import socket, sys
port = int(sys.argv[1])
def send(data):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return s.recv(4096)
    except OSError:
        return b""
    finally:
        s.close()
send(b"\x00\xff garbage \r\n\r\n")
send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200000 + b"\r\n\r\n")
send(b"GET /healthz HTTP/9.9\r\n\r\n")
send(b"POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\nabc")
send(b"GET " + b"/" * 100000 + b" HTTP/1.1\r\n\r\n")
# More connections than the server takes, held open, then dropped.
held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(40)]
for h in held:
    h.close()
EOF
daemons_alive
wait_health executor 200 10
ok "404 and 405 answered; garbage, huge headers and a connection flood did not stop it"

say "PostgreSQL stopped: /healthz 503 naming it, then 200 once it is back"
runuser -u postgres -- "$pgbin/pg_ctl" -D "$state/postgres/data" stop -m fast >/dev/null
for s in approval executor auditor telegram; do
	wait_health "$s" 503 20
	grep -q '^postgresql: ' "$T/body" || fail "$s: the reason does not name PostgreSQL: $(cat "$T/body")"
done
metrics approval >"$T/approval.down" || fail "/metrics not served with PostgreSQL down"
[ "$(value "$T/approval.down" wingman_ready)" = 0 ] || fail "wingman_ready is not 0 with PostgreSQL down"
ok "503 \"$(cat "$T/body")\"; wingman_ready 0"
"$src/scripts/stack" up >"$T/stack-up.log" 2>&1 || fail "scripts/stack up: $(tail -n 5 "$T/stack-up.log")"
for s in "${SERVICES[@]}"; do wait_health "$s" 200 60; done
ok "PostgreSQL back: all six 200 again"

say "Redis stopped: the executor's /healthz 503 naming it, then 200"
redis_pid=$(cat "$state/pids/redis-auth.pid")
kill -TERM "$redis_pid"
wait_health executor 503 20
grep -q '^redis: ' "$T/body" || fail "the reason does not name Redis: $(cat "$T/body")"
reason=$(cat "$T/body")
[ "$(code approval /healthz)" = 200 ] || fail "approval (no Redis) turned unhealthy: $(cat "$T/body")"
ok "executor 503 \"$reason\"; approval still 200"
"$src/scripts/stack" up >"$T/stack-up.log" 2>&1 || fail "scripts/stack up: $(tail -n 5 "$T/stack-up.log")"
wait_health executor 200 60
ok "Redis back: executor 200 again"

daemons_alive
echo "$checks passed, 0 failed"
