# Shared by the integration tests: the four daemons against the local stack
# (scripts/stack up; its environment exported by scripts/test), and small
# helpers. Every check that fails calls fail, which exits non-zero.
set -euo pipefail

src=${WINGMAN_SOURCE_DIR:?}
build=${WINGMAN_BUILD_DIR:?}
: "${WINGMAN_KAFKA_BROKERS:?run through scripts/test: the stack environment is missing}"
: "${WINGMAN_PG_CONNINFO:?}" "${WINGMAN_REDIS_URL:?}" "${WINGMAN_KEYS_DIR:?}"
export WINGMAN_POLICY_FILE=${WINGMAN_POLICY_FILE:-$src/config/policy.json}
export WINGMAN_CONSENSUS_FILE=${WINGMAN_CONSENSUS_FILE:-$src/config/consensus.json}

# One pipeline test at a time on the shared stack: they share topics and
# consumer groups.
exec 9>"${WINGMAN_STATE_DIR:-/var/tmp/wingman}/itest.lock"
flock 9

W=$build/services/cli/wingman
KT=$build/tests/kafka_tool
JT=$build/tests/jws_tool
DOCKER_SOCKET=${WINGMAN_DOCKER_SOCKET:-/var/run/docker.sock}
T=$(mktemp -d "${TMPDIR:-/tmp}/wingman-itest.XXXXXX")
DAEMON_PIDS=()
checks=0

say() { printf '== %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	for f in "$T"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -n 15 "$f"; }; done >&2
	exit 1
}
ok() { checks=$((checks + 1)); printf 'ok %d - %s\n' "$checks" "$*"; }

cleanup() {
	stop_daemons
	local f
	for f in "$T"/events-*.pid; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done
	[ -z "$PRIVATE_DB" ] || private_database_drop
	rm -rf "$T"
}
trap cleanup EXIT
# A test killed by ctest's timeout still stops its daemons.
trap 'exit 143' TERM INT

# as_service SERVICE CMD...: runs CMD as that process is deployed, with its
# own database role (WINGMAN_PG_CONNINFO_<SERVICE> from scripts/stack env,
# given as WINGMAN_PG_CONNINFO), and the Redis URL for the executor alone.
as_service() {
	local s=$1 v
	shift
	v=WINGMAN_PG_CONNINFO_${s^^}
	[ -n "${!v:-}" ] || fail "$v is not set (run through scripts/test)"
	# exec: started with &, $! must be the daemon itself, or killing it
	# leaves the daemon running (holding the test lock and the consumer
	# groups). So call as_service only in the background, in a pipeline or
	# in a subshell, never in the test's own shell.
	if [ "$s" = executor ]; then
		WINGMAN_PG_CONNINFO=${!v} exec "$@"
	else
		WINGMAN_PG_CONNINFO=${!v} exec env -u WINGMAN_REDIS_URL "$@"
	fi
}

# private_database NAME: an empty database NAME of the test's own (owned by
# wingman, not migrated), and every WINGMAN_PG_CONNINFO* of this shell
# pointed at it, so the stack's database and its audit chain stay as they
# were. The role password files name dbname wingman: copies that say * serve.
# Dropped at exit, and the audit checkpoints its auditor published with it.
PRIVATE_DB=
PG_SUPER=
private_database() {
	local s v pf c
	PG_SUPER=${WINGMAN_PG_OWNER_CONNINFO:?}
	PG_SUPER=${PG_SUPER/user=wingman/user=postgres}
	PG_SUPER=${PG_SUPER/dbname=wingman/dbname=postgres}
	psql "$PG_SUPER" -qc "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null 2>&1
	psql "$PG_SUPER" -qc "CREATE DATABASE $1 OWNER wingman" >/dev/null || fail "cannot create $1"
	PRIVATE_DB=$1
	for s in consensus approval token executor auditor admin telegram; do
		v=WINGMAN_PG_CONNINFO_${s^^}
		[ "$s" = admin ] && v=WINGMAN_PG_CONNINFO
		pf=$(sed -n 's/.*passfile=\([^ ]*\).*/\1/p' <<<"${!v}")
		(umask 077; sed 's/^\([^:]*:[^:]*:\)wingman:/\1*:/' "$pf" >"$T/pgpass-$s")
		c=${!v/dbname=wingman/dbname=$1}
		export "$v=${c/passfile=$pf/passfile=$T/pgpass-$s}"
	done
	export WINGMAN_PG_OWNER_CONNINFO=${WINGMAN_PG_OWNER_CONNINFO/dbname=wingman/dbname=$1}
}
private_database_drop() {
	stop_daemons
	psql "$PG_SUPER" -qc "DROP DATABASE IF EXISTS $PRIVATE_DB WITH (FORCE)" >/dev/null 2>&1 || true
	"$KT" truncate wingman.audit-checkpoints >/dev/null 2>&1 || true
	PRIVATE_DB=
}

