#!/usr/bin/env bash
# Crashes at the steps where an interruption changes what must happen next
# (common/failpoint.h; the test build has them compiled in). Each scenario
# arms one failpoint in one daemon, sends an approved `docker restart`, lets
# the daemon die there (SIGKILL, as kill -9), starts it again unarmed, and
# then checks from outside the daemons:
#   - the request has a terminal result, and every result it got says the
#     same (a redelivery may answer twice, never differently);
#   - the engine's own events count the restarts: none ran twice, none ran
#     that the result says did not;
#   - the audit chain holds.
. "$(dirname "$0")/lib.sh"

# A container of this test alone (named after the stack): the engine's
# events about the shared wingman-test-api also count other tests'
# restarts when several stacks share one engine.
C=wingman-test-faults-$(printf %s "${WINGMAN_STATE_DIR:-/var/tmp/wingman}" | md5sum | cut -c1-6)
CMD="docker restart -t 0 $C"
if ! docker_api "/containers/$C/json" >/dev/null; then
	curl -sf --unix-socket "$DOCKER_SOCKET" -X POST -H 'Content-Type: application/json' \
	    -d '{"Image": "wingman/busybox:local", "NetworkDisabled": true, "Labels": {"wingman.test": "1"},
	         "Cmd": ["/bin/sh", "-c", "trap \"exit 0\" TERM INT; while true; do sleep 1 & wait $!; done"]}' \
	    "http://localhost/v1.41/containers/create?name=$C" >/dev/null || fail "cannot create $C"
fi
curl -sf --unix-socket "$DOCKER_SOCKET" -X POST "http://localhost/v1.41/containers/$C/start" >/dev/null ||
    true
declare -A PID

# start SERVICE [FAILPOINTS]: one daemon, armed or not.
start() {
	WINGMAN_FAILPOINTS=${2:-} as_service "$1" "$build/services/$1/wingman-$1" </dev/null \
	    >>"$T/$1.log" 2>&1 9>&- &
	PID[$1]=$!
	DAEMON_PIDS+=($!)
}

