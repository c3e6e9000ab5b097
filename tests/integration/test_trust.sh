#!/usr/bin/env bash
# Trust rules on the real pipeline: every stage accepts only what the stage
# before it signed, bad input is dead-lettered without killing a daemon, only
# allowed humans decide, and a token runs at most once even when Redis
# forgets. Each case tries to break a rule and checks it fails closed.
. "$(dirname "$0")/lib.sh"

start_daemons
mkdir -p "$T/evil"
"$W" keygen --out "$T/evil" --name approval >/dev/null
"$W" keygen --out "$T/evil" --name token >/dev/null

dead_letter_reason() { # ID -> reason of the first dead letter with that key
	first_on wingman.dlq "$1" 30 | jq -r .reason
}

say "a decision not signed by wingman-approval mints no token"
for signer in "$WINGMAN_KEYS_DIR approver-alice SIG_UNTRUSTED_KID" "$T/evil approval SIG_BAD"; do
	set -- $signer
	id=$(new_id)
	jq -cn --arg id "$id" --argjson ev "$(evidence_json "$id" test agent-7 "docker restart wingman-test-demo")" \
	    '{v:1, type:"decision", request_id:$id, ts:"2026-11-26T12:00:00.000Z",
	    worker_id:"agent-7", environment:"test", commands:["docker restart wingman-test-demo"],
	    approved_by:["auto"], decided_at:"2026-11-26T12:00:00.000Z", token_ttl_s:60, evidence:$ev}' |
	    "$KT" sign "$1" "$2" | "$KT" produce wingman.decisions "$id"
	reason=$(dead_letter_reason "$id")
	[[ $reason == $3:* ]] || fail "forged decision ($2): dead letter reason '$reason'"
	! "$KT" consume wingman.orders "$id" --timeout 3 --count 1 >/dev/null || fail "an order was minted"
	ok "decision signed by $2 (${1##*/}): $3, no order"
done

say "an order not signed by wingman-token runs nothing"
out=$("$W" submit --env test --worker agent-7 --text x --cmd "docker inspect wingman-test-api" --wait --timeout 60)
real=$(jq -r .request_id <<<"$out")
first_on wingman.orders "$real" 30 >"$T/order"
id=$(new_id)
# Re-scoped: a genuine order moved to another request id breaks its signature.
jq -c --arg id "$id" '.request_id = $id' "$T/order" | "$KT" produce wingman.orders "$id"
reason=$(dead_letter_reason "$id")
[[ $reason == SIG_BAD:* ]] || fail "re-scoped order: '$reason'"
# Forged: an attacker's own "token" key signs order and token.
id=$(new_id)
now=$(date +%s)
tok=$(jq -cn --arg id "$id" --argjson now "$now" '{sub:"agent-7", env:"test", request_id:$id,
    cmd:"docker restart wingman-test-demo", approved_by:["auto"], jti:"AAAAAAAAAAAAAAAAAAAAAA",
    iat:$now, nbf:$now, exp:($now + 60)}' | "$JT" mint "$T/evil/token.key" token)
jq -cn --arg id "$id" --arg tok "$tok" \
    --argjson ev "$(evidence_json "$id" test agent-7 "docker restart wingman-test-demo")" \
    '{v:1, type:"order", request_id:$id, ts:"2026-11-26T12:00:00.000Z", worker_id:"agent-7",
    environment:"test", commands:[{cmd:"docker restart wingman-test-demo", token:$tok}], evidence:$ev}' |
    "$KT" sign "$T/evil" token | "$KT" produce wingman.orders "$id"
