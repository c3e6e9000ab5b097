#!/usr/bin/env bash
# Issue 15: a human decision read before its request (wingman-approval
# restarting; no order between wingman.assessments and
# wingman.human-decisions) is kept and counted when the request arrives,
# never dropped; one whose request never comes is dead-lettered after
# WINGMAN_EARLY_DECISION_TTL_S. `wingman approve`/`reject` wait for
# approval to say what it did with their decision and exit accordingly.
. "$(dirname "$0")/lib.sh"

export WINGMAN_EARLY_DECISION_TTL_S=10
RESTART="docker restart wingman-test-demo"
start_daemons
# start_daemons order: consensus approval token executor.
stop_one() { stop_pid "${DAEMON_PIDS[$1]}"; }
start_one() { # INDEX NAME
	as_service "$2" "$build/services/$2/wingman-$2" </dev/null >>"$T/$2.log" 2>&1 9>&- &
	DAEMON_PIDS[$1]=$!
}
wait_audit() { # ID EVENT
	local deadline=$((SECONDS + 60))
	until [ "$(audit_count "$1" "$2")" -ge 1 ]; do
		[ $SECONDS -lt $deadline ] || fail "$1: no $2 audit row"
		sleep 0.5
	done
}

# decide_while_down DECISION: a restart request and its decision, both sent
# while consensus and approval are down; approval comes back first (so it
# reads the decision before any assessment exists), then consensus. Sets id.
decide_while_down() {
	local decision=$1 extra=() cli
	[ "$decision" = reject ] && extra=(--reason "not now")
	stop_one 0
	stop_one 1
	id=$("$W" submit --env test --worker agent-7 --text "restart while approval is down" --cmd "$RESTART")
	("$W" "$decision" "$id" --as bob --cmd "$RESTART" "${extra[@]}" --timeout 90 </dev/null \
	    >"$T/cli.out" 2>"$T/cli.err"; echo $? >"$T/cli.rc") >/dev/null 2>&1 &
	cli=$!
	# The decision is on its topic before approval comes back.
	first_on wingman.human-decisions "$id" 60 >/dev/null || fail "the CLI sent no decision"
	start_one 1 approval
	wait_audit "$id" early_decision
	[ "$(pgq "SELECT count(*) FROM approval_requests WHERE request_id = '$id'")" = 0 ] ||
	    fail "the request was stored before the decision was read: the test proves nothing"
	start_one 0 consensus
	wait "$cli"
}

say "an approval read before its request counts when the request arrives"
before=$(started_at wingman-test-demo)
decide_while_down approve
[ "$(cat "$T/cli.rc")" = 0 ] || fail "wingman approve exited $(cat "$T/cli.rc"): $(cat "$T/cli.err")"
grep -q "kept by wingman-approval until the request arrives" "$T/cli.err" || fail "approve did not say it waited: $(cat "$T/cli.err")"
grep -qx "approved $id by bob" "$T/cli.out" || fail "approve said: $(cat "$T/cli.out")"
out=$("$W" wait "$id" --timeout 60) || fail "the early approval did not run the restart: $out"
[ "$(started_at wingman-test-demo)" != "$before" ] || fail "wingman-test-demo not restarted"
[ "$(audit_count "$id" human_vote)" = 1 ] || fail "the early vote was not counted once"
ok "approval sent while approval and consensus were down: kept, counted, executed; approve exited 0"

say "the same for a rejection"
before=$(started_at wingman-test-demo)
decide_while_down reject
[ "$(cat "$T/cli.rc")" = 0 ] || fail "wingman reject exited $(cat "$T/cli.rc"): $(cat "$T/cli.err")"
set +e; out=$("$W" wait "$id" --timeout 60); rc=$?; set -e
[ "$rc" = 1 ] && [ "$(jq -r .status <<<"$out")" = rejected ] || fail "early reject: exit $rc: $out"
jq -r .reason <<<"$out" | grep -q '^REJECTED: by bob: not now' || fail "reason: $out"
[ "$(started_at wingman-test-demo)" = "$before" ] || fail "a rejected restart ran"
ok "rejection sent while approval was down: counted, request rejected, nothing ran; reject exited 0"

