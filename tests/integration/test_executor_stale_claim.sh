#!/usr/bin/env bash
# Honest statuses at the ledger (trust rule 4): a Redis claim without a
# PostgreSQL intent row is a claim that never completed (the claimant
# stopped between the two; nothing runs without the row). It is taken over
# and the command runs once, instead of ending TOKEN_REPLAYED. A claim that
# was fenced by its intent row still refuses a replay when the row is gone.
# And a token from the future is a clock problem (failed, CLOCK_SKEW), not a
# refusal.
. "$(dirname "$0")/lib.sh"

EX=$build/services/executor/wingman-executor

redis() { redis-cli -u "$WINGMAN_REDIS_URL" "$@"; }

new_jti() { head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='; }

# order ID JTI NBF CMD: a genuine order (the stack's token key) for one command.
order() {
	local id=$1 jti=$2 nbf=$3 cmd=$4 tok
	tok=$(jq -cn --arg rid "$id" --arg cmd "$cmd" --arg jti "$jti" --argjson nbf "$nbf" \
	    '{sub: "agent-7", env: "test", request_id: $rid, cmd: $cmd, approved_by: ["bob"],
	      jti: $jti, iat: $nbf, nbf: $nbf, exp: ($nbf + 120)}' |
	    "$JT" mint "$WINGMAN_KEYS_DIR/token.key" token) || fail "cannot mint"
	jq -cn --arg id "$id" --arg c "$cmd" --arg t "$tok" \
	    --argjson ev "$(evidence_json "$id" test agent-7 "$cmd")" \
	    '{v: 1, type: "order", request_id: $id, ts: (now | strftime("%Y-%m-%dT%H:%M:%S.000Z")),
	      worker_id: "agent-7", environment: "test", commands: [{cmd: $c, token: $t}], evidence: $ev}' |
	    "$KT" sign "$WINGMAN_KEYS_DIR" token
}

# run_filter ID ORDER: the executor's answer (the result record's value).
run_filter() {
	printf '{"topic":"wingman.orders","key":"%s","value":%s}\n' "$1" "$2" |
	    as_service executor "$EX" --stdin 2>>"$T/executor.log" >"$T/out" ||
	    fail "executor --stdin exited non-zero for $1"
	jq -c 'select(.topic == "wingman.results") | .value' "$T/out"
}

say "a pending claim with no intent row is stale: taken over, run once"
id=$(new_id)
jti=$(new_jti)
redis SET "wingman:jti:$jti" "pending:$(new_id)" EX 600 >/dev/null
before=$(started_at wingman-test-demo)
res=$(run_filter "$id" "$(order "$id" "$jti" "$(date +%s)" "docker restart wingman-test-demo")")
[ "$(jq -r .status <<<"$res")" = executed ] || fail "stale claim: $res"
[ "$(started_at wingman-test-demo)" != "$before" ] || fail "the container was not restarted"
[ "$(pgq "SELECT state FROM executions WHERE jti = '$jti'")" = done ] || fail "no done row"
redis GET "wingman:jti:$jti" | grep -q '^fenced:' || fail "the claim was not fenced: $(redis GET "wingman:jti:$jti")"
grep -q "event=stale_claim_taken_over jti=$jti" "$T/executor.log" || fail "take-over not logged"
ok "executed, claim fenced, take-over logged"

say "the same order again: the stored result, not a second run"
after=$(started_at wingman-test-demo)
res2=$(run_filter "$id" "$(order "$id" "$jti" "$(date +%s)" "docker restart wingman-test-demo")")
[ "$(jq -r .status <<<"$res2")" = executed ] || fail "replay: $res2"
[ "$(started_at wingman-test-demo)" = "$after" ] || fail "the replay restarted the container"
[ "$(audit_count "$id" execution_result)" = 1 ] || fail "ran more than once"
ok "replay answered from the ledger"

