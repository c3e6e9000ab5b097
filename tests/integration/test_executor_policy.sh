#!/usr/bin/env bash
# The executor re-checks the policy itself (trust rule 7; smtpd's forkmda):
# an order that is genuinely signed by wingman-token, carrying genuine
# tokens, is still refused when the executor's own policy says no. Here the
# executor runs in filter mode with a policy narrower than approval's
# (config/policy.json), and each order is made with the stack's real token
# key, as a compromised approval stage or token stage would make it.
. "$(dirname "$0")/lib.sh"

EX=$build/services/executor/wingman-executor

cat >"$T/policy.json" <<'EOF'
{
  "approvers": {"bob": {}},
  "environments": {
    "test": {
      "containers": ["wingman-test-api"],
      "actions": {"ps": "auto", "inspect": "auto", "logs": "auto",
                  "restart": "deny", "start": "human", "stop": "human", "exec": "deny"},
      "approvers_required": 1, "approval_timeout_s": 600, "token_ttl_s": 120
    }
  }
}
EOF

# genuine_order ID ENV CMD...: an order signed with the stack's token key,
# one freshly minted token per command (what wingman-token itself would send).
genuine_order() {
	local id=$1 env=$2 c tok cmds='[]'
	shift 2
	for c in "$@"; do
		tok=$("$W" token mint --key "$WINGMAN_KEYS_DIR/token.key" --kid token --sub agent-7 \
		    --env "$env" --request-id "$id" --cmd "$c" --ttl 120 --approved-by bob)
		cmds=$(jq -c --arg c "$c" --arg t "$tok" '. + [{cmd: $c, token: $t}]' <<<"$cmds")
	done
	jq -cn --arg id "$id" --arg env "$env" --argjson cmds "$cmds" \
	    --argjson ev "$(evidence_json "$id" "$env" agent-7 "$@")" \
	    '{v: 1, type: "order", request_id: $id, ts: (now | strftime("%Y-%m-%dT%H:%M:%S.000Z")),
	      worker_id: "agent-7", environment: $env, commands: $cmds, evidence: $ev}' |
	    "$KT" sign "$WINGMAN_KEYS_DIR" token
}

# run_filter ID ORDER: the executor's answer (the result record's value).
run_filter() {
	printf '{"topic":"wingman.orders","key":"%s","value":%s}\n' "$1" "$2" |
	    WINGMAN_POLICY_FILE=$T/policy.json as_service executor "$EX" --stdin 2>>"$T/executor.log" >"$T/out" ||
	    fail "executor --stdin exited non-zero for $1"
	jq -c 'select(.topic == "wingman.results") | .value' "$T/out"
}

# expect_refused WHAT CODE ENV CMD
expect_refused() {
	local what=$1 code=$2 env=$3 cmd=$4 id res
	id=$(new_id)
	res=$(run_filter "$id" "$(genuine_order "$id" "$env" "$cmd")")
	[ -n "$res" ] || fail "$what: no result ($(cat "$T/out"))"
	[ "$(jq -r .status <<<"$res")" = rejected ] || fail "$what: status: $res"
	jq -r .reason <<<"$res" | grep -q "^$code: " || fail "$what: reason: $res"
	[ "$(jq -r '.commands[0].status' <<<"$res")" = refused ] || fail "$what: command: $res"
	[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$id'")" = 0 ] ||
	    fail "$what: an execution row exists"
	[ "$(pgq "SELECT count(*) FROM audit_log WHERE request_id = '$id' AND event = 'refused'
	    AND content LIKE '%$code%'")" = 1 ] || fail "$what: refusal not audited"
	ok "$what: rejected, $code, not run, audited"
}

say "control: a genuine order inside the executor's policy runs"
id=$(new_id)
res=$(run_filter "$id" "$(genuine_order "$id" test "docker inspect wingman-test-api")")
[ "$(jq -r .status <<<"$res")" = executed ] || fail "control order: $res"
ok "genuine order for wingman-test-api: executed"

say "genuine orders the executor's own policy forbids"
before=$(started_at wingman-test-demo)
expect_refused "container allowed by approval, not by the executor" POLICY_CONTAINER test \
    "docker inspect wingman-test-demo"
expect_refused "restart outside the executor's containers" POLICY_CONTAINER test \
    "docker restart wingman-test-demo"
[ "$(started_at wingman-test-demo)" = "$before" ] || fail "wingman-test-demo was restarted"
ok "wingman-test-demo untouched"
before=$(started_at wingman-test-api)
expect_refused "action the executor's policy denies" POLICY_DENIED test "docker restart wingman-test-api"
[ "$(started_at wingman-test-api)" = "$before" ] || fail "wingman-test-api was restarted"
expect_refused "environment the executor does not know" POLICY_UNKNOWN_ENV prd \
    "docker inspect wingman-test-api"

say "a refused command refuses the whole order before anything runs"
id=$(new_id)
res=$(run_filter "$id" "$(genuine_order "$id" test "docker inspect wingman-test-demo" \
    "docker inspect wingman-test-api")")
[ "$(jq -r .status <<<"$res")" = rejected ] || fail "two-command order: $res"
[ "$(jq -r '[.commands[].status] | join(",")' <<<"$res")" = refused,refused ] ||
    fail "two-command order: $res"
[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$id'")" = 0 ] || fail "something ran"
ok "the order is refused whole (POLICY_CONTAINER on the first command), nothing ran"

echo "$checks passed, 0 failed"
