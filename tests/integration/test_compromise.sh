#!/usr/bin/env bash
# The compromise matrix (trust rules 8 and 9, issue 9): one process at a
# time is taken over, with its own keys and the topics it can write, and
# tries to get a command run that the policy did not approve, or to end a
# request with a forged answer. Each attempt must run nothing and be
# refused with a stable reason code and an audit row (or ignored by the
# agent's CLI). The store attacks through each role's own database grants
# are in test_roles.sh.
. "$(dirname "$0")/lib.sh"

start_daemons
mkdir -p "$T/evil"
K=$WINGMAN_KEYS_DIR
RESTART="docker restart wingman-test-demo"
STOP="docker stop wingman-test-demo"
PRD=wingman-prd-compromise
docker rm -f "$PRD" >/dev/null 2>&1 || true
docker run -d --name "$PRD" --network none wingman/busybox:local /bin/sleep 1000000 >/dev/null
trap 'docker rm -f "$PRD" >/dev/null 2>&1 || true; cleanup' EXIT

dlq_reasons() { # ID [TIMEOUT] -> every dead-letter reason for ID, one a line
	"$KT" consume wingman.dlq "$1" --timeout "${2:-8}" | jq -r .reason
}
expect_dead_letter() { # ID CODE
	local deadline=$((SECONDS + 30))
	until dlq_reasons "$1" 3 | grep -q "^$2"; do
		[ $SECONDS -lt $deadline ] || fail "$1: no dead letter $2 (got: $(dlq_reasons "$1" 1 | tr '\n' '|'))"
	done
}
expect_refusal_audited() { # ID CODE SERVICE
	[ "$(pgq "SELECT count(*) FROM audit_log WHERE request_id = '$1' AND service = '$3'
	    AND event = 'refused' AND content LIKE '%$2%'")" -ge 1 ] || fail "$1: $2 not audited by $3"
}
nothing_ran() { # ID
	[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$1'")" = 0 ] ||
	    fail "$1: an execution row exists"
}
no_result() { # ID
	! "$KT" consume wingman.results "$1" --timeout 3 --count 1 >/dev/null || fail "$1: a result was published"
}
pending_restart() { # WORKER ENV CMD [KEY] -> id of a request waiting for humans
	local id key=()
	[ -n "${4:-}" ] && key=(--key "$4")
	id=$("$W" submit --env "$2" --worker "$1" --text "compromise matrix" --cmd "$3" "${key[@]}")
	first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "no prompt for $id"
	echo "$id"
}
# A consensus-signed assessment whose labels lie about the command.
mislabeled() { # ID CMD ACTION CONTAINER
	assessment_json "$1" test agent-7 "$2" | jq -c --arg a "$3" --arg c "$4" \
	    'del(.sig) | .actions[0].action = $a | .actions[0].container = $c' |
	    "$KT" sign "$K" consensus
}
decision_json() { # ID ENV EVIDENCE APPROVED_BY CMD... (unsigned)
	local id=$1 env=$2 ev=$3 by=$4
	shift 4
	jq -cn --arg id "$id" --arg env "$env" --argjson ev "$ev" --argjson by "$by" --args \
	    '{v:1, type:"decision", request_id:$id, ts:(now | strftime("%Y-%m-%dT%H:%M:%S.000Z")),
	      worker_id:"agent-7", environment:$env, commands:$ARGS.positional, approved_by:$by,
	      decided_at:(now | strftime("%Y-%m-%dT%H:%M:%S.000Z")), token_ttl_s:60, evidence:$ev}' "$@"
}
assessment_of() { first_on wingman.assessments "$1" 30; }
# minted_order ID CMD EVIDENCE: what a taken-over wingman-token can publish:
# a fresh token for CMD and an order around it, both signed with token.key.
minted_order() {
	local tok
	tok=$("$W" token mint --key "$K/token.key" --kid token --sub agent-7 --env test --request-id "$1" \
	    --cmd "$2" --ttl 60 --approved-by bob)
	jq -cn --arg id "$1" --arg tok "$tok" --arg c "$2" --argjson ev "$3" \
	    '{v:1, type:"order", request_id:$id, ts:"2026-11-26T12:00:00.000Z", worker_id:"agent-7",
	      environment:"test", commands:[{cmd:$c, token:$tok}], evidence:$ev}' |
	    "$KT" sign "$K" token | "$KT" produce wingman.orders "$1"
}
demo_started=$(started_at wingman-test-demo)
demo_untouched() {
	[ "$(started_at wingman-test-demo)" = "$demo_started" ] || fail "wingman-test-demo was restarted or stopped"
	[ "$(docker_api /containers/wingman-test-demo/json | jq -r .State.Running)" = true ] ||
	    fail "wingman-test-demo is not running"
}

