#!/usr/bin/env bash
# Key rotation with overlap (docs/security.md "Key rotation"): every role's
# key is rotated while requests are in flight (one pending a human, one
# order minted under the old token key and not yet consumed), and nothing
# is lost: each request ends executed, old signatures (tokens, assessments,
# decisions, requests, audit checkpoints, receipts) still verify, new ones
# are made with the new keys. Then a retired public key makes what it
# signed fail closed. On a copy of the stack's keys and a database of its
# own, so the stack is left as it was.
. "$(dirname "$0")/lib.sh"

ROLES=(consensus approval token executor approver-alice approver-bob approver-demo telegram audit
	worker-agent-7)
K=$T/keys
cp -a "$WINGMAN_KEYS_DIR" "$K"
export WINGMAN_KEYS_DIR=$K
# The first generation's private keys, to sign as the old keys on purpose.
mkdir -m 700 "$T/old"
for r in "${ROLES[@]}"; do cp -p "$K/$r.key" "$T/old/"; done
private_database wingman_rotation
"$W" migrate --conninfo "$WINGMAN_PG_OWNER_CONNINFO" >"$T/migrate.log" || fail "migrate: $(cat "$T/migrate.log")"

# The bot against a local fake Bot API (tests/fakes/fake_telegram.py).
CHAT=-1001234567890 BOB=1002
TOKEN="$(( (RANDOM << 15 | RANDOM) + 100000000 )):AA$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"
(umask 077; printf '%s\n' "$TOKEN" >"$T/tg.token")
/usr/bin/python3 "$src/tests/fakes/fake_telegram.py" --token "$TOKEN" --port-file "$T/tg.port" \
	--lifetime 600 >"$T/fake.log" 2>&1 9>&- &
FAKE_PID=$!
for _ in $(seq 1 50); do [ -s "$T/tg.port" ] && break; sleep 0.1; done
[ -s "$T/tg.port" ] || fail "the fake Bot API did not start"
TG=http://127.0.0.1:$(cat "$T/tg.port")
export WINGMAN_TELEGRAM_API=$TG WINGMAN_TELEGRAM_TOKEN_FILE=$T/tg.token WINGMAN_TELEGRAM_CHAT_ID=$CHAT
export WINGMAN_TELEGRAM_APPROVERS="1001=alice,$BOB=bob,1003=demo" WINGMAN_TELEGRAM_POLL_S=2
trap 'kill "$FAKE_PID" 2>/dev/null; cleanup' EXIT
tg_message() { # ID -> the bot's message about it, once sent
	local m
	for _ in $(seq 1 150); do
		m=$(curl -sf "$TG/_control/messages" |
			jq -c --arg id "$1" '[.[] | select(.html | contains("<code>" + $id + "</code>"))] | last // empty')
		[ -n "$m" ] && { printf '%s\n' "$m"; return 0; }
		sleep 0.2
	done
	fail "no Telegram message for $1"
}
tg_press() { # FROM MESSAGE BUTTON -> callback query id
	jq -cn --argjson f "$1" --argjson c "$CHAT" --argjson m "$(jq .message_id <<<"$2")" \
		--arg d "$(jq -r ".reply_markup.inline_keyboard[0][$3].callback_data" <<<"$2")" \
		'{presses: [{from_id: $f, chat_id: $c, message_id: $m, data: $d}]}' |
		curl -sf -H 'Content-Type: application/json' --data @- "$TG/_control/press" |
		jq -r '.updates[].callback_query_id'
}

declare -A PID
start_svc() {
	local s
	for s in "$@"; do
		if [ "$s" = auditor ]; then
			WINGMAN_AUDIT_CHECKPOINT_S=1 as_service auditor "$build/services/auditor/wingman-auditor" \
				</dev/null >>"$T/auditor.log" 2>&1 9>&- &
		else
			as_service "$s" "$build/services/$s/wingman-$s" </dev/null >>"$T/$s.log" 2>&1 9>&- &
		fi
		PID[$s]=$!
		DAEMON_PIDS+=($!)
	done
}
stop_svc() { local s; for s in "$@"; do stop_pid "${PID[$s]}"; done; }
restart_svc() { stop_svc "$@"; start_svc "$@"; }
wait_receipt() { # ID -> receipt on stdout
	local i
	for i in $(seq 1 60); do
		"$W" receipt "$1" 2>/dev/null && return 0
		sleep 1
	done
	return 1
}
checkpoints() { pgq "SELECT count(*) FROM audit_checkpoints"; }
wait_checkpoints_above() { # N: until there are more than N checkpoints
	local i
	for i in $(seq 1 60); do
		[ "$(checkpoints)" -gt "$1" ] && return 0
		sleep 1
	done
	fail "no new audit checkpoint after $1"
}
token_of() { jq -r '.commands[0].token' "$1"; }
token_ok() { # ORDERFILE PUBFILE CMD: the order's token verifies with that one key
	"$W" token verify --pub "$2" --kid token --env test --cmd "$3" "$(token_of "$1")" >/dev/null 2>&1
}
RESTART_DEMO="docker restart wingman-test-demo"
RESTART_API="docker restart wingman-test-api"
INSPECT="docker inspect wingman-test-demo"