say "a fenced claim whose intent row is gone still refuses"
id=$(new_id)
jti=$(new_jti)
redis SET "wingman:jti:$jti" "fenced:$(new_id)" EX 600 >/dev/null
before=$(started_at wingman-test-demo)
res=$(run_filter "$id" "$(order "$id" "$jti" "$(date +%s)" "docker restart wingman-test-demo")")
[ "$(jq -r .status <<<"$res")" = rejected ] || fail "fenced claim: $res"
jq -r .reason <<<"$res" | grep -q '^TOKEN_REPLAYED: ' || fail "fenced claim reason: $res"
[ "$(started_at wingman-test-demo)" = "$before" ] || fail "a fenced claim was run"
[ "$(pgq "SELECT count(*) FROM executions WHERE jti = '$jti'")" = 0 ] || fail "a row was written"
ok "rejected, TOKEN_REPLAYED, not run"

say "Redis forgets its scripts between two orders (SCRIPT FLUSH): the claim and the fence still take"
# One executor, one Redis connection: it loaded the scripts for the first
# order and calls them by SHA1; after the flush Redis answers NOSCRIPT to the
# claim and to the fence sent ahead, and both must be redone by text.
id1=$(new_id) jti1=$(new_jti) id2=$(new_id) jti2=$(new_jti)
o1=$(order "$id1" "$jti1" "$(date +%s)" "docker inspect wingman-test-demo")
o2=$(order "$id2" "$jti2" "$(date +%s)" "docker inspect wingman-test-demo")
: >"$T/out2"
{
	printf '{"topic":"wingman.orders","key":"%s","value":%s}\n' "$id1" "$o1"
	for _ in $(seq 1 300); do grep -q wingman.results "$T/out2" && break; sleep 0.2; done
	[ "$(redis SCRIPT FLUSH)" = OK ] || echo "SCRIPT FLUSH refused" >&2
	printf '{"topic":"wingman.orders","key":"%s","value":%s}\n' "$id2" "$o2"
} | as_service executor "$EX" --stdin 2>>"$T/executor.log" >"$T/out2" ||
    fail "executor --stdin exited non-zero"
for i in 1 2; do
	rid=id$i j=jti$i
	res=$(jq -c --arg id "${!rid}" 'select(.topic == "wingman.results" and .key == $id) | .value' "$T/out2")
	[ "$(jq -r .status <<<"$res")" = executed ] || fail "order $i: $res"
	[ "$(pgq "SELECT state FROM executions WHERE jti = '${!j}'")" = done ] || fail "order $i: no done row"
	redis GET "wingman:jti:${!j}" | grep -q '^fenced:' ||
	    fail "order $i: the claim was not fenced: $(redis GET "wingman:jti:${!j}")"
done
! grep -q "event=claim_not_fenced jti=$jti2" "$T/executor.log" || fail "the fence of order 2 was lost"
ok "both executed once, both claims fenced, before and after the flush"

say "a token valid only in ten minutes: failed, CLOCK_SKEW"
id=$(new_id)
jti=$(new_jti)
res=$(run_filter "$id" "$(order "$id" "$jti" $(($(date +%s) + 600)) "docker inspect wingman-test-demo")")
[ "$(jq -r .status <<<"$res")" = failed ] || fail "future token: $res"
jq -r .reason <<<"$res" | grep -q '^CLOCK_SKEW: ' || fail "future token reason: $res"
[ "$(pgq "SELECT count(*) FROM executions WHERE jti = '$jti'")" = 0 ] || fail "a row was written"
[ "$(redis EXISTS "wingman:jti:$jti")" = 0 ] || fail "the token was claimed"
[ "$(pgq "SELECT count(*) FROM audit_log WHERE request_id = '$id' AND event = 'result'
    AND content LIKE '%CLOCK_SKEW%'")" = 1 ] || fail "not audited"
ok "failed, CLOCK_SKEW, not claimed, audited"

echo "$checks passed, 0 failed"
