#!/usr/bin/env bash
# The kill switch: `wingman freeze` stops all execution at once (orders end
# `frozen`, FROZEN: reason, their tokens burnt), `wingman thaw` resumes,
# `wingman revoke ID` voids the unused tokens of one request (rejected,
# TOKEN_REVOKED). All three are audited. An unreadable switch fails closed:
# nothing runs until it can be read again. The trap always thaws.
. "$(dirname "$0")/lib.sh"

restore() {
	"$W" thaw --reason "test_killswitch cleanup" >/dev/null 2>&1 || true
	cleanup
}
trap restore EXIT

jti_of() { # ORDER-FILE INDEX
	local p
	p=$(jq -r ".commands[$2].token" "$1" | cut -d. -f2 | tr '_-' '/+')
	while [ $((${#p} % 4)) -ne 0 ]; do p="$p="; done
	base64 -d <<<"$p" | jq -r .jti
}

# submit_approved CMD: a request for CMD, approved by bob; prints its id.
submit_approved() {
	local id
	id=$("$W" submit --env test --worker agent-7 --text "kill switch" --cmd "$1")
	first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "no prompt for $1"
	"$W" approve "$id" --as bob >/dev/null
	echo "$id"
}

wait_status() { # ID: the terminal result, whatever its status
	local out
	set +e
	out=$("$W" wait "$1" --timeout 60)
	[ $? -le 1 ] || fail "no result for $1: $out"
	set -e
	echo "$out"
}

start_daemons
# The audit log outlives the test: reasons carry this run's id to be found.
run=$(new_id | cut -c1-8)

say "freeze"
out=$("$W" freeze --reason "incident $run: agents misbehaving") || fail "freeze failed: $out"
grep -qx "frozen: incident $run: agents misbehaving" <<<"$out" || fail "freeze said: $out"
[ "$(pgq "SELECT frozen FROM freeze_state")" = t ] || fail "not frozen in PostgreSQL"
[ "$(pgq "SELECT count(*) FROM audit_log WHERE event = 'freeze' AND content LIKE '%incident $run%'")" = 1 ] ||
    fail "freeze not audited"
ok "freeze recorded in PostgreSQL and audited"

before=$(started_at wingman-test-demo)
id=$(submit_approved "docker restart wingman-test-demo")
out=$(wait_status "$id")
[ "$(jq -r .status <<<"$out")" = frozen ] || fail "restart while frozen: $out"
[ "$(jq -r .reason <<<"$out")" = "FROZEN: incident $run: agents misbehaving" ] || fail "reason: $out"
[ "$(jq -r '.commands[0].status' <<<"$out")" = refused ] || fail "command: $out"
[ "$(started_at wingman-test-demo)" = "$before" ] || fail "the restart ran while frozen"
[ "$(pgq "SELECT state FROM executions WHERE request_id = '$id'")" = void ] || fail "token not burnt"
[ "$(pgq "SELECT count(*) FROM audit_log WHERE request_id = '$id' AND event = 'refused'
    AND content LIKE '%FROZEN: incident $run%'")" = 1 ] || fail "refusal not audited"
ok "approved restart while frozen: frozen, FROZEN: reason, not run, token burnt, audited"
first_on wingman.orders "$id" 30 >"$T/frozen-order"
frozen_id=$id

set +e
out=$("$W" submit --env test --worker agent-7 --text x --cmd "docker inspect wingman-test-api" --wait --timeout 60)
rc=$?
set -e
[ $rc -eq 1 ] && [ "$(jq -r .status <<<"$out")" = frozen ] || fail "auto-approved inspect while frozen: $out"
ok "auto-approved inspect while frozen: frozen"

say "thaw"
out=$("$W" thaw --reason "incident $run over") || fail "thaw failed: $out"
[ "$(pgq "SELECT frozen FROM freeze_state")" = f ] || fail "still frozen"
[ "$(pgq "SELECT count(*) FROM audit_log WHERE event = 'thaw' AND content LIKE '%incident $run over%'")" = 1 ] ||
    fail "thaw not audited"
out=$("$W" submit --env test --worker agent-7 --text x --cmd "docker inspect wingman-test-api" \
    --wait --timeout 60) || fail "inspect after thaw: $out"
ok "thawed (audited): execution resumes"
"$KT" produce wingman.orders "$frozen_id" <"$T/frozen-order"
"$KT" consume wingman.results "$frozen_id" --timeout 60 --count 2 >"$T/results" || true
[ "$(wc -l <"$T/results")" = 2 ] || fail "no answer to the frozen order's replay"
[ "$(sed -n 2p "$T/results" | jq -r .status)" = frozen ] || fail "replay after thaw: $(sed -n 2p "$T/results")"
[ "$(started_at wingman-test-demo)" = "$before" ] || fail "the frozen order ran after the thaw"
ok "the frozen order replayed after the thaw: still frozen, not run (its token was burnt)"

say "revoke"
before=$(started_at wingman-test-api)
id=$("$W" submit --env test --worker agent-7 --text "revoke me" --cmd "docker restart wingman-test-api")
first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "no prompt"
out=$("$W" revoke "$id" --reason "agent-7 compromised") || fail "revoke failed: $out"
grep -q "^revoked $id: 0 token(s) had already been used" <<<"$out" || fail "revoke said: $out"
[ "$(audit_count "$id" revoke)" = 1 ] || fail "revoke not audited"
"$W" approve "$id" --as bob >/dev/null
out=$(wait_status "$id")
[ "$(jq -r .status <<<"$out")" = rejected ] || fail "revoked request: $out"
jq -r .reason <<<"$out" | grep -q "^TOKEN_REVOKED: request $id was revoked: agent-7 compromised$" ||
    fail "reason: $out"
[ "$(started_at wingman-test-api)" = "$before" ] || fail "a revoked token ran"
ok "token minted after the revocation: rejected, TOKEN_REVOKED, not run, audited"
out=$("$W" revoke "$id") || fail "second revoke failed"
grep -q "^already revoked $id" <<<"$out" || fail "second revoke said: $out"
[ "$(audit_count "$id" revoke)" = 1 ] || fail "a second revoke row"
ok "revoking again changes nothing"

id=$("$W" submit --env test --worker agent-7 --text x --cmd "docker inspect wingman-test-api" --wait --timeout 60 |
    jq -r .request_id)
first_on wingman.orders "$id" 30 >"$T/used-order"
out=$("$W" revoke "$id") || fail "revoke of a used request failed"
grep -q "1 token(s) had already been used" <<<"$out" || fail "revoke said: $out"
"$KT" produce wingman.orders "$id" <"$T/used-order"
"$KT" consume wingman.results "$id" --timeout 60 --count 2 >"$T/results" || true
[ "$(sed -n 2p "$T/results" | jq -r .status)" = executed ] || fail "a used token's replay: $(sed -n 2p "$T/results")"
[ "$(audit_count "$id" execution_result)" = 1 ] || fail "the used token ran again"
ok "a token used before the revocation answers its stored result, never runs again"

say "an unreadable kill switch fails closed"
pgo "DELETE FROM freeze_state" >/dev/null
id=$("$W" submit --env test --worker agent-7 --text x --cmd "docker inspect wingman-test-api")
first_on wingman.orders "$id" 30 >"$T/order" || fail "no order"
sleep 6
! "$KT" consume wingman.results "$id" --timeout 2 --count 1 >/dev/null || fail "ran with no freeze row"
[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$id'")" = 0 ] || fail "intent row written"
[ "$(redis-cli -u "$WINGMAN_REDIS_URL" EXISTS "wingman:jti:$(jti_of "$T/order" 0)")" = 0 ] ||
    fail "the claim was kept"
grep -q 'KILLSWITCH_UNAVAILABLE' "$T/executor.log" || fail "the executor did not say why"
ok "freeze row missing: nothing runs, the claim is given back, KILLSWITCH_UNAVAILABLE"
"$W" thaw --reason "row restored" >/dev/null || fail "thaw could not restore the row"
out=$("$W" wait "$id" --timeout 60) || fail "the held order did not run after the thaw: $out"
ok "thaw restores the row; the held order runs"

say "operator mistakes"
set +e
"$W" freeze --reason "$(printf 'two\nlines')" >/dev/null 2>&1; rc1=$?
"$W" revoke "not a request id" >/dev/null 2>&1; rc2=$?
env -u WINGMAN_PG_CONNINFO "$W" freeze >/dev/null 2>&1; rc3=$?
set -e
[ $rc1 = 2 ] && [ $rc2 = 2 ] && [ $rc3 = 1 ] || fail "exit codes $rc1 $rc2 $rc3"
[ "$(pgq "SELECT frozen FROM freeze_state")" = f ] || fail "a refused freeze froze"
ok "bad reason or request id: usage error; no PostgreSQL: exit 1; nothing changed"

daemons_alive
echo "$checks passed, 0 failed"
