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
# event name that belongs to another service; in a chain of its own (lane 9).
forge_row() {
	local head="{\"chain\":\"$1/9\",\"details\":$4,\"event\":\"$3\",\"prev_hash\":\""
	pgas "${1#wingman-}" "SELECT 1 FROM wingman_audit_append('$1/9', ARRAY['$2'], ARRAY['$3'],
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
# The audit row it ends at: found in the chain it names, with the hash it says.
lc=$(jq -r .predicate.audit.last_chain "$T/statement")
[[ "$lc" =~ ^wingman-[a-z]+/[0-9]+$ ]] || fail "receipt names no chain: $(jq -c .predicate.audit "$T/statement")"
[ "$(pgq "SELECT chain || ' ' || row_hash FROM audit_log WHERE seq = $(jq -r .predicate.audit.last_seq "$T/statement")")" = \
    "$lc $(jq -r .predicate.audit.last_row_hash "$T/statement")" ] || fail "the receipt's last row is not in chain $lc"
ok "the receipt's last audit row is row $(jq -r .predicate.audit.last_seq "$T/statement") of chain $lc, hash as signed"
# Every chain the request's rows are in is anchored: its last row of the request, as signed.
last=$(jq -r .predicate.audit.last_seq "$T/statement")
while read -r c s h; do
	[ "$(pgq "SELECT chain || ' ' || row_hash || ' ' || request_id FROM audit_log WHERE seq = $s")" = "$c $h $ok_id" ] ||
		fail "receipt head of chain $c: row $s is not the request's with hash $h"
	[ "$(pgq "SELECT max(seq) FROM audit_log WHERE request_id = '$ok_id' AND chain = '$c' AND seq <= $last")" = "$s" ] ||
		fail "receipt head of chain $c: row $s is not the request's last row there"
done < <(jq -r '.predicate.audit.heads | to_entries[] | "\(.key) \(.value.seq) \(.value.row_hash)"' "$T/statement")
heads=$(jq -r '.predicate.audit.heads | keys | join(" ")' "$T/statement")
[ "$heads" = "$(pgq "SELECT string_agg(DISTINCT chain, ' ' ORDER BY chain) FROM audit_log WHERE request_id = '$ok_id' AND seq <= $last")" ] ||
	fail "receipt heads $heads are not the request's chains"
ok "the receipt anchors the request's last row in each of its chains: $heads"
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
# (The first row there is: seq 1 may be a gap, numbers of rolled-back appends are skipped.)
first=$(pga "SELECT min(seq) FROM audit_log")
pga "UPDATE audit_log SET event = 'x' WHERE seq = $first" 2>"$T/err"; rc1=$?
pga "DELETE FROM audit_log WHERE seq = $first" 2>>"$T/err"; rc2=$?
pga "TRUNCATE audit_log" 2>>"$T/err"; rc3=$?
set -e
[ $rc1 -ne 0 ] && [ $rc2 -ne 0 ] && [ $rc3 -ne 0 ] || fail "the owner changed audit_log"
grep -q 'append-only' "$T/err" || fail "no append-only error: $(cat "$T/err")"
ok "the owner is refused too, by the append-only trigger"

say "a process cannot write into another service's chain, nor reopen the legacy chain"
# As the CLI's role (wingman_admin, service "wingman"), through the append
# function and by a plain INSERT: another service's chain, a chain whose
# name and service disagree, and the legacy chain are all refused.
row_args() { # CHAIN SERVICE -> the function's arguments for one row
	printf "'%s', ARRAY['r-x'], ARRAY['forged'], ARRAY['{\"chain\":\"%s\",\"details\":{},\"event\":\"forged\",\"prev_hash\":\"'], ARRAY['\",\"request_id\":\"r-x\",\"seq\":'], ARRAY[',\"service\":\"%s\",\"ts\":\"t\"}']" "$1" "$1" "$2"
}
before=$(pgq "SELECT count(*) FROM audit_log")
# (The function takes the row's service from the chain's name: content
# naming another service is AUDIT_BAD_ROW.)
for c in "wingman-executor/0 wingman-executor AUDIT_WRONG_WRITER" \
    "wingman-consensus/9 wingman-consensus AUDIT_WRONG_WRITER" "wingman-executor/0 wingman AUDIT_BAD_ROW"; do
	set -- $c
	set +e; pgq "SELECT wingman_audit_append($(row_args "$1" "$2"))" >/dev/null 2>"$T/err"; rc=$?; set -e
	[ $rc -ne 0 ] && grep -q "$3" "$T/err" || fail "wingman_admin wrote into chain $1 as $2: $(cat "$T/err")"
done
set +e
pgq "INSERT INTO audit_log (seq, chain, service, request_id, event, content, prev_hash, row_hash)
     VALUES (nextval('audit_log_seq'), 'wingman-approval/0', 'wingman-approval', 'r-x', 'forged',
     '{\"chain\":\"wingman-approval/0\",\"service\":\"wingman-approval\"}', 'x', 'y')" >/dev/null 2>"$T/err"; rc1=$?
pgq "INSERT INTO audit_log (seq, chain, service, request_id, event, content, prev_hash, row_hash)
     VALUES (nextval('audit_log_seq'), 'legacy', 'wingman', 'r-x', 'forged',
     '{\"service\":\"wingman\"}', 'x', 'y')" >/dev/null 2>>"$T/err"; rc2=$?
set -e
[ $rc1 -ne 0 ] && [ $rc2 -ne 0 ] || fail "a plain INSERT into another chain or the legacy chain passed"
grep -q AUDIT_WRONG_WRITER "$T/err" && grep -q AUDIT_BAD_CHAIN "$T/err" || fail "refusals: $(cat "$T/err")"
[ "$(pgq "SELECT count(*) FROM audit_log")" = "$before" ] || fail "a refused row was written"
# Its own chain is fine: the same function, the same role.
pgq "SELECT wingman_audit_append($(row_args wingman/77 wingman))" >/dev/null || fail "wingman_admin cannot write its own chain"
ok "another service's chain refused (function and INSERT: AUDIT_WRONG_WRITER, AUDIT_BAD_ROW), the legacy chain too (AUDIT_BAD_CHAIN); its own chain works"

say "a chain's head is read by its index, not by walking the table (sql/016_chain_head_plan.sql)"
# 3,000 rows in one chain make the table lopsided, as a busy writer does;
# then the plan every session ends up keeping for the head lookup of
# wingman_audit_append and the writer check (the generic one) must read
# (chain, seq), whatever the chain: walking the primary key backwards costs
# every row written since the chain's last, the whole table for a new one.
bulk() { printf "array_fill('%s'::text, ARRAY[1000])" "$1"; }
for _ in 1 2 3; do
	pgq "SELECT count(*) FROM wingman_audit_append('wingman/78', $(bulk r-x), $(bulk bulk),
	    $(bulk '{"chain":"wingman/78","details":{},"event":"bulk","prev_hash":"'),
	    $(bulk '","request_id":"r-x","seq":'), $(bulk ',"service":"wingman","ts":"t"}'))" >/dev/null ||
	    fail "wingman_admin cannot append 1,000 rows to its chain"
