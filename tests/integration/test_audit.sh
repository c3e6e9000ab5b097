#!/usr/bin/env bash
# The audit trail: a full run's chain and signed checkpoints verify; every
# kind of tampering is detected and names the right row; receipts verify
# offline and fail after any change. Tampering happens on a copy of the log
# in a scratch schema, so the real log stays intact for everyone else.
. "$(dirname "$0")/lib.sh"

AUDIT_PUB=$WINGMAN_KEYS_DIR/audit.pub
start_daemons
WINGMAN_AUDIT_CHECKPOINT_S=1 as_service auditor "$build/services/auditor/wingman-auditor" >"$T/auditor.log" 2>&1 &
DAEMON_PIDS+=($!)

# forge_row SERVICE ID EVENT DETAILS: a row appended with SERVICE's own
# database role, in its own name (all the writer check lets it do), under an
# event name that belongs to another service.
forge_row() {
	local head="{\"details\":$4,\"event\":\"$3\",\"prev_hash\":\""
	pgas "${1#wingman-}" "SELECT 1 FROM wingman_audit_append('$1', ARRAY['$2'], ARRAY['$3'],
	    ARRAY['$head'], ARRAY['\",\"request_id\":\"$2\",\"seq\":'],
	    ARRAY[',\"service\":\"$1\",\"ts\":\"2026-12-02T00:00:00.000Z\"}'])" >/dev/null
}
wait_receipt() { # ID -> receipt on stdout
	local i
	for i in $(seq 1 60); do
		"$W" receipt "$1" 2>/dev/null && return 0
		sleep 1
	done
	return 1
}

say "a full run leaves a story, a receipt and a verifying chain"
out=$("$W" submit --env test --worker agent-7 --text "look" --cmd "docker inspect wingman-test-demo" \
    --wait --timeout 60) || fail "inspect: $out"
ok_id=$(jq -r .request_id <<<"$out")
id=$("$W" submit --env test --worker agent-7 --text "restart" --cmd "docker restart wingman-test-demo")
first_on wingman.approval-prompts "$id" 30 >/dev/null || fail "no prompt"
# A compromised consensus speaks for the other stages while bob decides.
forge_row wingman-consensus "$id" human_vote '{"approver":"mallory","counted":true,"decision":"approve"}'
forge_row wingman-consensus "$id" approved '{"state":"approved"}'
forge_row wingman-consensus "$id" token_minted '{"cmd":"docker rm -f x","jti":"forged","sha256":"00"}'
"$W" reject "$id" --as bob --reason "no" >/dev/null
"$W" wait "$id" --timeout 60 >/dev/null || true
rej_id=$id

"$W" audit show "$ok_id" >"$T/story"
for event in request_received assessed auto_approved token_minted execution_intent execution_result result; do
	grep -q " $event " "$T/story" || fail "story of $ok_id lacks $event: $(cat "$T/story")"
done
ok "audit show tells request, votes, approval, token, intent, result in order"
! grep -q 'eyJ' "$T/story" || fail "a token reached the audit log"
ok "no token in the audit log (only its jti and hash)"

wait_receipt "$ok_id" >"$T/receipt.json" || fail "no receipt for $ok_id"
"$W" receipt verify "$T/receipt.json" --pub "$AUDIT_PUB" >"$T/statement" || fail "receipt does not verify"
[ "$(jq -r .predicate.status "$T/statement")" = executed ] || fail "receipt status: $(cat "$T/statement")"
[ "$(jq -r '.predicate.decision.approvers[0]' "$T/statement")" = auto ] || fail "receipt approvers"
[ "$(jq -r '.predicate.tokens | length' "$T/statement")" = 1 ] || fail "receipt tokens"
[ "$(jq -r '.predicate.commands[0].status' "$T/statement")" = ok ] || fail "receipt commands"
[ "$(jq -r '.subject[0].digest.sha256 | length' "$T/statement")" = 64 ] || fail "receipt subject"
ok "receipt of an executed request verifies: votes, approvers, token, command result"
wait_receipt "$rej_id" >"$T/receipt-rej.json" || fail "no receipt for $rej_id"
"$W" receipt verify "$T/receipt-rej.json" --pub "$AUDIT_PUB" >"$T/statement-rej" || fail "rejected receipt"
[ "$(jq -r .predicate.status "$T/statement-rej")" = rejected ] || fail "rejected receipt status"
[ "$(jq -r '.predicate.decision.human_votes[0].approver' "$T/statement-rej")" = bob ] || fail "rejected receipt voter"
ok "receipt of a rejected request names the approver who said no"
[ "$(jq -c '[.predicate.decision.human_votes[].approver]' "$T/statement-rej")" = '["bob"]' ] &&
    [ "$(jq -c .predicate.decision.approvers "$T/statement-rej")" = '[]' ] &&
    [ "$(jq -r .predicate.decision.outcome "$T/statement-rej")" = rejected ] &&
    [ "$(jq -r '.predicate.tokens | length' "$T/statement-rej")" = 0 ] ||
    fail "rows consensus wrote as votes, approval and token reached the receipt: $(jq -c .predicate "$T/statement-rej")"