reason=$(dead_letter_reason "$id")
[[ $reason == SIG_BAD:* ]] || fail "forged order: '$reason'"
[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$id'")" = 0 ] || fail "forged order ran"
ok "re-scoped and forged orders are dead-lettered (SIG_BAD), nothing runs"

say "malformed messages are dead-lettered and the daemons go on"
declare -A junk
for topic in wingman.requests wingman.assessments wingman.human-decisions wingman.decisions wingman.orders; do
	key=junk-$(new_id)
	junk[$topic]=$key
	printf 'not json at all \001\377' | "$KT" produce "$topic" "$key"
	printf '{"v":1,"type":"request","request_id":"%s","request_id":"dup"}' "$key" | "$KT" produce "$topic" "$key"
done
# Each garbage message's own dead letter (by its key: earlier runs' garbage
# is on wingman.dlq too), waited for rather than a fixed time.
garbage_dead_lettered() {
	local topic
	"$KT" consume wingman.dlq --timeout 3 >"$T/dlq" || true
	for topic in "${!junk[@]}"; do
		[ "$(jq -c --arg t "$topic" --arg k "${junk[$topic]}" \
		    'select(.topic == $t and .key == $k and (.reason | startswith("MSG_UNPARSABLE")))' \
		    "$T/dlq" 2>/dev/null | wc -l)" -ge 1 ] || return 1
	done
}
wait_for 90 garbage_dead_lettered || fail "no dead letters for the garbage on every topic: $(wc -l <"$T/dlq")"
daemons_alive
out=$("$W" submit --env test --worker agent-7 --text x --cmd "docker ps" --wait --timeout 60) ||
    fail "pipeline broken after garbage: $out"
ok "garbage on every topic dead-lettered with MSG_UNPARSABLE; pipeline still works"

say "a request that does not decode gets no signed result in the id it names (trust rule 9)"
id=$(new_id)
jq -cn --arg id "$id" '{v:1, type:"request", request_id:$id, worker_id:"agent-7",
    environment:"test", commands:["docker ps"], ts:"2026-11-26T12:00:00.000Z", extra:true}' |
    "$KT" produce wingman.requests "$id"
reason=$(dead_letter_reason "$id")
[[ $reason == MSG_UNKNOWN_MEMBER:* ]] || fail "undecodable request: dead letter reason '$reason'"
! "$KT" consume wingman.results "$id" --timeout 3 --count 1 >/dev/null || fail "a result was published for $id"
[ "$(pgq "SELECT count(*) FROM audit_log WHERE request_id = '$id' AND event <> 'dead_letter'")" = 0 ] ||
    fail "audit rows in the victim's name"
ok "request with an unknown member: dead-lettered (MSG_UNKNOWN_MEMBER), no result, nothing in its id's name"

say "only allowed humans decide"
before=$(started_at wingman-test-demo)
id=$("$W" submit --env test --worker agent-alice --text "restart" --cmd "docker restart wingman-test-demo")
first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "no prompt"
# An approver key that is not in the policy.
"$W" keygen --out "$T/evil" --name approver-mallory >/dev/null
human_decision_json "$id" mallory cli approve "docker restart wingman-test-demo" |
    "$KT" sign "$T/evil" approver-mallory | "$KT" produce wingman.human-decisions "$id"
# bob's name, signed by alice's key.
human_decision_json "$id" bob cli approve "docker restart wingman-test-demo" |
    "$KT" sign "$WINGMAN_KEYS_DIR" approver-alice | "$KT" produce wingman.human-decisions "$id"
# alice owns agent-alice: she may not approve its request (and the CLI says so).
if "$W" approve "$id" --as alice >/dev/null 2>"$T/cli.err"; then fail "the owner's approval was confirmed"; fi
grep -q "APPROVER_IS_OWNER" "$T/cli.err" || fail "approve said: $(cat "$T/cli.err")"
# Both forged decisions handled (dead-lettered) before the request is looked at.
dlq_wait "$id" APPROVER_UNKNOWN SIG_UNTRUSTED_KID >"$T/dlq-id" ||
    fail "unknown or impersonated approver not dead-lettered: $(cat "$T/dlq-id")"
