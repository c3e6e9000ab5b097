#!/usr/bin/env bash
# Shadow mode ("execute": false for an environment): every check, the
# single-use claim, the ledger and the audit rows as usual, but no Docker
# call, and a result that says `shadow`. A shadow environment still refuses
# what it would refuse for real; an environment without the key still acts.
. "$(dirname "$0")/lib.sh"

EX=$build/services/executor/wingman-executor

# config/policy.json plus `trial`: the same containers and actions as `test`, in shadow mode.
jq '.environments.trial = (.environments.test + {execute: false})' \
    "$src/config/policy.json" >"$T/policy.json"
export WINGMAN_POLICY_FILE=$T/policy.json
start_daemons

say "an approved restart in the shadow environment passes every stage and does not run"
before=$(started_at wingman-test-api)
id=$("$W" submit --env trial --worker agent-7 --text "restart it" --cmd "docker restart wingman-test-api")
first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "no approval prompt for $id"
"$W" approve "$id" --as bob >/dev/null
set +e; out=$("$W" wait "$id" --timeout 60 2>"$T/wait.err"); rc=$?; set -e
[ $rc -eq 1 ] || fail "wait should exit 1 for shadow (nothing ran), got $rc: $out"
[ "$(jq -r .status <<<"$out")" = shadow ] || fail "status: $out"
jq -r .reason <<<"$out" | grep -q '^SHADOW: environment trial ' || fail "reason: $out"
[ "$(jq -r '.commands[0].status' <<<"$out")" = shadow ] || fail "command status: $out"
grep -q "SHADOW MODE: every check passed, NOTHING RAN" "$T/wait.err" || fail "the CLI did not say so"
[ "$(started_at wingman-test-api)" = "$before" ] || fail "the container was restarted in shadow mode"
ok "shadow result, signed by the executor and accepted by the CLI; StartedAt unchanged"
[ "$(audit_count "$id" execution_intent)" = 1 ] || fail "no execution intent audited"
pgq "SELECT content FROM audit_log WHERE request_id = '$id' AND event = 'execution_result'" |
    grep -q '"status": *"shadow"' || fail "execution_result not audited as shadow"
[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$id'")" = 1 ] ||
    fail "the token was not claimed in the ledger"
# The command's execution_result row and the request's result row are
# written by one statement, the ledger's finish (one commit after the
# command, with the stored result): the same xmin (the audit rows carry the
# function's subtransaction's xid, the stored result the top-level one).
[ "$(pgq "SELECT count(DISTINCT xmin::text) FROM audit_log
    WHERE request_id = '$id' AND event IN ('execution_result', 'result')")" = 1 ] ||
    fail "the command's result and the request's result row were not written together"
ok "intent, claim (executions row) and result audited as for a real run, the result in one commit"

say "the spent token answers a redelivered order from the ledger, still without Docker"
order=$(first_on wingman.orders "$id" 30 | jq -c .)
"$KT" produce wingman.orders "$id" <<<"$order"
n=0
while [ "$(audit_count "$id" replay_answered)" = 0 ] && [ $n -lt 100 ]; do sleep 0.2; n=$((n + 1)); done
[ "$(audit_count "$id" replay_answered)" = 1 ] || fail "redelivered order not answered from the ledger"
[ "$(audit_count "$id" execution_intent)" = 1 ] || fail "the redelivered order was claimed again"
[ "$(started_at wingman-test-api)" = "$before" ] || fail "the redelivered order restarted the container"
ok "redelivery answered from the ledger, no second claim"

stop_daemons

# run_filter ID ORDER: the shadow executor's answer in filter mode (the result value).
run_filter() {
	printf '{"topic":"wingman.orders","key":"%s","value":%s}\n' "$1" "$2" |
	    as_service executor "$EX" --stdin 2>>"$T/executor.log" >"$T/out" ||
	    fail "executor --stdin exited non-zero for $1"
	jq -c 'select(.topic == "wingman.results") | .value' "$T/out"
}

# order ID ENV EVIDENCE CMD TOKEN_CMD: signed with the stack's token key, as
# wingman-token (or someone holding its key) would send it; the token is for TOKEN_CMD.
order() {
	local tok
	tok=$("$W" token mint --key "$WINGMAN_KEYS_DIR/token.key" --kid token --sub agent-7 \
	    --env "$2" --request-id "$1" --cmd "$5" --ttl 120 --approved-by bob)
	jq -cn --arg id "$1" --arg env "$2" --arg c "$4" --arg t "$tok" --argjson ev "$3" \
	    '{v: 1, type: "order", request_id: $id, ts: (now | strftime("%Y-%m-%dT%H:%M:%S.000Z")),
	      worker_id: "agent-7", environment: $env, commands: [{cmd: $c, token: $t}],
	      evidence: $ev}' |
	    "$KT" sign "$WINGMAN_KEYS_DIR" token
}

say "a shadow environment refuses what it would refuse for real"
RESTART="docker restart wingman-test-api"
id=$(new_id)
ev=$(jq -c '{assessment: .assessment, human_decisions: []}' <<<"$(evidence_json "$id" trial agent-7 "$RESTART")")
res=$(run_filter "$id" "$(order "$id" trial "$ev" "$RESTART" "$RESTART")")
[ -z "$res" ] || fail "an unapproved restart got a result: $res"
jq -c 'select(.topic == "wingman.dlq") | .value.reason' "$T/out" | grep -q EVIDENCE_NO_QUORUM ||
    fail "unapproved restart not dead-lettered for its evidence: $(cat "$T/out")"
[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$id'")" = 0 ] || fail "it was claimed"
ok "an order without the human approval is refused (EVIDENCE_NO_QUORUM), nothing claimed"

id=$(new_id)
res=$(run_filter "$id" "$(order "$id" trial "$(evidence_json "$id" trial agent-7 "$RESTART")" \
    "$RESTART" "docker stop wingman-test-api")")
[ "$(jq -r .status <<<"$res")" = rejected ] || fail "a token for another command: $res"
jq -r .reason <<<"$res" | grep -q '^TOKEN_' || fail "reason: $res"
[ "$(jq -r '.commands[0].status' <<<"$res")" = refused ] || fail "command: $res"
[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$id'")" = 0 ] || fail "it was claimed"
ok "a token for another command is refused ($(jq -r .reason <<<"$res" | cut -d: -f1)), nothing claimed"
[ "$(started_at wingman-test-api)" = "$before" ] || fail "wingman-test-api was restarted"

say "an environment without the key still acts"
id=$(new_id)
res=$(run_filter "$id" "$(order "$id" test "$(evidence_json "$id" test agent-7 "$RESTART")" \
    "$RESTART" "$RESTART")")
[ "$(jq -r .status <<<"$res")" = executed ] || fail "restart in test: $res"
[ "$(started_at wingman-test-api)" != "$before" ] || fail "StartedAt did not change in test"
ok "the same restart in test executed; StartedAt changed"

echo "$checks passed, 0 failed"
