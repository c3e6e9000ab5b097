#!/usr/bin/env bash
# Idempotence end to end (trust rule 4): a decision delivered again (Kafka
# redelivery, or anyone re-producing it) gets the same tokens back, byte for
# byte, never a second set; the orders it yields are answered from the
# ledger and run nothing. wingman-token in filter mode mints the same bytes.
. "$(dirname "$0")/lib.sh"

start_daemons

say "an approved restart runs once"
id=$("$W" submit --env test --worker agent-7 --text "restart" --cmd "docker restart wingman-test-demo" \
    --cmd "docker inspect wingman-test-demo")
first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "no prompt"
"$W" approve "$id" --as bob >/dev/null
"$W" wait "$id" --timeout 60 >"$T/first" || fail "first run failed: $(cat "$T/first")"
first_on wingman.decisions "$id" 30 >"$T/decision" || fail "no decision"
first_on wingman.orders "$id" 30 >"$T/order1" || fail "no order"
ok "executed; decision and order captured"

say "the same decision, produced again twice"
started=$(started_at wingman-test-demo)
w=$(events_watch wingman-test-demo start)
"$KT" produce wingman.decisions "$id" <"$T/decision"
"$KT" produce wingman.decisions "$id-again" <"$T/decision"
"$KT" consume wingman.orders "$id" --timeout 60 --count 3 >"$T/orders" || true
[ "$(wc -l <"$T/orders")" = 3 ] || fail "$(wc -l <"$T/orders") orders, want 3"
[ "$(jq -c .commands "$T/orders" | sort -u | wc -l)" = 1 ] ||
    fail "the re-minted tokens differ: $(jq -c '[.commands[].token | .[-12:]]' "$T/orders")"
[ "$(jq -r '.commands[].token' "$T/orders" | sort -u | wc -l)" = 2 ] || fail "two commands, two tokens"
ok "three orders from one decision carry byte-identical tokens (same jti, same signature)"

"$KT" consume wingman.results "$id" --timeout 60 --count 3 >"$T/results" || true
[ "$(wc -l <"$T/results")" = 3 ] || fail "$(wc -l <"$T/results") results, want 3"
[ "$(jq -c '[.status, .commands]' "$T/results" | sort -u | wc -l)" = 1 ] || fail "the answers differ"
[ "$(started_at wingman-test-demo)" = "$started" ] || fail "the container was restarted again"
[ "$(events_count "$w")" = 0 ] ||
    fail "the container was started again"
[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$id'")" = 2 ] || fail "executions rows"
[ "$(audit_count "$id" execution_result)" = 2 ] || fail "a second execution was audited"
ok "the re-minted orders are answered from the ledger; nothing ran again"

say "filter mode mints the same bytes"
rec=$(jq -c --arg id "$id" '{topic: "wingman.decisions", key: $id, value: .}' "$T/decision")
printf '%s\n%s\n' "$rec" "$rec" | as_service token "$build/services/token/wingman-token" --stdin 2>>"$T/filter.log" |
    jq -c 'select(.topic == "wingman.orders") | .value.commands' >"$T/filtered"
[ "$(wc -l <"$T/filtered")" = 2 ] || fail "filter mode: $(cat "$T/filtered")"
[ "$(cat "$T/filtered" <(jq -c .commands "$T/order1") | sort -u | wc -l)" = 1 ] ||
    fail "filter mode minted other tokens"
ok "wingman-token --stdin, fed the decision twice, mints the daemon's exact tokens"

daemons_alive
echo "$checks passed, 0 failed"