[ "$(pgq "SELECT state FROM approval_requests WHERE request_id = '$id'")" = pending ] ||
    fail "an unauthorised decision changed the request"
[ "$(pgq "SELECT count(*) FROM approval_votes WHERE request_id = '$id'")" = 0 ] || fail "a vote was counted"
[ "$(pgq "SELECT count(*) FROM audit_log WHERE request_id = '$id' AND event = 'refused' AND content LIKE '%APPROVER_IS_OWNER%'")" = 1 ] ||
    fail "owner self-approval not audited as refused"
[ "$(started_at wingman-test-demo)" = "$before" ] || fail "container restarted without a valid approval"
ok "unknown approver, impersonation and owner approval change nothing"
"$W" approve "$id" --as bob >/dev/null
if "$W" approve "$id" --as bob >/dev/null 2>&1; then fail "bob's second approval was confirmed"; fi
out=$("$W" wait "$id" --timeout 60) || fail "bob's approval did not execute: $out"
if "$W" reject "$id" --as demo --reason late >/dev/null 2>&1; then fail "a late reject was confirmed"; fi
late_audited() { [ "$(audit_count "$id" late_decision)" -ge 1 ]; }
wait_for 60 late_audited || fail "late decision not audited"
[ "$(pgq "SELECT state FROM approval_requests WHERE request_id = '$id'")" = approved ] || fail "a late reject won"
ok "allowlisted approver decides; the first final decision wins"

say "Redis forgets: the PostgreSQL fence still refuses to run a token twice"
first_on wingman.orders "$id" 30 >"$T/order2"
started=$(started_at wingman-test-demo)
redis-cli -u "$WINGMAN_REDIS_URL" FLUSHALL >/dev/null
"$KT" produce wingman.orders "$id" <"$T/order2"
"$KT" consume wingman.results "$id" --timeout 60 --count 2 >"$T/results" || true
[ "$(wc -l <"$T/results")" -ge 2 ] || fail "no answer to the replayed order"
[ "$(started_at wingman-test-demo)" = "$started" ] || fail "the replay ran after Redis lost its data"
ok "replay after FLUSHALL answered from the ledger, not run"

say "Redis remembers but PostgreSQL has no row: TOKEN_REPLAYED"
# A jti claimed in Redis with no intent row is refused (the claim is the
# only thing standing there): simulate by claiming the next token first.
id=$("$W" submit --env test --worker agent-7 --text x --cmd "docker restart wingman-test-api")
first_on wingman.approval-prompts "$id" 30 >/dev/null
stop_daemons
start=$(date +%s)
DAEMON_PIDS=()
for s in consensus approval token; do
	as_service "$s" "$build/services/$s/wingman-$s" >>"$T/$s.log" 2>&1 &
	DAEMON_PIDS+=($!)
done
"$W" approve "$id" --as bob >/dev/null
first_on wingman.orders "$id" 30 >"$T/order3" || fail "no order"
tok=$(jq -r '.commands[0].token' "$T/order3")
jti=$(cut -d. -f2 <<<"$tok" | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .jti || true)
[ -n "$jti" ] || jti=$(cut -d. -f2 <<<"$tok"== | tr '_-' '/+' | base64 -d 2>/dev/null | jq -r .jti)
redis-cli -u "$WINGMAN_REDIS_URL" SET "wingman:jti:$jti" someone-else >/dev/null
as_service executor "$build/services/executor/wingman-executor" >>"$T/executor.log" 2>&1 &
DAEMON_PIDS+=($!)
set +e; out=$("$W" wait "$id" --timeout 60); set -e
[ "$(jq -r .status <<<"$out")" = rejected ] || fail "claimed token: $out"
jq -r .reason <<<"$out" | grep -q '^TOKEN_REPLAYED' || fail "reason: $out"
ok "a token already claimed in Redis is refused: TOKEN_REPLAYED"

daemons_alive
echo "$checks passed, 0 failed"