say "a decision whose request never comes is dead-lettered, and approve says so"
ghost=$(new_id)
set +e
"$W" approve "$ghost" --as bob --cmd "$RESTART" --timeout 60 >"$T/cli.out" 2>"$T/cli.err"
rc=$?
set -e
[ "$rc" = 1 ] || fail "approve of a request that never comes exited $rc: $(cat "$T/cli.err")"
grep -q "refused by wingman-approval: APPROVAL_UNKNOWN_REQUEST" "$T/cli.err" || fail "approve said: $(cat "$T/cli.err")"
reason=$(first_on wingman.dlq "$ghost" 30 | jq -r .reason)
[[ $reason == APPROVAL_UNKNOWN_REQUEST:* ]] || fail "dead letter: '$reason'"
[ "$(audit_count "$ghost" early_decision_expired)" = 1 ] || fail "expiry of the early decision not audited"
[ "$(pgq "SELECT count(*) FROM early_decisions WHERE request_id = '$ghost'")" = 0 ] || fail "the early decision stays"
ok "unknown request: kept ${WINGMAN_EARLY_DECISION_TTL_S} s, then dead-lettered and audited; approve exited 1"

say "approve tells the truth about votes that do not count"
id=$("$W" submit --env test --worker agent-7 --text "restart" --cmd "$RESTART")
first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "no prompt"
"$W" approve "$id" --as bob >/dev/null || fail "first approval"
"$W" wait "$id" --timeout 60 >/dev/null || fail "not executed"
set +e; "$W" approve "$id" --as demo >/dev/null 2>"$T/cli.err"; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "not counted: already approved" "$T/cli.err" || fail "late approval: exit $rc: $(cat "$T/cli.err")"
id=$("$W" submit --env test --worker agent-alice --text "restart" --cmd "$RESTART")
first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "no prompt"
set +e; "$W" approve "$id" --as alice >/dev/null 2>"$T/cli.err"; rc=$?; set -e
[ "$rc" = 1 ] && grep -q "APPROVER_IS_OWNER" "$T/cli.err" || fail "owner approval: exit $rc: $(cat "$T/cli.err")"
"$W" reject "$id" --as bob --reason cleanup >/dev/null
stop_one 1
set +e; "$W" approve "$(new_id)" --as bob --cmd "$RESTART" --timeout 3 >/dev/null 2>"$T/cli.err"; rc=$?; set -e
[ "$rc" = 3 ] && grep -q "did not acknowledge it within 3 s" "$T/cli.err" || fail "approval down: exit $rc: $(cat "$T/cli.err")"
start_one 1 approval
ok "already decided: exit 1; owner refused: exit 1 with the reason; approval down: exit 3"

say "assessments read together are stored together: one transaction per batch, each with its audit row"
# Twelve auto-approved requests wait on wingman.assessments while approval
# is down; the approval that comes back reads them in one or a few batches.
stop_one 1
ids=()
for i in $(seq 1 12); do
	ids+=("$("$W" submit --env test --worker agent-7 --text "batch $i" --cmd "docker inspect wingman-test-demo")")
done
for id in "${ids[@]}"; do first_on wingman.assessments "$id" 60 >/dev/null || fail "no assessment for $id"; done
start_one 1 approval
for id in "${ids[@]}"; do
	out=$("$W" wait "$id" --timeout 60) || fail "$id: $out"
	[ "$(jq -r .status <<<"$out")" = executed ] || fail "$id: $out"
	[ "$(audit_count "$id" auto_approved)" = 1 ] || fail "$id: $(audit_count "$id" auto_approved) auto_approved rows"
done
in=$(printf "'%s'," "${ids[@]}")
read -r txs rows <<<"$(pgq "SELECT count(DISTINCT xmin::text), count(*) FROM approval_requests
    WHERE request_id IN (${in%,})" | tr '|' ' ')"
[ "$rows" = 12 ] || fail "$rows of 12 requests stored"
[ "$txs" -lt 12 ] || fail "each of the 12 requests was stored in a transaction of its own"
ok "12 requests read while approval was down: stored in $txs transaction(s), each audited once, all executed"

daemons_alive
echo "$checks passed, 0 failed"