start_svc consensus approval token executor auditor telegram

say "1. before the rotation: a signed request runs; its receipt and a checkpoint use the first audit key"
out=$("$W" submit --env test --worker agent-7 --key "$K/worker-agent-7.key" --text before \
	--cmd "$INSPECT" --wait --timeout 90) || fail "first request: $out"
r0=$(jq -r .request_id <<<"$out")
wait_receipt "$r0" >"$T/receipt-old.json" || fail "no receipt for $r0"
wait_checkpoints_above 0
"$W" audit verify --pub "$K/audit.pub" >/dev/null || fail "audit verify before the rotation"
ok "executed; receipt and checkpoints signed with audit.pub"

say "2. in flight under the old keys"
r1=$("$W" submit --env test --worker agent-7 --text "pending across the rotation" --cmd "$RESTART_DEMO")
first_on wingman.approval-prompts "$r1" 60 >/dev/null || fail "no prompt for $r1"
stop_svc executor
r2=$("$W" submit --env test --worker agent-7 --text "order in flight" --cmd "$RESTART_API")
first_on wingman.approval-prompts "$r2" 60 >/dev/null || fail "no prompt for $r2"
"$W" approve "$r2" --as alice >/dev/null || fail "alice's approval of $r2 not counted"
first_on wingman.orders "$r2" 60 >"$T/order-old" || fail "no order for $r2"
token_ok "$T/order-old" "$K/token.pub" "$RESTART_API" || fail "the in-flight token is not the old key's"
rt=$("$W" submit --env test --worker agent-7 --text "a button posted before the rotation" --cmd "$RESTART_DEMO")
tg_message "$rt" >"$T/tg-old-message"
ok "$r1 pending a human; $r2's order minted under token.pub, the executor stopped; $rt's buttons posted by the bot"

say "3. rotate every role: new public keys, private keys staged"
for r in "${ROLES[@]}"; do
	"$W" keys rotate "$r" >"$T/rotate-$r" || fail "keys rotate $r"
	pub=$(sed -n 1p "$T/rotate-$r")
	[[ $pub == "$K/$r-"*.pub ]] && [ -f "$pub" ] || fail "rotate $r made no new public key: $(cat "$T/rotate-$r")"
	[ -f "${pub%.pub}.key.next" ] && [ ! -e "${pub%.pub}.key" ] || fail "rotate $r did not stage the private key"