# pgas SERVICE SQL: one statement as that process's database role.
pgas() {
	local v=WINGMAN_PG_CONNINFO_${1^^}
	psql "${!v:?}" -v ON_ERROR_STOP=1 -tAqc "$2"
}

start_daemons() {
	local s
	for s in consensus approval token executor; do
		# 9>&-: daemons must not hold the test lock after the test ends.
		as_service "$s" "$build/services/$s/wingman-$s" </dev/null >"$T/$s.log" 2>&1 9>&- &
		DAEMON_PIDS+=($!)
	done
}

# stop_pid PID: SIGTERM, then at most 15 s for it to end, then SIGKILL: a
# daemon that does not stop must not hang the test (ctest would time it
# out whatever its checks said). Says so on stderr when it had to kill.
stop_pid() {
	local i
	kill -TERM "$1" 2>/dev/null || return 0
	for i in $(seq 1 150); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$1" 2>/dev/null; then
		printf 'WARNING: pid %s (%s) did not stop within 15 s of SIGTERM: killed\n' "$1" \
		    "$(tr '\0' ' ' </proc/"$1"/cmdline 2>/dev/null)" >&2
		kill -KILL "$1" 2>/dev/null || true
	fi
	wait "$1" 2>/dev/null || true
}

stop_daemons() {
	local p
	for p in "${DAEMON_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${DAEMON_PIDS[@]}"; do stop_pid "$p"; done
	DAEMON_PIDS=()
}

# Fails the test if a daemon died (a crash on bad input is a bug).
daemons_alive() {
	local p
	for p in "${DAEMON_PIDS[@]}"; do
		kill -0 "$p" 2>/dev/null || fail "a daemon exited (pid $p)"
	done
}

new_id() { cat /proc/sys/kernel/random/uuid; }

# As the CLI's role (wingman_admin), which reads every table.
pgq() { psql "$WINGMAN_PG_CONNINFO" -tAqc "$1"; }
# As the schema owner, for tests that break things on purpose.
pgo() { psql "${WINGMAN_PG_OWNER_CONNINFO:?}" -tAqc "$1"; }

docker_api() { curl -sf --unix-socket "$DOCKER_SOCKET" "http://localhost/v1.41$1"; }
# events_watch CONTAINER EVENT...: starts recording the engine's EVENT events
# about CONTAINER from the next whole second on (the engine's `since` has
# second granularity: so no event from before the call is counted), waits
# for that second, and prints a handle for events_count. Streamed, not
# asked for afterwards with since/until: the engine answers such a query
# from its last 256 events only, and on a busy engine those can all be
# other containers' within seconds.
events_watch() {
	local c=$1 since filters f
	shift
	since=$(($(date +%s) + 1))
	filters=$(jq -rn --arg c "$c" '{container: [$c], event: $ARGS.positional} | @uri' --args "$@")
	f=$(mktemp "$T/events-XXXXXX")
	curl -sN --unix-socket "$DOCKER_SOCKET" \
	    "http://localhost/v1.41/events?since=$since&filters=$filters" >"$f" 2>/dev/null 9>&- &
	echo $! >"$f.pid"
	while [ "$(date +%s)" -lt "$since" ]; do sleep 0.1; done
	echo "$f"
}
# events_count HANDLE: the events recorded so far (a moment's grace for the
# last ones to arrive).
events_count() { sleep 0.5; jq -s length "$1"; }
started_at() { docker_api "/containers/$1/json" | jq -r .State.StartedAt; }