say "consensus (consensus.key): labels that lie about the command"
for lie in "$STOP|ps|" "$RESTART|inspect|wingman-test-demo" "docker exec wingman-test-demo id|logs|wingman-test-demo"; do
	IFS='|' read -r cmd action container <<<"$lie"
	id=$(new_id)
	mislabeled "$id" "$cmd" "$action" "$container" | "$KT" produce wingman.assessments "$id"
	expect_dead_letter "$id" ASSESSMENT_MISLABELED
	expect_refusal_audited "$id" ASSESSMENT_MISLABELED wingman-approval
	! "$KT" consume wingman.decisions "$id" --timeout 2 --count 1 >/dev/null || fail "$id: a decision was made"
	nothing_ran "$id"
	ok "consensus labels '$cmd' as $action: ASSESSMENT_MISLABELED, no decision, nothing ran"
done
# A genuine label but invented approving votes: humans are still required.
id=$(new_id)
assessment_json "$id" test agent-7 "$STOP" | "$KT" produce wingman.assessments "$id"
first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "a human-only stop was not sent to humans"
[ "$(pgq "SELECT state FROM approval_requests WHERE request_id = '$id'")" = pending ] || fail "$id not pending"
nothing_ran "$id"
demo_untouched
ok "consensus approves a stop with its own votes: still waits for a human"

say "consensus or approval: a forged result for a request waiting for a human"
victim=$(pending_restart agent-7 test "$RESTART")
"$W" keygen --out "$T/evil" --name executor >/dev/null
for signer in "$K consensus" "$K approval" "$T/evil executor" "none none"; do
	set -- $signer
	fake=$(jq -cn --arg id "$victim" '{v:1, type:"result", request_id:$id, ts:"2026-11-26T12:00:00.000Z",
	    status:"executed", reason:"", commands:[]}')
	[ "$1" = none ] || fake=$("$KT" sign "$1" "$2" <<<"$fake")
	"$KT" produce wingman.results "$victim" <<<"$fake"
done
set +e; out=$("$W" wait "$victim" --timeout 6 2>"$T/wait.err"); rc=$?; set -e
[ "$rc" = 3 ] || fail "wait accepted a forged result (exit $rc): $out"
[ "$(grep -c "ignoring a 'executed' result for $victim" "$T/wait.err")" -ge 4 ] || fail "no warnings: $(cat "$T/wait.err")"
grep -q RESULT_SIGNER_NOT_ENTITLED "$T/wait.err" && grep -q SIG_MISSING "$T/wait.err" &&
    grep -q SIG_BAD "$T/wait.err" || fail "warnings do not say why: $(cat "$T/wait.err")"
ok "forged 'executed' results (consensus, approval, another executor key, unsigned) ignored by wingman wait"

say "approval (approval.key): a decision without the evidence the policy demands"
ev=$(jq -cn --argjson a "$(assessment_of "$victim")" '{assessment:$a, human_decisions:[]}')
decision_json "$victim" test "$ev" '["bob"]' "$RESTART" | "$KT" sign "$K" approval |
    "$KT" produce wingman.decisions "$victim"
expect_dead_letter "$victim" EVIDENCE_NO_QUORUM
expect_refusal_audited "$victim" EVIDENCE_NO_QUORUM wingman-executor
nothing_ran "$victim"
# A human decision forged with approval's own key, in bob's name.
fakehd=$(human_decision_json "$victim" bob cli approve "$RESTART" | jq -c '. + {sig:{alg:"EdDSA", kid:"approver-bob", value:"'"$(head -c 64 /dev/urandom | base64 -w0 | tr '+/' '-_' | tr -d '=')"'"}}')
ev=$(jq -cn --argjson a "$(assessment_of "$victim")" --argjson h "$fakehd" '{assessment:$a, human_decisions:[$h]}')
decision_json "$victim" test "$ev" '["bob"]' "$RESTART" | "$KT" sign "$K" approval |
    "$KT" produce wingman.decisions "$victim"
expect_dead_letter "$victim" EVIDENCE_BAD_DECISION
nothing_ran "$victim"
# Re-scoped: the genuine assessment of an inspect, for a restart.
insp=$("$W" submit --env test --worker agent-7 --text x --cmd "docker inspect wingman-test-demo" --wait --timeout 60 | jq -r .request_id)
ev=$(jq -cn --argjson a "$(assessment_of "$insp")" '{assessment:$a, human_decisions:[]}')
decision_json "$insp" test "$ev" '["auto"]' "$RESTART" | "$KT" sign "$K" approval |
    "$KT" produce wingman.decisions "$insp"
