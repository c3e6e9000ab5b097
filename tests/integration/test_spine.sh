#!/usr/bin/env bash
# The spine on the real stack: Kafka, Redis, PostgreSQL, dockerd, and the
# four daemons. Covers the issue's "must show" 1-5.
. "$(dirname "$0")/lib.sh"

start_daemons

say "1. an auto-approved inspect returns the container's state"
out=$("$W" submit --env test --worker agent-7 --text "check it" \
    --cmd "docker inspect wingman-test-demo" --wait --timeout 60) || fail "inspect did not execute: $out"
[ "$(jq -r .status <<<"$out")" = executed ] || fail "status: $out"
[ "$(jq -r '.commands[0].output | fromjson | .Name' <<<"$out")" = /wingman-test-demo ] ||
    fail "inspect output is not the container's state"
[ "$(jq -r '.commands[0].output | fromjson | .State.Running' <<<"$out")" = true ] || fail "state missing"
ok "inspect executed and returned State"

say "2a. a restart waits for a human, is approved with the CLI, and really restarts"
before=$(started_at wingman-test-demo)
id=$("$W" submit --env test --worker agent-7 --text "restart it" --cmd "docker restart wingman-test-demo")
first_on wingman.approval-prompts "$id" 30 >"$T/prompt" || fail "no approval prompt for $id"
[ "$(pgq "SELECT state FROM approval_requests WHERE request_id = '$id'")" = pending ] || fail "not pending"
[ "$(started_at wingman-test-demo)" = "$before" ] || fail "restart ran before approval"
ok "restart is pending and has not run"
"$W" approve "$id" --as alice >/dev/null
out=$("$W" wait "$id" --timeout 60) || fail "approved restart did not execute: $out"
after=$(started_at wingman-test-demo)
[ "$after" != "$before" ] || fail "StartedAt did not change ($before)"
ok "approved restart executed; StartedAt $before -> $after"

say "2b. a rejected restart never runs"
before=$(started_at wingman-test-demo)
id=$("$W" submit --env test --worker agent-7 --text "restart it" --cmd "docker restart wingman-test-demo")
first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "no approval prompt for $id"
"$W" reject "$id" --as bob --reason "not during the demo" >/dev/null
set +e; out=$("$W" wait "$id" --timeout 60); rc=$?; set -e
[ $rc -eq 1 ] || fail "wait should exit 1 for rejected, got $rc"
[ "$(jq -r .status <<<"$out")" = rejected ] || fail "status: $out"
jq -r .reason <<<"$out" | grep -q '^REJECTED: by bob: not during the demo$' || fail "reason: $out"
sleep 2
[ "$(started_at wingman-test-demo)" = "$before" ] || fail "a rejected restart ran"
[ "$(audit_count "$id" execution_intent)" = 0 ] || fail "an execution intent exists for a rejected request"
ok "rejected: status rejected with the reason, container untouched"

say "3. outside the environment or the grammar: invalid, nothing runs"
for cmd in "docker restart some-prod-db" "docker restart wingman-test-demo; rm -rf /" \
    'docker exec wingman-test-demo sh -c $(id)' "docker run wingman-test-demo" \
    "docker -H tcp://127.0.0.1:2375 restart wingman-test-demo"; do
	set +e; out=$("$W" submit --env test --worker agent-7 --text x --cmd "$cmd" --wait --timeout 60); rc=$?; set -e
	[ $rc -eq 1 ] || fail "'$cmd' exit $rc"
	[ "$(jq -r .status <<<"$out")" = invalid ] || fail "'$cmd': $out"
	rid=$(jq -r .request_id <<<"$out")
	[ "$(audit_count "$rid" execution_intent)" = 0 ] || fail "'$cmd' reached the executor"
	ok "invalid: $cmd ($(jq -r .reason <<<"$out" | cut -d: -f1))"
done
set +e; out=$("$W" submit --env nowhere --worker agent-7 --text x --cmd "docker ps" --wait --timeout 60); set -e
[ "$(jq -r .status <<<"$out")" = invalid ] || fail "unknown environment: $out"
ok "invalid: unknown environment"

say "4. the same order delivered twice runs once"
id=$("$W" submit --env test --worker agent-7 --text "restart" --cmd "docker restart wingman-test-api")
first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "no prompt"
"$W" approve "$id" --as bob >/dev/null
"$W" wait "$id" --timeout 60 >"$T/first" || fail "first run failed"
started=$(started_at wingman-test-api)
first_on wingman.orders "$id" 30 >"$T/order" || fail "order not found"
"$KT" produce wingman.orders "$id" <"$T/order"
# The second delivery must answer with the stored result, not run again.
"$KT" consume wingman.results "$id" --timeout 60 --count 2 >"$T/results" || true
[ "$(wc -l <"$T/results")" -ge 2 ] || fail "no result for the redelivered order"
[ "$(started_at wingman-test-api)" = "$started" ] || fail "the redelivered order ran again"
[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$id'")" = 1 ] || fail "executions != 1"
[ "$(sed -n 2p "$T/results" | jq -c .commands)" = "$(sed -n 1p "$T/results" | jq -c .commands)" ] ||
    fail "the second result differs from the first"
[ "$(audit_count "$id" replay_answered)" = 1 ] || fail "replay not audited"
ok "redelivered order answered from the ledger, container not restarted again"

say "5. filter mode gives the same terminal result as the Kafka path"
out=$("$W" submit --env test --worker agent-7 --text "ps" --cmd "docker logs --tail 5 wingman-test-api" \
    --cmd "docker ps" --wait --timeout 60) || fail "kafka path failed: $out"
id=$(new_id)
printf '{"topic":"wingman.requests","key":"%s","value":%s}\n' "$id" \
    "$(request_json "$id" test agent-7 "docker logs --tail 5 wingman-test-api" "docker ps")" |
    as_service consensus "$build/services/consensus/wingman-consensus" --stdin 2>>"$T/filter.log" |
    as_service approval "$build/services/approval/wingman-approval" --stdin 2>>"$T/filter.log" |
    as_service token "$build/services/token/wingman-token" --stdin 2>>"$T/filter.log" |
    as_service executor "$build/services/executor/wingman-executor" --stdin 2>>"$T/filter.log" >"$T/filter.out"
filtered=$(jq -c 'select(.topic == "wingman.results") | .value' "$T/filter.out")
[ -n "$filtered" ] || fail "filter mode published no result: $(cat "$T/filter.out")"
# Only what cannot change between the two runs is compared: the status,
# the reason and, per command, its text, status and exit code. The outputs
# can: `docker ps` says how long each container has been up ("Up 3
# seconds", "Up About a minute") and lists whatever containers exist at
# that moment, and the log tail grows when the container is restarted.
same_result() {
	jq -c '[.status, .reason, (.commands | map({cmd, status, exit_code}))]'
}
[ "$(same_result <<<"$filtered")" = "$(same_result <<<"$out")" ] ||
    fail "filter result differs: $filtered vs $out"
ok "filter pipeline and Kafka path agree: $(jq -r .status <<<"$out")"

daemons_alive
echo "$checks passed, 0 failed"