# died SERVICE: waits (60 s at most) for the armed daemon to kill itself.
died() {
	local i
	for i in $(seq 1 600); do
		kill -0 "${PID[$1]}" 2>/dev/null || { wait "${PID[$1]}" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	fail "wingman-$1 did not reach its failpoint (is the build made with WINGMAN_FAILPOINTS=ON?)"
}

# restarts WATCH: the engine's restart events of $C since events_watch.
restarts() { events_count "$1"; }

# approved_restart: submits the restart, approves it (bob), prints the id.
approved_restart() {
	local id
	id=$("$W" submit --env test --worker agent-7 --text "fault scenario" --cmd "$CMD")
	first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "no approval prompt for $id"
	"$W" approve "$id" --as bob --no-wait >/dev/null 2>&1 || fail "approve $id failed"
	echo "$id"
}

# results ID STATUS [N]: every result of ID says STATUS, and there are at
# least N (default 1; waits up to 40 s for N).
results() {
	local n=${3:-1}
	"$KT" consume wingman.results "$1" --timeout $((n > 1 ? 40 : 5)) --count "$n" \
	    >"$T/results-$1" || true
	[ "$(wc -l <"$T/results-$1")" -ge "$n" ] || fail "$1: $(wc -l <"$T/results-$1") result(s), want $n"
	[ "$(jq -r .status "$T/results-$1" | sort -u)" = "$2" ] ||
	    fail "$1: results $(jq -r .status "$T/results-$1" | paste -sd,), want all $2"
}

# The repository's policy, plus an environment whose requests expire fast.
jq '.environments.brief = (.environments.test + {approval_timeout_s: 3})
    | .environments.two = (.environments.test + {approvers_required: 2})' \
    "$WINGMAN_POLICY_FILE" >"$T/policy.json"
export WINGMAN_POLICY_FILE=$T/policy.json

for s in consensus approval token executor; do start "$s"; done

say "warm-up: one approved restart runs once"
t0=$(events_watch "$C" restart)
id=$(approved_restart)
"$W" wait "$id" --timeout 60 >/dev/null || fail "warm-up restart did not execute"
sleep 1
[ "$(restarts "$t0")" = 1 ] || fail "warm-up: $(restarts "$t0") restarts"
ok "warm-up executed, one restart"

# scenario NAME SERVICE FAILPOINT STATUS RUNS [RESULTS]: one crash and its
# recovery; RESULTS is how many results the request must get (default 1).
scenario() {
	local name=$1 svc=$2 fp=$3 status=$4 runs=$5 nresults=${6:-1} id t
	say "$name: wingman-$svc crashes at $fp"
	stop_pid "${PID[$svc]}"
	start "$svc" "$fp=crash"
	t=$(events_watch "$C" restart)
	id=$(approved_restart)
	died "$svc"
	start "$svc"
	"$W" wait "$id" --timeout 90 >"$T/wait-$id" 2>&1 || true
	[ "$(jq -r .status "$T/wait-$id" 2>/dev/null)" = "$status" ] ||
	    fail "$name: $(cat "$T/wait-$id"), want $status"
	results "$id" "$status" "$nresults"
	sleep 1
	[ "$(restarts "$t")" = "$runs" ] || fail "$name: the engine restarted $C $(restarts "$t") times, want $runs"
	ok "$name: $status, $(wc -l <"$T/results-$id") result(s) all $status, $runs restart(s) by the engine"
}

# The Docker call ran, the ledger was not told: nobody can say it did not
# act, so it is `interrupted`, and it is never run again.
scenario "after the Docker call" executor executor.after_docker interrupted 1
# Claimed, not run: the claim stays spent; `interrupted` (the executor
# cannot know that it died before the call), and nothing runs.
scenario "after the claim" executor executor.after_claim interrupted 0
# Ran and recorded, the result never published: the redelivered order is
# answered from the ledger.
scenario "before the result" executor executor.before_result executed 1
# Minted, not published: the decision comes again and is minted again.
scenario "token after minting" token token.after_mint executed 1
# The order was published, the decision's offset not committed: the decision
# comes again, the same token is minted again, the executor runs it once.
scenario "token between publish and commit" token stage.after_publish_before_commit executed 1 2
# The outcome was stored, not published: the redelivered decision gets the
# stored outcome again.
scenario "approval after its store" approval approval.after_store executed 1

# Found by the fault harness (kill-approval): an expiry is decided by
# approval's tick, not by an input that Kafka would deliver again. Committed
# as expired, killed before publishing: the next approval sends it.
#
# tick_crash FAILPOINT TEXT: approval armed to die in its tick at FAILPOINT;
# sets id to a request left to expire (env brief) once the armed approval
# has died expiring it. (Not in a subshell: start keeps the new PID.)
tick_crash() {
	stop_pid "${PID[approval]}"
	start approval "$1=crash"
	id=$("$W" submit --env brief --worker agent-7 --text "$2" --cmd "$CMD")
	died approval
	grep -q "event=expired request_id=$id" "$T/approval.log" ||
	    fail "the armed approval died before expiring $id: $(grep event=expired "$T/approval.log" | tail -n 3)"
}
say "approval's tick: expired and committed, killed before publishing"
t=$(events_watch "$C" restart)
tick_crash approval.tick_after_commit "left to expire"
"$KT" consume wingman.results "$id" --timeout 3 --count 1 >"$T/early-$id" || true
[ ! -s "$T/early-$id" ] || fail "a result for $id was published before the crash: $(cat "$T/early-$id")"
start approval
"$W" wait "$id" --timeout 60 >"$T/wait-$id" 2>&1 || true
[ "$(jq -r .status "$T/wait-$id" 2>/dev/null)" = expired ] || fail "tick crash: $(cat "$T/wait-$id"), want expired"
grep -q "event=outcome_resent request_id=$id" "$T/approval.log" || fail "the restarted approval did not resend $id"
sleep 1
[ "$(restarts "$t")" = 0 ] || fail "tick crash: the engine restarted $C $(restarts "$t") times, want 0"
ok "tick crash: the stored expiry was sent by the next approval; nothing ran"

# The tick's rows are queued as a batch's: an expiry's audit row commits in
# the transaction of the expiry, so a crash before that commit leaves
# neither (the row used to be written at once, and the next tick's expiry
# wrote a second).
say "approval's tick: killed before the expiry commits"
tick_crash approval.tick_before_commit "left to expire, no commit"
[ "$(pgq "SELECT state FROM approval_requests WHERE request_id = '$id'")" = pending ] ||
    fail "the uncommitted expiry of $id was kept"
[ "$(audit_count "$id" expired)" = 0 ] || fail "an expired row for $id without its committed expiry"
start approval
"$W" wait "$id" --timeout 60 >"$T/wait-$id" 2>&1 || true
[ "$(jq -r .status "$T/wait-$id" 2>/dev/null)" = expired ] || fail "tick crash before commit: $(cat "$T/wait-$id"), want expired"
[ "$(audit_count "$id" expired)" = 1 ] || fail "tick crash before commit: $(audit_count "$id" expired) expired rows, want 1"
ok "tick crash before the commit: nothing kept, nothing audited; the next approval expired it once, one expired row"

# armed_request FAILPOINTS ENV STATUS TEXT CMD: approval restarted armed
# with FAILPOINTS, one request sent and awaited (sets id); it ends STATUS.
armed_request() {
	stop_pid "${PID[approval]}"
	start approval "$1"
	id=$("$W" submit --env "$2" --worker agent-7 --text "$4" --cmd "$5")
	"$W" wait "$id" --timeout 60 >"$T/wait-$id" 2>&1 || true
	[ "$(jq -r .status "$T/wait-$id" 2>/dev/null)" = "$3" ] || fail "$4: $(cat "$T/wait-$id"), want $3"
}

say "approval's tick: the expiry fails before its commit"
armed_request approval.tick_before_commit=error brief expired "left to expire, the commit fails" "$CMD"
grep -q "event=expiry_failed request_id=$id" "$T/approval.log" || fail "the armed approval did not fail the expiry of $id"
[ "$(audit_count "$id" expired)" = 1 ] || fail "tick error: $(audit_count "$id" expired) expired rows, want 1"
ok "tick error before the commit: rolled back, expired again by the next tick, one expired row"

# A batch of assessments is stored in one transaction, committed when the
# batch ends. Should that commit fail, or approval die before it, nothing of
# the batch is kept, audited or published, and the assessments are handled
# again.
INSPECT="docker inspect $C"
say "approval's batch commit fails once: the batch is stored again, once"
armed_request approval.before_batch_commit=error test executed "auto, the batch commit fails" "$INSPECT"
grep -q "STORE_UNAVAILABLE: the batch's state was not committed" "$T/approval.log" ||
    fail "the failed batch commit was not logged"
[ "$(audit_count "$id" auto_approved)" = 1 ] || fail "commit error: $(audit_count "$id" auto_approved) auto_approved rows, want 1"
results "$id" executed 1
ok "commit error: rolled back, handled again: executed, one auto_approved row, $(wc -l <"$T/results-$id") result(s)"

say "approval dies before its batch commits: nothing of the batch was kept or sent"
stop_pid "${PID[approval]}"
start approval "approval.before_batch_commit=crash"
id=$("$W" submit --env test --worker agent-7 --text "auto, crash before the batch commit" --cmd "$INSPECT")
died approval
[ "$(pgq "SELECT count(*) FROM approval_requests WHERE request_id = '$id'")" = 0 ] ||
    fail "the request was stored although its batch never committed"
[ "$(audit_count "$id" auto_approved)" = 0 ] || fail "an auto_approved row without its stored request"
"$KT" consume wingman.decisions "$id" --timeout 3 --count 1 >"$T/early-$id" || true
[ ! -s "$T/early-$id" ] || fail "a decision for $id was published before the commit: $(cat "$T/early-$id")"
start approval
"$W" wait "$id" --timeout 60 >"$T/wait-$id" 2>&1 || true
[ "$(jq -r .status "$T/wait-$id" 2>/dev/null)" = executed ] || fail "batch crash: $(cat "$T/wait-$id"), want executed"
[ "$(audit_count "$id" auto_approved)" = 1 ] || fail "batch crash: $(audit_count "$id" auto_approved) auto_approved rows, want 1"
results "$id" executed 1
ok "batch crash: nothing stored, audited or published before; the next approval handled it once"

say "a vote, then a batch that fails to commit: the vote's progress update is sent again"
# Two approvers needed: bob's vote leaves the request pending and makes an
# approval_update. Read in one batch with an assessment whose commit
# fails, the update is dropped with the batch; the redelivered vote (not
# counted twice) sends it again. (Which of the two the batch reads first is
# Kafka's choice: either way the update must come.)
id=$("$W" submit --env two --worker agent-7 --text "two approvers" --cmd "$CMD")
first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "no prompt for $id"
stop_pid "${PID[approval]}"
"$W" approve "$id" --as bob --no-wait >/dev/null 2>&1 || fail "approve $id failed"
first_on wingman.human-decisions "$id" 30 >/dev/null || fail "bob's decision was not sent"
id2=$("$W" submit --env test --worker agent-7 --text "auto, beside a vote" --cmd "$INSPECT")
first_on wingman.assessments "$id2" 60 >/dev/null || fail "no assessment for $id2"
start approval "approval.before_batch_commit=error"
"$W" wait "$id2" --timeout 60 >/dev/null 2>&1 || fail "$id2 was not answered"
upd=""
for _ in $(seq 1 60); do
	upd=$("$KT" consume wingman.approval-prompts "$id" --timeout 2 --count 5 |
	    jq -c 'select(.type == "approval_update" and .state == "pending")' | head -n 1)
	[ -n "$upd" ] && break
done
[ -n "$upd" ] || fail "no pending approval_update for $id after bob's vote"
[ "$(jq '.approvals | length' <<<"$upd")" = 1 ] || fail "the update counts $(jq -c .approvals <<<"$upd")"
[ "$(pgq "SELECT count(*) FROM approval_votes WHERE request_id = '$id'")" = 1 ] || fail "the vote was stored twice"
"$W" reject "$id" --as demo --reason cleanup >/dev/null 2>&1 || true
ok "bob's vote beside a failed batch: counted once, its progress update sent"

# The vote is stored and audited in the transaction of the decision it
# completes. Should that fail before the commit, the vote and the rows that
# told of it are rolled back together: the redo tells it once.
say "a vote whose decision fails before its commit: one vote, one human_vote row"
stop_pid "${PID[approval]}"
before=$(grep -c 'topic=wingman.human-decisions .*reason="STORE_UNAVAILABLE: cannot record the decision"' \
    "$T/approval.log" || true)
start approval "approval.before_decision_store=error"
t=$(events_watch "$C" restart)
id=$(approved_restart)
"$W" wait "$id" --timeout 60 >"$T/wait-$id" 2>&1 || true
[ "$(jq -r .status "$T/wait-$id" 2>/dev/null)" = executed ] || fail "decision error: $(cat "$T/wait-$id"), want executed"
after=$(grep -c 'topic=wingman.human-decisions .*reason="STORE_UNAVAILABLE: cannot record the decision"' \
    "$T/approval.log" || true)
[ "$after" -gt "$before" ] || fail "the armed approval did not fail bob's decision"
[ "$(audit_count "$id" human_vote)" = 1 ] || fail "decision error: $(audit_count "$id" human_vote) human_vote rows, want 1"
[ "$(pgq "SELECT count(*) FROM approval_votes WHERE request_id = '$id'")" = 1 ] || fail "the vote was stored twice"
results "$id" executed 1
sleep 1
[ "$(restarts "$t")" = 1 ] || fail "decision error: the engine restarted $C $(restarts "$t") times, want 1"
ok "decision error: rolled back and counted again: one vote, one human_vote row, one restart"

say "after every crash"
for s in consensus approval token executor; do
	kill -0 "${PID[$s]}" 2>/dev/null || fail "wingman-$s (restarted unarmed) is not running"
done
out=$("$W" audit verify) || fail "audit verify: $out"
ok "the hash chain holds: $(head -n 1 <<<"$out")"