expect_dead_letter "$insp" EVIDENCE_MISMATCH
[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$insp' AND cmd LIKE 'docker restart%'")" = 0 ] ||
    fail "the re-scoped restart ran"
demo_untouched
ok "approval: no-human, forged-human and re-scoped decisions minted tokens the executor refused; nothing ran"

say "approval's database role: a fake quorum and an edited request in its own tables"
pid=$(pending_restart agent-7 prd "docker restart $PRD" "$K/worker-agent-7.key")
# A vote row with no signed decision behind it, in the role's own table.
pgas approval "INSERT INTO approval_votes (request_id, approver, decision, channel)
    VALUES ('$pid', 'bob', 'approve', 'cli')" >/dev/null
"$W" approve "$pid" --as demo >/dev/null
[ "$(pgq "SELECT state FROM approval_requests WHERE request_id = '$pid'")" = pending ] ||
    fail "a vote row without its signed decision completed the quorum"
[ "$(audit_count "$pid" state_tampered)" -ge 1 ] || fail "the unsigned vote row was not audited"
nothing_ran "$pid"
# The stored request edited to another command: its consensus signature breaks.
pgas approval "UPDATE approval_requests SET assessment = replace(assessment,
    'docker restart $PRD', 'docker stop $PRD') WHERE request_id = '$pid'" >/dev/null
if "$W" approve "$pid" --as alice --cmd "docker stop $PRD" >/dev/null 2>"$T/cli.err"; then
	fail "an approval of the edited request was confirmed"
fi
grep -q STATE_TAMPERED "$T/cli.err" || fail "approve said: $(cat "$T/cli.err")"
nothing_ran "$pid"
ok "approval's role: an unsigned vote row is not counted (state_tampered); an edited request is refused (STATE_TAMPERED)"

say "token (token.key): tokens and orders for what nobody approved"
ev=$(jq -cn --argjson a "$(assessment_of "$victim")" '{assessment:$a, human_decisions:[]}')
minted_order "$victim" "$RESTART" "$ev"
expect_dead_letter "$victim" EVIDENCE_NO_QUORUM
nothing_ran "$victim"
demo_untouched
ok "token: a minted order with no human evidence for a restart is refused (EVIDENCE_NO_QUORUM)"

say "telegram (telegram.key): a two-person rule met by the bot alone"
before=$(started_at "$PRD")
pid=$(pending_restart agent-7 prd "docker restart $PRD" "$K/worker-agent-7.key")
for who in bob demo; do
	human_decision_json "$pid" "$who" telegram approve "docker restart $PRD" | "$KT" sign "$K" telegram |
	    "$KT" produce wingman.human-decisions "$pid"
done
votes_recorded() { [ "$(pgq "SELECT count(*) FROM approval_votes WHERE request_id = '$pid'")" -ge 2 ]; }
wait_for 60 votes_recorded || fail "relayed votes not recorded"
[ "$(pgq "SELECT count(*) FROM approval_votes WHERE request_id = '$pid'")" = 2 ] || fail "more than two votes"
[ "$(pgq "SELECT state FROM approval_requests WHERE request_id = '$pid'")" = pending ] || fail "prd approved by the bot alone"
! "$KT" consume wingman.decisions "$pid" --timeout 2 --count 1 >/dev/null || fail "a decision was made"
# The bot's key cannot sign a decision for the CLI channel either.
human_decision_json "$pid" alice cli approve "docker restart $PRD" | "$KT" sign "$K" telegram |
    "$KT" produce wingman.human-decisions "$pid"
expect_dead_letter "$pid" SIG_UNTRUSTED_KID
nothing_ran "$pid"
[ "$(started_at "$PRD")" = "$before" ] || fail "$PRD restarted"
# One approver with their own key completes it: the bot's one relayed vote counts.
"$W" approve "$pid" --as alice >/dev/null
out=$("$W" wait "$pid" --timeout 60) || fail "prd restart with one direct approval did not run: $out"
[ "$(started_at "$PRD")" != "$before" ] || fail "$PRD not restarted"
ok "telegram: two relayed prd approvals stay pending; one more by an approver's own key runs it"