done
gen=$(basename "$(sed -n 1p "$T/rotate-token")" .pub)
gen=${gen#token-}
# Every verifier restarts with both generations; signers still use the old keys.
restart_svc consensus approval token auditor telegram
ok "rotated ${#ROLES[@]} roles to generation $gen (staged); verifiers restarted"

say "4. activate; the signers restart with the new keys; the executor starts"
for r in "${ROLES[@]}"; do
	"$W" keys activate "$r" >/dev/null || fail "keys activate $r"
	[ -f "$K/$r-$gen.key" ] || fail "$r-$gen.key not active"
done
restart_svc consensus approval token auditor telegram
start_svc executor
out=$("$W" wait "$r2" --timeout 90) || fail "the order minted under the old key was lost: $out"
[ "$(jq -r .status <<<"$out")" = executed ] || fail "$r2: $out"
ok "$r2: the token minted under token.pub ran after the rotation (executed)"

"$W" approve "$r1" --as bob >/dev/null || fail "bob's approval (new key) of $r1 not counted"
out=$("$W" wait "$r1" --timeout 90) || fail "the pending request was lost: $out"
first_on wingman.orders "$r1" 30 >"$T/order-new" || fail "no order for $r1"
token_ok "$T/order-new" "$K/token-$gen.pub" "$RESTART_DEMO" || fail "the new token is not the new key's"
! token_ok "$T/order-new" "$K/token.pub" "$RESTART_DEMO" || fail "the new token verifies with the old key"
ok "$r1: assessed under the old consensus key, approved with bob's new key, token signed by token-$gen"

q=$(tg_press "$BOB" "$(cat "$T/tg-old-message")" 0)
out=$("$W" wait "$rt" --timeout 90) || fail "a press on a button posted before the rotation: $out"
hd=$(first_on wingman.human-decisions "$rt" 30) || fail "no decision relayed for $rt"
[ "$(jq -r '.sig.kid + " " + .channel' <<<"$hd")" = "telegram telegram" ] || fail "relayed decision: $hd"
ok "$rt: bob pressed a button posted before the rotation (tag of the old telegram key); relayed, executed"

for a in alice demo; do
	id=$("$W" submit --env test --worker agent-7 --text "approver $a" --cmd "$RESTART_API")
	first_on wingman.approval-prompts "$id" 60 >/dev/null || fail "no prompt for $id"
	"$W" approve "$id" --as "$a" >/dev/null || fail "$a's approval (new key) not counted"
	out=$("$W" wait "$id" --timeout 90) || fail "$a's approval: $out"
done
ok "alice and demo approve with their new keys"

for signer in "$T/old" "$K"; do
	id=$("$W" submit --env test --worker agent-7 --text "telegram" --cmd "$RESTART_API")
	first_on wingman.approval-prompts "$id" 60 >/dev/null || fail "no prompt for $id"
	human_decision_json "$id" bob telegram approve "$RESTART_API" |
		"$KT" sign "$signer" telegram | "$KT" produce wingman.human-decisions "$id"
	out=$("$W" wait "$id" --timeout 90) || fail "telegram decision (${signer##*/}): $out"
done
ok "decisions relayed by the bot count under its old and its new key"

for key in "$T/old/worker-agent-7.key" "$K/worker-agent-7-$gen.key"; do
	out=$("$W" submit --env test --worker agent-7 --key "$key" --text after --cmd "$INSPECT" \
		--wait --timeout 90) || fail "request signed with $(basename "$key"): $out"
done
r3=$(jq -r .request_id <<<"$out")
ok "requests signed with the agent's old and new keys both run"

say "5. old checkpoints and receipts still verify; new ones are the new key's"
n=$(checkpoints)
wait_checkpoints_above "$n"
"$W" audit verify --pub "$K" >"$T/verify" || fail "audit verify with the key set: $(cat "$T/verify")"
set +e
"$W" audit verify --pub "$K/audit.pub" >"$T/verify-old" 2>&1
rc=$?
set -e
[ $rc -ne 0 ] && grep -q AUDIT_CHECKPOINT_FORGED "$T/verify-old" ||
	fail "checkpoints after the rotation verify with the old key alone"
"$W" receipt verify "$T/receipt-old.json" >/dev/null || fail "the old receipt no longer verifies"
wait_receipt "$r3" >"$T/receipt-new.json" || fail "no receipt for $r3"
"$W" receipt verify "$T/receipt-new.json" --pub "$K/audit-$gen.pub" >/dev/null ||
	fail "the new receipt is not the new key's"
ok "audit chain, old and new checkpoints verify with the set ($(cut -d: -f2- "$T/verify" | cut -c1-60)); receipts of both generations verify"

say "6. a retired public key fails closed"
"$W" keys retire token 0 >/dev/null || fail "retire token.key"
[ ! -e "$K/token.key" ] && [ -e "$K/token.pub" ] || fail "retire removed the wrong file"
set +e
"$W" keys retire token "$gen" >"$T/retire-signing" 2>&1
rc=$?
set -e
[ $rc -ne 0 ] && [ -e "$K/token-$gen.key" ] || fail "the signing key was retired"
"$W" keys retire token 0 --public >/dev/null || fail "retire token.pub"
restart_svc executor
# The old order again: its envelope and token are the retired key's.
"$KT" produce wingman.orders "$r2" <"$T/order-old"
reason=$(first_on wingman.dlq "$r2" 60 | jq -r .reason)
[[ $reason == SIG_BAD:* ]] || fail "an order signed by the retired token key: '$reason'"
[ "$(pgq "SELECT count(*) FROM executions WHERE request_id = '$r2'")" = 1 ] || fail "it ran again"
ok "order signed by the retired token key: dead-lettered SIG_BAD, nothing ran"

"$W" keys retire worker-agent-7 0 --public >/dev/null
restart_svc consensus
set +e
out=$("$W" submit --env test --worker agent-7 --key "$T/old/worker-agent-7.key" --text retired \
	--cmd "$INSPECT" --wait --timeout 90)
set -e
[ "$(jq -r .status <<<"$out")" = invalid ] && jq -r .reason <<<"$out" | grep -q '^REQUEST_BAD_SIGNATURE' ||
	fail "a request signed with the retired worker key: $out"
ok "request signed with the retired worker key: invalid, REQUEST_BAD_SIGNATURE"

"$W" keys retire consensus 0 --public >/dev/null
restart_svc approval
id=$(new_id)
WINGMAN_KEYS_DIR=$T/old assessment_json "$id" test agent-7 "$INSPECT" |
	"$KT" produce wingman.assessments "$id"
reason=$(first_on wingman.dlq "$id" 60 | jq -r .reason)
[[ $reason == SIG_BAD:* ]] || fail "an assessment signed by the retired consensus key: '$reason'"
ok "assessment signed by the retired consensus key: dead-lettered SIG_BAD"

"$W" keys retire audit 0 --public >/dev/null
set +e
"$W" audit verify --pub "$K" >"$T/verify-retired" 2>&1
rc1=$?
"$W" receipt verify "$T/receipt-old.json" >/dev/null 2>&1
rc2=$?
set -e
[ $rc1 -ne 0 ] && grep -q AUDIT_CHECKPOINT_FORGED "$T/verify-retired" ||
	fail "checkpoints of a retired audit key still verify"
[ $rc2 -ne 0 ] || fail "a receipt of a retired audit key still verifies"
ok "without audit.pub its checkpoints and receipts no longer verify (keep audit public keys)"