[ "$(pgq "SELECT count(*) FROM audit_log WHERE request_id = '$rej_id' AND service = 'wingman-consensus'
    AND event IN ('human_vote', 'approved', 'token_minted')")" = 3 ] || fail "the forged rows were not written"
ok "a vote, an approval and a token that consensus wrote in its own name are left out of the receipt"

# Any change breaks it: the payload, the signature, another signer.
jq -c '.payload |= (@base64d | fromjson | .predicate.status = "rejected" | tojson | @base64)' \
    "$T/receipt.json" >"$T/r1"
jq -c '.signatures[0].sig |= (.[0:10] + (if .[10:11] == "A" then "B" else "A" end) + .[11:])' \
    "$T/receipt.json" >"$T/r2"
"$W" keygen --out "$T" --name other >/dev/null
for f in r1 r2; do
	set +e; msg=$("$W" receipt verify "$T/$f" --pub "$AUDIT_PUB" 2>&1); rc=$?; set -e
	[ $rc -eq 1 ] && grep -q RECEIPT_BAD_SIGNATURE <<<"$msg" || fail "altered receipt $f: rc=$rc $msg"
done
set +e; msg=$("$W" receipt verify "$T/receipt.json" --pub "$T/other.pub" 2>&1); rc=$?; set -e
[ $rc -eq 1 ] || fail "receipt verified with another key"
ok "altered payload, altered signature, wrong key: all refused"

# The auditor signs a checkpoint every second: verified once there is one.
checkpointed() {
	"$W" audit verify --pub "$AUDIT_PUB" >"$T/verify" 2>&1 && grep -qE ' [1-9][0-9]* signed checkpoints' "$T/verify"
}
wait_for 60 checkpointed || fail "chain does not verify, or checkpoints not checked: $(cat "$T/verify")"
ok "$(cat "$T/verify")"

say "the log is append-only: no process's role can change it, the owner is stopped by a trigger"
: "${WINGMAN_PG_OWNER_CONNINFO:?the stack environment lacks the owner connection}"
pga() { psql "$WINGMAN_PG_OWNER_CONNINFO" -tAqc "$1"; }
set +e
pgq "UPDATE audit_log SET event = 'x' WHERE seq = 1" 2>"$T/err"; rc1=$?
pgq "DELETE FROM audit_log WHERE seq = 1" 2>>"$T/err"; rc2=$?
pgq "TRUNCATE audit_log" 2>>"$T/err"; rc3=$?
set -e
[ $rc1 -ne 0 ] && [ $rc2 -ne 0 ] && [ $rc3 -ne 0 ] || fail "the CLI's role changed audit_log"
[ "$(grep -c 'permission denied' "$T/err")" -ge 3 ] || fail "no permission error: $(cat "$T/err")"
[ "$(pgq "SELECT current_user")" = wingman_admin ] || fail "tests do not run as the CLI's role"
ok "the CLI's role (wingman_admin) may not UPDATE, DELETE or TRUNCATE audit_log (test_roles tries every role)"
set +e
pga "UPDATE audit_log SET event = 'x' WHERE seq = 1" 2>"$T/err"; rc1=$?
pga "DELETE FROM audit_log WHERE seq = 1" 2>>"$T/err"; rc2=$?
pga "TRUNCATE audit_log" 2>>"$T/err"; rc3=$?
set -e
[ $rc1 -ne 0 ] && [ $rc2 -ne 0 ] && [ $rc3 -ne 0 ] || fail "the owner changed audit_log"
grep -q 'append-only' "$T/err" || fail "no append-only error: $(cat "$T/err")"
ok "the owner is refused too, by the append-only trigger"