say "one approver (approver-bob.key): a second person of their own making"
pid=$(pending_restart agent-7 prd "docker restart $PRD" "$K/worker-agent-7.key")
"$W" approve "$pid" --as bob >/dev/null
if "$W" approve "$pid" --as bob >/dev/null 2>&1; then fail "bob's second approval was confirmed"; fi
human_decision_json "$pid" demo cli approve "docker restart $PRD" | "$KT" sign "$K" approver-bob |
    "$KT" produce wingman.human-decisions "$pid"
human_decision_json "$pid" demo telegram approve "docker restart $PRD" | "$KT" sign "$K" approver-bob |
    "$KT" produce wingman.human-decisions "$pid"
expect_dead_letter "$pid" SIG_UNTRUSTED_KID
sleep 2
[ "$(pgq "SELECT count(*) FROM approval_votes WHERE request_id = '$pid'")" = 1 ] || fail "bob counted more than once"
[ "$(pgq "SELECT state FROM approval_requests WHERE request_id = '$pid'")" = pending ] || fail "bob alone approved prd"
# bob's approval of other commands than the request's.
human_decision_json "$pid" bob cli approve "docker stop $PRD" | "$KT" sign "$K" approver-bob |
    "$KT" produce wingman.human-decisions "$pid"
expect_dead_letter "$pid" DECISION_MISMATCH
nothing_ran "$pid"
ok "bob twice counts once; bob's key cannot speak for demo; a decision on other commands is refused"

say "an agent (worker-agent-7.key): prd takes only signed requests, each in its own name"
id=$("$W" submit --env prd --worker agent-7 --text x --cmd "docker inspect $PRD")
out=$("$W" wait "$id" --timeout 60 || true)
[ "$(jq -r .status <<<"$out")" = invalid ] && jq -r .reason <<<"$out" | grep -q '^REQUEST_UNSIGNED' ||
    fail "unsigned prd request: $out"
id=$(new_id)
request_json "$id" prd agent-8 "docker inspect $PRD" | "$KT" sign "$K" worker-agent-7 |
    "$KT" produce wingman.requests "$id"
out=$("$W" wait "$id" --timeout 60 || true)
[ "$(jq -r .status <<<"$out")" = invalid ] && jq -r .reason <<<"$out" | grep -q '^REQUEST_BAD_SIGNATURE' ||
    fail "agent-7's key for agent-8: $out"
nothing_ran "$id"
ok "agent: unsigned prd request invalid (REQUEST_UNSIGNED); signing in another worker's name invalid"

say "the auditor (audit.key) signs nothing a stage accepts"
id=$(new_id)
decision_json "$id" test "$(evidence_json "$id" test agent-7 "$RESTART")" '["bob"]' "$RESTART" |
    "$KT" sign "$K" audit | "$KT" produce wingman.decisions "$id"
expect_dead_letter "$id" SIG_UNTRUSTED_KID
nothing_ran "$id"
ok "auditor: a decision signed with audit.key is refused (SIG_UNTRUSTED_KID)"

say "the victim's request still ends the honest way"
"$W" approve "$victim" --as bob >/dev/null
out=$("$W" wait "$victim" --timeout 60) || fail "the victim's restart did not run after bob approved: $out"
[ "$(jq -r .status <<<"$out")" = executed ] || fail "victim: $out"
ok "after all that, bob's approval runs the victim's restart once"

say "token (token.key) again: a second token for a command that already ran, with its genuine evidence"
started=$(started_at wingman-test-demo)
ev=$(first_on wingman.orders "$victim" 30 | jq -c .evidence)
while :; do # the order of the real run (the forged ones above had no human evidence)
	[ "$(jq '.human_decisions | length' <<<"$ev")" -ge 1 ] && break
	ev=$("$KT" consume wingman.orders "$victim" --timeout 5 | jq -c 'select(.evidence.human_decisions | length >= 1) | .evidence' | head -n 1)
	[ -n "$ev" ] || fail "no genuine order for the victim"
done
minted_order "$victim" "$RESTART" "$ev"
"$KT" consume wingman.results "$victim" --timeout 30 --count 2 >"$T/victim-results" || true
[ "$(wc -l <"$T/victim-results")" -ge 2 ] || fail "no answer to the second token"
[ "$(jq -r .status "$T/victim-results" | sort -u)" = executed ] || fail "two outcomes: $(cat "$T/victim-results")"
[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$victim'")" = 1 ] || fail "a second intent row"
[ "$(started_at wingman-test-demo)" = "$started" ] || fail "the restart ran a second time"
ok "a second token (new jti) for a command that ran is answered with the first run's result, never run again"

daemons_alive
echo "$checks passed, 0 failed"