done
pga "ANALYZE audit_log"
plan=$(psql "$WINGMAN_PG_CONNINFO" -qAt -c "SET plan_cache_mode = force_generic_plan" \
    -c "PREPARE head(text) AS SELECT a.seq, a.row_hash FROM public.audit_log a
        WHERE a.chain = \$1 ORDER BY a.seq DESC LIMIT 1" -c "EXPLAIN EXECUTE head('wingman/79')")
grep -q 'audit_log_chain_seq' <<<"$plan" || fail "the head lookup does not use (chain, seq): $plan"
ok "the head lookup's generic plan reads audit_log_chain_seq: $(grep -o 'Index Scan[^(]*' <<<"$plan" | head -n 1)"

say "audit tail shows a row that commits after a higher seq of another chain"
"$W" audit tail >"$T/tail" 2>&1 &
tail_pid=$!
sleep 1.5
(psql "$WINGMAN_PG_CONNINFO" -qAt -c "BEGIN" -c "SELECT o_seqs FROM wingman_audit_append($(row_args wingman/1 wingman | sed 's/forged/slow_first/g'))" \
    -c "SELECT pg_sleep(2)" -c "COMMIT" >"$T/slow" 2>&1) &
slow_pid=$!
sleep 0.5
pgq "SELECT wingman_audit_append($(row_args wingman/2 wingman | sed 's/forged/fast_second/g'))" >/dev/null
wait $slow_pid
tailed() { grep -q ' slow_first ' "$T/tail" && grep -q ' fast_second ' "$T/tail"; }
wait_for 20 tailed || { kill $tail_pid; fail "audit tail missed a row: $(cat "$T/tail") / $(cat "$T/slow")"; }
kill $tail_pid; wait $tail_pid 2>/dev/null || true
[ "$(pgq "SELECT count(*) FROM audit_log WHERE event = 'slow_first' AND seq < (SELECT max(seq) FROM audit_log WHERE event = 'fast_second')")" -ge 1 ] ||
	fail "the slow row did not take the lower seq: the case was not tested"
ok "audit tail: the slow row (lower seq, committed later) and the fast one both shown"

say "tampering with a copy of the log is detected and names the row"
# Enough rows in one chain to tamper with in its middle, however young the log.
for i in 1 2 3 4 5 6 7 8; do
	pgq "SELECT wingman_audit_append($(row_args wingman/60 wingman | sed "s/forged/filler_$i/g"))" >/dev/null
done
# One more round of checkpoints covers the rows just written, then stop.
sleep 2
stop_daemons
base=$(pga "SELECT max(seq) FROM audit_log")
chains=$(pga "SELECT count(DISTINCT chain) FROM audit_log")
[ "$chains" -ge 4 ] || fail "expected a chain per writer, got $chains: $(pga "SELECT DISTINCT chain FROM audit_log")"
ok "$chains chains in the log: $(pga "SELECT string_agg(DISTINCT chain, ' ') FROM audit_log")"
# The chain with the most rows: a middle row of it, its next, another chain.
C=$(pga "SELECT chain FROM audit_log WHERE seq <= $base AND chain <> 'legacy' GROUP BY chain ORDER BY count(*) DESC, chain LIMIT 1")
n=$(pga "SELECT count(*) FROM audit_log WHERE chain = '$C' AND seq <= $base")
[ "$n" -ge 6 ] || fail "too few rows in chain $C to tamper with ($n)"
mid=$(pga "SELECT seq FROM audit_log WHERE chain = '$C' ORDER BY seq OFFSET $((n / 2)) LIMIT 1")
next=$(pga "SELECT seq FROM audit_log WHERE chain = '$C' AND seq > $mid ORDER BY seq LIMIT 1")
D=$(pga "SELECT chain FROM audit_log WHERE chain NOT IN ('$C', 'legacy') AND seq <= $base GROUP BY chain ORDER BY count(*) DESC, chain LIMIT 1")
reset_copy() {
	pga "DROP SCHEMA IF EXISTS tamper CASCADE; CREATE SCHEMA tamper;
	     CREATE TABLE tamper.audit_log (LIKE public.audit_log INCLUDING ALL);
	     CREATE TABLE tamper.audit_checkpoints (LIKE public.audit_checkpoints INCLUDING ALL);
	     CREATE TABLE tamper.audit_chain_origin (LIKE public.audit_chain_origin INCLUDING ALL);
	     CREATE TABLE tamper.audit_chains (LIKE public.audit_chains INCLUDING ALL);
	     INSERT INTO tamper.audit_log SELECT * FROM public.audit_log WHERE seq <= $base;
	     INSERT INTO tamper.audit_checkpoints SELECT * FROM public.audit_checkpoints WHERE seq <= $base;
	     INSERT INTO tamper.audit_chain_origin SELECT * FROM public.audit_chain_origin;
	     INSERT INTO tamper.audit_chains SELECT * FROM public.audit_chains;" >/dev/null
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
	ok "$1 -> $(sed 's/^wingman audit verify: //' <<<"$msg" | head -n 3 | tr '\n' ' ')"
}
reset_copy
verify_copy >/dev/null || fail "the untouched copy does not verify: $(verify_copy)"
ok "untouched copy verifies"

reset_copy
pga "UPDATE tamper.audit_log SET content = replace(content, '\"event\":\"', '\"event\":\"X') WHERE seq = $mid" >/dev/null
expect_broken "one byte changed in row $mid of chain $C" AUDIT_BAD_HASH "$mid"

reset_copy
pga "DELETE FROM tamper.audit_log WHERE seq = $mid" >/dev/null
expect_broken "row $mid deleted from the middle of chain $C" AUDIT_BROKEN_LINK "$next"

reset_copy
pga "UPDATE tamper.audit_log SET seq = -1 WHERE seq = $mid;
     UPDATE tamper.audit_log SET seq = $mid WHERE seq = $next;
     UPDATE tamper.audit_log SET seq = $next WHERE seq = -1" >/dev/null
expect_broken "rows $mid and $next of chain $C swapped" AUDIT_ "$mid"

reset_copy
pga "UPDATE tamper.audit_log SET chain = '$D' WHERE seq = $mid" >/dev/null
expect_broken "row $mid moved from chain $C to chain $D" AUDIT_MOVED "$mid"

# Moved with the service column too, into a chain of the same service's
# name: the content still binds the old chain.
reset_copy
pga "UPDATE tamper.audit_log SET chain = split_part(chain, '/', 1) || '/99' WHERE seq = $mid" >/dev/null
expect_broken "row $mid moved to a new chain of its own service" AUDIT_MOVED "$mid"

reset_copy
cp=$(pga "SELECT max(seq) FROM tamper.audit_checkpoints WHERE chain = '$C'")
[ -n "$cp" ] || fail "no checkpoint of chain $C to test truncation against"
pga "DELETE FROM tamper.audit_log WHERE chain = '$C' AND seq >= $cp" >/dev/null
# The chain still links: only its signed head says rows are gone.
set +e; msg=$(WINGMAN_PG_CONNINFO="$WINGMAN_PG_OWNER_CONNINFO options='-csearch_path=tamper'" "$W" audit verify 2>&1); set -e
grep -q 'audit chain OK' <<<"$msg" || fail "a cut tail should pass the bare chain check: $msg"
expect_broken "the newest rows of chain $C deleted after its checkpoint" AUDIT_TRUNCATED "$cp"

# A row written with the trigger off (the owner) can claim any seq: one
# numbered at or below where the per-writer chains began is refused, even
# when it links and hashes right.
reset_copy
pga "INSERT INTO tamper.audit_chains (chain) VALUES ('wingman/55');
     INSERT INTO tamper.audit_log (seq, chain, service, request_id, event, content, prev_hash, row_hash)
     SELECT -5, 'wingman/55', 'wingman', 'r-x', 'early', body, p,
         encode(sha256(convert_to(p || E'\\n' || body, 'UTF8')), 'hex')
     FROM (SELECT p, format('{\"chain\":\"wingman/55\",\"details\":{},\"event\":\"early\",\"prev_hash\":\"%s\",\"request_id\":\"r-x\",\"seq\":-5,\"service\":\"wingman\",\"ts\":\"t\"}', p) AS body
           FROM (SELECT legacy_hash AS p FROM tamper.audit_chain_origin) o) b" >/dev/null
expect_broken "a per-writer row numbered -5, before the chains began" AUDIT_BAD_SEQ "-5"

# audit_chains against the rows: the auditor signs registered chains only.
reset_copy
pga "DELETE FROM tamper.audit_chains WHERE chain = '$D'" >/dev/null
set +e; msg=$(verify_copy); rc=$?; set -e
[ $rc -eq 1 ] && grep -q "AUDIT_UNREGISTERED: chain $D " <<<"$msg" || fail "an unregistered chain passed: $msg"
ok "chain $D missing from audit_chains (never checkpointed) -> AUDIT_UNREGISTERED"
reset_copy
pga "DELETE FROM tamper.audit_log WHERE chain = '$D'" >/dev/null
set +e; msg=$(WINGMAN_PG_CONNINFO="$WINGMAN_PG_OWNER_CONNINFO options='-csearch_path=tamper'" "$W" audit verify 2>&1); rc=$?; set -e
[ $rc -eq 1 ] && grep -q "AUDIT_TRUNCATED: chain $D is in audit_chains but has no rows" <<<"$msg" ||
	fail "a chain deleted whole passed without checkpoints: $msg"
ok "every row of chain $D deleted -> AUDIT_TRUNCATED without a checkpoint (the registry still names it)"

# A log upgraded from before per-writer chains: its legacy chain is closed
# at a recorded head, so its newest row deleted shows without a checkpoint.
lhead=$(pga "SELECT legacy_seq FROM audit_chain_origin")
if [ "${lhead:-0}" -gt 1 ]; then
	reset_copy
	pga "DELETE FROM tamper.audit_log WHERE seq = $lhead" >/dev/null
	expect_broken "the legacy chain's last row $lhead deleted" AUDIT_TRUNCATED "$((lhead - 1))"
	reset_copy
	pga "DELETE FROM tamper.audit_log WHERE seq = $((lhead / 2))" >/dev/null
	expect_broken "row $((lhead / 2)) deleted from the legacy chain" AUDIT_GAP "$((lhead / 2))"
fi

# An attacker with database access rewrites one chain consistently: every
# hash of chain $C recomputed from a row before its newest checkpoint on.
# Only the signed checkpoint catches it.
reset_copy
cp=$(pga "SELECT max(seq) FROM tamper.audit_checkpoints WHERE chain = '$C'")
from=$(pga "SELECT seq FROM tamper.audit_log WHERE chain = '$C' AND seq < $cp ORDER BY seq DESC OFFSET 2 LIMIT 1")
[ -n "$from" ] || from=$cp
psql "$WINGMAN_PG_OWNER_CONNINFO" -qtA -c "SELECT seq, content FROM tamper.audit_log WHERE chain = '$C' AND seq >= $from ORDER BY seq" \
    -F $'\t' >"$T/rows"
prev=$(pga "SELECT prev_hash FROM tamper.audit_log WHERE seq = $from")
while IFS=$'\t' read -r seq content; do
	content=$(jq -cS --arg p "$prev" '.prev_hash = $p | if .seq == '"$from"' then .event = "forged" else . end' <<<"$content")
	hash=$(printf '%s\n%s' "$prev" "$content" | sha256sum | cut -d' ' -f1)
	echo "UPDATE tamper.audit_log SET content = :'c', row_hash = :'h', prev_hash = :'p' WHERE seq = $seq" |
	    psql "$WINGMAN_PG_OWNER_CONNINFO" -q -v c="$content" -v h="$hash" -v p="$prev"
	prev=$hash
done <"$T/rows"
set +e; msg=$(WINGMAN_PG_CONNINFO="$WINGMAN_PG_OWNER_CONNINFO options='-csearch_path=tamper'" "$W" audit verify 2>&1); set -e
grep -q 'audit chain OK' <<<"$msg" || fail "a consistent rewrite should pass the bare chain check: $msg"
expect_broken "chain $C rewritten with recomputed hashes" AUDIT_REWRITTEN "$cp"
pga "DROP SCHEMA tamper CASCADE" >/dev/null

say "a chain whose head cannot be signed does not stop the other chains' checkpoints"
for l in 801 802; do
	pgq "SELECT wingman_audit_append($(row_args wingman/$l wingman | sed "s/forged/cp_$l/g"))" >/dev/null
done
since=$(pgq "SELECT coalesce(max(id), 0) FROM audit_checkpoints")
# The first head of its first round fails to sign (failpoint); the round runs at start.
WINGMAN_FAILPOINTS=audit_checkpoint_sign=error@1 WINGMAN_AUDIT_CHECKPOINT_S=3600 \
    as_service auditor "$build/services/auditor/wingman-auditor" >"$T/auditor2.log" 2>&1 &
DAEMON_PIDS+=($!)
first_round() {
	grep -q 'event=checkpoint_skipped' "$T/auditor2.log" &&
	    [ "$(pgq "SELECT count(*) FROM audit_checkpoints WHERE id > $since")" -ge 1 ]
}
wait_for 60 first_round || fail "no checkpoint beside the unsigned head: $(cat "$T/auditor2.log")"
skipped=$(sed -n 's/.*event=checkpoint_skipped chain=\([^ ]*\) .*/\1/p' "$T/auditor2.log" | head -n 1)
[ -n "$skipped" ] || fail "the skipped chain is not named: $(grep checkpoint_skipped "$T/auditor2.log")"
[ "$(pgq "SELECT count(*) FROM audit_checkpoints WHERE id > $since AND chain = '$skipped'")" = 0 ] ||
	fail "chain $skipped was signed although its signing failed"
signed=$(pgq "SELECT string_agg(chain, ' ' ORDER BY chain) FROM audit_checkpoints WHERE id > $since")
for l in 801 802; do
	[ "wingman/$l" = "$skipped" ] || grep -qw "wingman/$l" <<<"$signed" ||
		fail "wingman/$l moved but was not signed in the round that skipped $skipped: $signed"
done
stop_daemons
ok "signing chain $skipped failed: logged (checkpoint_skipped), and the round still signed: $signed"

echo "$checks passed, 0 failed"