# request JSON on stdout
request_json() { # ID ENV WORKER CMD...
	local id=$1 env=$2 worker=$3; shift 3
	jq -cn --arg id "$id" --arg env "$env" --arg w "$worker" --args \
	    '{v:1, type:"request", request_id:$id, worker_id:$w, environment:$env,
	      instruction:"integration test", commands:$ARGS.positional,
	      ts:(now | strftime("%Y-%m-%dT%H:%M:%S.000Z"))}' "$@"
}

# Waits for the first message with key ID on TOPIC; prints it.
first_on() { # TOPIC ID [TIMEOUT]
	"$KT" consume "$1" "$2" --timeout "${3:-30}" --count 1
}

# dlq_wait ID PATTERN...: waits (60 s at most) until wingman.dlq holds, under
# key ID, a dead letter matching each extended regexp PATTERN; prints the
# dead letters read. Returns 1 when one never comes. Waits for the dead
# letters themselves, not a fixed time that a loaded machine can outlast.
dlq_wait() {
	local id=$1 n=1 out p missing left deadline=$((SECONDS + 60))
	shift
	while :; do
		left=$((deadline - SECONDS))
		[ $left -ge 1 ] || left=1
		out=$("$KT" consume wingman.dlq "$id" --timeout "$left" --count "$n" || true)
		missing=0
		for p in "$@"; do grep -qE -- "$p" <<<"$out" || missing=1; done
		[ $missing = 1 ] || { printf '%s\n' "$out"; return 0; }
		# Fewer than asked for: none came before the deadline.
		if [ "$(grep -c . <<<"$out")" -lt "$n" ] || [ $SECONDS -ge $deadline ]; then
			printf '%s\n' "$out"
			return 1
		fi
		n=$((n + 1))
	done
}
# wait_for SECONDS CMD...: runs CMD every 0.2 s until it succeeds; returns 1
# if it has not within SECONDS.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.2
	done
}

# Counts audit rows of an event for a request.
audit_count() { pgq "SELECT count(*) FROM audit_log WHERE request_id = '$1' AND event = '$2'"; }

# assessment_json ID ENV WORKER CMD...: an assessment of those commands with
# one approving vote, signed with the stack's consensus key: what
# wingman-consensus (or someone holding its key) would send.
assessment_json() {
	local id=$1 env=$2 worker=$3 c parsed actions='[]' req
	shift 3
	req=$(request_json "$id" "$env" "$worker" "$@")
	for c in "$@"; do
		parsed=$("$W" command parse "$c")
		actions=$(jq -c --arg c "$c" --argjson p "$parsed" \
		    '. + [{cmd: $c, action: $p.action, container: $p.container}]' <<<"$actions")
	done
	jq -cn --argjson req "$req" --argjson actions "$actions" \
	    '{v: 1, type: "assessment", request_id: $req.request_id, ts: $req.ts, request: $req,
	      valid: true, reason: "", actions: $actions, risk: "low", threshold: 1,
	      approving_votes: 1, votes: [{voter: "rules", risk: "low", approve: true,
	      reasons: ["integration test"]}], dissent: []}' |
	    "$KT" sign "$WINGMAN_KEYS_DIR" consensus
}

# human_decision_json ID APPROVER CHANNEL DECISION CMD...: unsigned.
human_decision_json() {
	local id=$1 approver=$2 channel=$3 decision=$4
	shift 4
	jq -cn --arg id "$id" --arg a "$approver" --arg ch "$channel" --arg d "$decision" --args \
	    '{v: 1, type: "human_decision", request_id: $id,
	      ts: (now | strftime("%Y-%m-%dT%H:%M:%S.000Z")), approver: $a, decision: $d,
	      reason: "", channel: $ch, commands: $ARGS.positional}' "$@"
}

# evidence_json ID ENV WORKER CMD...: genuine evidence for those commands:
# the consensus-signed assessment and bob's signed approval.
evidence_json() {
	local id=$1 a h
	a=$(assessment_json "$@")
	h=$(human_decision_json "$id" bob cli approve "${@:4}" | "$KT" sign "$WINGMAN_KEYS_DIR" approver-bob)
	jq -cn --argjson a "$a" --argjson h "$h" '{assessment: $a, human_decisions: [$h]}'
}