say "tampering with a copy of the log is detected and names the row"
stop_daemons
base=$(pga "SELECT max(seq) FROM audit_log")
[ "$base" -ge 10 ] || fail "too few rows to tamper with ($base)"
# A checkpoint at the head of the copy: the newest rows are covered.
reset_copy() {
	pga "DROP SCHEMA IF EXISTS tamper CASCADE; CREATE SCHEMA tamper;
	     CREATE TABLE tamper.audit_log (LIKE public.audit_log INCLUDING ALL);
	     CREATE TABLE tamper.audit_checkpoints (LIKE public.audit_checkpoints INCLUDING ALL);
	     INSERT INTO tamper.audit_log SELECT * FROM public.audit_log WHERE seq <= $base;
	     INSERT INTO tamper.audit_checkpoints SELECT * FROM public.audit_checkpoints WHERE seq <= $base;" >/dev/null
}
verify_copy() {
	WINGMAN_PG_CONNINFO="$WINGMAN_PG_OWNER_CONNINFO options='-csearch_path=tamper'" \
	    "$W" audit verify --pub "$AUDIT_PUB" --max-age 86400 2>&1
}
expect_broken() { # WHAT CODE ROW
	local msg rc
	set +e; msg=$(verify_copy); rc=$?; set -e
	[ $rc -eq 1 ] || fail "$1 not detected: $msg"
	grep -q "$2" <<<"$msg" || fail "$1: expected $2, got: $msg"
	grep -q "row $3\b" <<<"$msg" || fail "$1: expected row $3 named, got: $msg"
	ok "$1 -> $(sed 's/^wingman audit verify: //' <<<"$msg")"
}
reset_copy
verify_copy >/dev/null || fail "the untouched copy does not verify: $(verify_copy)"
ok "untouched copy verifies"

mid=$((base / 2))
reset_copy
pga "UPDATE tamper.audit_log SET content = replace(content, '\"event\":\"', '\"event\":\"X') WHERE seq = $mid" >/dev/null
expect_broken "one byte changed in row $mid" AUDIT_BAD_HASH "$mid"

reset_copy
pga "DELETE FROM tamper.audit_log WHERE seq = $mid" >/dev/null
expect_broken "row $mid deleted" AUDIT_GAP "$mid"

reset_copy
a=$((mid + 1))
pga "UPDATE tamper.audit_log SET seq = -1 WHERE seq = $mid;
     UPDATE tamper.audit_log SET seq = $mid WHERE seq = $a;
     UPDATE tamper.audit_log SET seq = $a WHERE seq = -1" >/dev/null
expect_broken "rows $mid and $a swapped" AUDIT_ "$mid"

reset_copy
cp=$(pga "SELECT max(seq) FROM tamper.audit_checkpoints")
[ -n "$cp" ] || fail "no checkpoint to test truncation against"
pga "DELETE FROM tamper.audit_log WHERE seq > $((cp - 3))" >/dev/null
expect_broken "the newest rows deleted after a checkpoint" AUDIT_TRUNCATED "[0-9]*"

# An attacker with database access rewrites history consistently: every
# hash recomputed from row $mid on. Only the signed checkpoint catches it.
reset_copy
# Rewrite from a little before the newest checkpoint: enough to contradict it.
cp=$(pga "SELECT max(seq) FROM tamper.audit_checkpoints")
mid=$((cp > 12 ? cp - 10 : 2))
psql "$WINGMAN_PG_OWNER_CONNINFO" -qtA -c "SELECT seq, content FROM tamper.audit_log WHERE seq >= $mid ORDER BY seq" \
    -F $'\t' >"$T/rows"
prev=$(pga "SELECT row_hash FROM tamper.audit_log WHERE seq = $((mid - 1))")
while IFS=$'\t' read -r seq content; do
	content=$(jq -cS --arg p "$prev" '.prev_hash = $p | if .seq == '"$mid"' then .event = "forged" else . end' <<<"$content")
	hash=$(printf '%s\n%s' "$prev" "$content" | sha256sum | cut -d' ' -f1)
	echo "UPDATE tamper.audit_log SET content = :'c', row_hash = :'h', prev_hash = :'p' WHERE seq = $seq" |
	    psql "$WINGMAN_PG_OWNER_CONNINFO" -q -v c="$content" -v h="$hash" -v p="$prev"
	prev=$hash
done <"$T/rows"
set +e; msg=$(WINGMAN_PG_CONNINFO="$WINGMAN_PG_OWNER_CONNINFO options='-csearch_path=tamper'" "$W" audit verify 2>&1); set -e
grep -q 'audit chain OK' <<<"$msg" || fail "a consistent rewrite should pass the bare chain check: $msg"
expect_broken "history rewritten with recomputed hashes" AUDIT_REWRITTEN "[0-9]*"
pga "DROP SCHEMA tamper CASCADE" >/dev/null

echo "$checks passed, 0 failed"
