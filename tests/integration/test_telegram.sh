#!/usr/bin/env bash
# Human approval through Telegram on the real pipeline: the four daemons,
# wingman-telegram, and a local fake Bot API that speaks the real wire
# format (tests/fakes/fake_telegram.py). Each case presses buttons the way
# Telegram delivers them (callback_query updates through getUpdates) and
# checks what happened to the request, what the bot answered, and what it
# showed. Covers the issue's "must show".
. "$(dirname "$0")/lib.sh"

FAKE=$src/tests/fakes/fake_telegram.py
BOT=$build/services/telegram/wingman-telegram
CHAT=-1001234567890
OTHER_CHAT=-1009999999999
ALICE=1001 BOB=1002 DEMO=1003 MALLORY=666
PRD=wingman-prd-itest
BOT_PID="" FAKE_PID=""
test_start=$(date -u +%Y-%m-%dT%H:%M:%S)

# Whatever fails, everything this test started is stopped (no errexit in here).
tg_cleanup() {
	set +e
	stop_bot
	if [ -n "$FAKE_PID" ]; then
		kill "$FAKE_PID" 2>/dev/null
		wait "$FAKE_PID" 2>/dev/null
	fi
	docker rm -f "$PRD" >/dev/null 2>&1
	cleanup
}
trap tg_cleanup EXIT
trap 'exit 1' TERM INT

# The repository's policy, plus an environment whose requests expire fast.
jq '.environments.brief = (.environments.test + {approval_timeout_s: 4})' \
    "$WINGMAN_POLICY_FILE" >"$T/policy.json"
export WINGMAN_POLICY_FILE=$T/policy.json

# A fresh bot identity per run: its getUpdates offset is stored under the bot id.
TOKEN="$(( (RANDOM << 15 | RANDOM) + 100000000 )):AA$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)"
printf '%s\n' "$TOKEN" >"$T/tg.token"
chmod 600 "$T/tg.token"
# fd 9 is the stack lock: nothing this test starts may hold it after the test.
/usr/bin/python3 "$FAKE" --token "$TOKEN" --port-file "$T/tg.port" --lifetime 900 >"$T/fake.log" 2>&1 9>&- &
FAKE_PID=$!
for _ in $(seq 1 50); do [ -s "$T/tg.port" ] && break; sleep 0.1; done
[ -s "$T/tg.port" ] || fail "the fake Bot API did not start"
TG=http://127.0.0.1:$(cat "$T/tg.port")

export WINGMAN_TELEGRAM_API=$TG WINGMAN_TELEGRAM_TOKEN_FILE=$T/tg.token
export WINGMAN_TELEGRAM_CHAT_ID=$CHAT WINGMAN_TELEGRAM_APPROVERS="$ALICE=alice,$BOB=bob,$DEMO=demo"
export WINGMAN_TELEGRAM_POLL_S=2 WINGMAN_TELEGRAM_TIMEOUT_MS=3000

start_bot() { as_service telegram "$BOT" >>"$T/telegram.log" 2>&1 9>&- & BOT_PID=$!; }
stop_bot() {
	[ -n "$BOT_PID" ] || return 0
	kill -TERM "$BOT_PID" 2>/dev/null || true
	wait "$BOT_PID" 2>/dev/null || true
	BOT_PID=""
}
# The approval daemon is DAEMON_PIDS[1] (start_daemons: consensus approval token executor).
stop_approval() { kill -TERM "${DAEMON_PIDS[1]}"; wait "${DAEMON_PIDS[1]}" 2>/dev/null || true; }
start_approval() {
	as_service approval "$build/services/approval/wingman-approval" >>"$T/approval.log" 2>&1 9>&- &
	DAEMON_PIDS[1]=$!
}

ctl() { curl -sf --max-time 10 -H 'Content-Type: application/json' --data "$2" "$TG/_control/$1"; }
ctl_get() { curl -sf --max-time 10 "$TG/_control/$1"; }

# The message that shows request ID, as it stands now (empty when none).
message_of() {
	ctl_get messages | jq -c --arg id "$1" '[.[] | select(.html | contains("<code>" + $id + "</code>"))] | last // empty'
}
wait_message() { # ID -> the message once the bot sent it
	local m
	for _ in $(seq 1 150); do
		m=$(message_of "$1")
		[ -n "$m" ] && { printf '%s\n' "$m"; return 0; }
		sleep 0.2
	done
	fail "no Telegram message for $1"
}
# Waits until the message of ID contains TEXT; with "nobuttons", also until its buttons are gone.
wait_shows() { # ID TEXT [nobuttons]
	local m
	for _ in $(seq 1 150); do
		m=$(message_of "$1")
		if jq -e --arg t "$2" --arg nb "${3:-}" '(.html | contains($t)) and
		    ($nb == "" or ((.reply_markup.inline_keyboard // []) | length) == 0)' <<<"$m" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	fail "message of $1 does not show '$2' ${3:-}: $(jq -r .html <<<"$m")"
}
button() { jq -r ".reply_markup.inline_keyboard[0][$2].callback_data" <<<"$1"; } # MESSAGE 0|1
mid() { jq -r .message_id <<<"$1"; }
# Presses: one update per FROM CHAT MESSAGE_ID DATA quadruple, all in one batch; prints query ids.
press() {
	local presses='[]'
	while [ $# -ge 4 ]; do
		presses=$(jq -c --argjson f "$1" --argjson c "$2" --argjson m "$3" --arg d "$4" \
		    '. + [{from_id:$f, chat_id:$c, message_id:$m, data:$d}]' <<<"$presses")
		shift 4
	done
	ctl press "{\"presses\": $presses}" | jq -r '.updates[].callback_query_id'
}
answer_of() { # QUERY_ID -> what the bot answered
	local a
	for _ in $(seq 1 150); do
		a=$(ctl_get "calls?method=answerCallbackQuery" |
		    jq -r --arg q "$1" '[.[] | select(.params.callback_query_id == $q and .status == 200)] | first | .params.text // empty')
		[ -n "$a" ] && { printf '%s\n' "$a"; return 0; }
		sleep 0.2
	done
	fail "no answer to callback query $1"
}
expect_answer() { # QUERY_ID TEXT
	local a
	a=$(answer_of "$1")
	[[ $a == *"$2"* ]] || fail "answer '$a' does not say '$2'"
}
state_of() { pgq "SELECT state FROM approval_requests WHERE request_id = '$1'"; }
votes_of() { pgq "SELECT count(*) FROM approval_votes WHERE request_id = '$1'"; }
submit() { # ENV WORKER CMD [TEXT] -> request id (signed by the worker's key where it has one)
	local key=()
	[ -f "$WINGMAN_KEYS_DIR/worker-$2.key" ] && key=(--key "$WINGMAN_KEYS_DIR/worker-$2.key")
	"$W" submit --env "$1" --worker "$2" --text "${4:-integration test}" --cmd "$3" "${key[@]}"
}
press_audited() { # ID VERDICT -> count of audited presses
	pgq "SELECT count(*) FROM audit_log WHERE request_id = '$1' AND event = 'telegram_press' AND content LIKE '%\"$2\"%'"
}

say "configuration"
as_service telegram "$BOT" -n | grep -qx "configuration OK" || fail "wingman-telegram -n"
WINGMAN_TELEGRAM_APPROVERS="@bob=bob" "$BOT" -n >/dev/null 2>&1 && fail "a username in the allowlist was accepted"
WINGMAN_TELEGRAM_APPROVERS="$BOB=mallory" "$BOT" -n >/dev/null 2>&1 && fail "a name outside the policy was accepted"
ok "configuration checked; usernames and unknown approvers refused in the allowlist"

start_daemons
start_bot

say "1. approve by an allowlisted user: the message shows everything, escaped; the command runs"
before=$(started_at wingman-test-demo)
id=$(submit test agent-7 "docker restart wingman-test-demo" 'Restart <b>it</b> & "now"')
msg=$(wait_message "$id")
sent=$(ctl_get "calls?method=sendMessage" | jq -c --arg id "$id" '[.[] | select(.params.text | contains($id))] | first')
[ "$(jq -r .params.chat_id <<<"$sent")" = "$CHAT" ] || fail "sent to another chat: $sent"
[ "$(jq -r .params.parse_mode <<<"$sent")" = HTML ] || fail "parse mode: $sent"
html=$(jq -r .params.text <<<"$sent")
expires=$(pgq "SELECT to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI') FROM approval_requests WHERE request_id = '$id'")
for want in "Instruction: <i>Restart &lt;b&gt;it&lt;/b&gt; &amp; &quot;now&quot;</i>" \
    "1. <code>docker restart wingman-test-demo</code>" "Environment: <b>test</b>" \
    "Worker: <code>agent-7</code>" "Risk: <b>medium</b>" "- rules: risk medium, does not approve" \
    "Dissent: " "Approvals: 0 of 1" "Status: <b>PENDING</b>" "Expires: $expires"; do
	[[ $html == *"$want"* ]] || fail "the message lacks '$want': $html"
done
for i in 0 1; do
	d=$(button "$msg" $i)
	[ "${#d}" -ge 1 ] && [ "${#d}" -le 64 ] || fail "callback_data of ${#d} bytes"
done
[[ $(jq -r '.reply_markup.inline_keyboard[0][0].text' <<<"$msg") == *Approve ]] || fail "no Approve button"
[[ $(jq -r '.reply_markup.inline_keyboard[0][1].text' <<<"$msg") == *Reject ]] || fail "no Reject button"
ok "prompt shown in the chat: exact command, environment, worker, risk, votes, approvals, expiry; text escaped"
q=$(press $BOB $CHAT "$(mid "$msg")" "$(button "$msg" 0)")
expect_answer "$q" "approval (as bob) was sent"
out=$("$W" wait "$id" --timeout 60) || fail "approved restart did not execute: $out"
[ "$(started_at wingman-test-demo)" != "$before" ] || fail "the container was not restarted"
hd=$(first_on wingman.human-decisions "$id")
[ "$(jq -r '[.sig.kid, .channel, .approver, .decision] | join(" ")' <<<"$hd")" = "telegram telegram bob approve" ] ||
    fail "forwarded decision: $hd"
wait_shows "$id" "Status: <b>APPROVED</b> by bob" nobuttons
[ "$(press_audited "$id" TG_FORWARDED)" = 1 ] || fail "the press is not audited"
ok "bob approved in Telegram: signed by the bot, executed, message edited (buttons gone, who decided)"

say "2. reject: the request ends rejected, nothing runs"
before=$(started_at wingman-test-demo)
id=$(submit test agent-7 "docker restart wingman-test-demo")
msg=$(wait_message "$id")
q=$(press $BOB $CHAT "$(mid "$msg")" "$(button "$msg" 1)")
expect_answer "$q" "rejection (as bob) was sent"
set +e; out=$("$W" wait "$id" --timeout 60); rc=$?; set -e
[ $rc -eq 1 ] && [ "$(jq -r .status <<<"$out")" = rejected ] || fail "not rejected: $out"
jq -r .reason <<<"$out" | grep -q "^REJECTED: by bob: rejected in Telegram by user $BOB\$" || fail "reason: $out"
wait_shows "$id" "Status: <b>REJECTED</b> by bob" nobuttons
[ "$(started_at wingman-test-demo)" = "$before" ] || fail "a rejected restart ran"
ok "rejected in Telegram: status rejected with the reason, message edited, container untouched"

say "3. presses that must not count"
before=$(started_at wingman-test-api)
id=$(submit test agent-alice "docker restart wingman-test-api")
msg=$(wait_message "$id")
m=$(mid "$msg")
approve=$(button "$msg" 0)
forged="${approve:0:23}AAAAAAAAAAAAAAAAAAAAAA"
altered="wm1:r:${approve:6}"
other_handle="${approve:0:6}AAAAAAAAAAAAAAAA${approve:22}"
mapfile -t qs < <(press $MALLORY $CHAT "$m" "$approve" $BOB $OTHER_CHAT "$m" "$approve" \
    $ALICE $CHAT "$m" "$approve" $ALICE $CHAT "$m" "$(button "$msg" 1)" \
    $BOB $CHAT "$m" "$forged" $BOB $CHAT "$m" "$altered" $BOB $CHAT "$m" "$other_handle" \
    $BOB $CHAT "$m" "approve:$id" $BOB $CHAT "$m" "${approve}x")
expect_answer "${qs[0]}" "not on the approvers' allowlist"
expect_answer "${qs[1]}" "only in the approvers' chat"
expect_answer "${qs[2]}" "you own worker agent-alice"
expect_answer "${qs[3]}" "you own worker agent-alice"
expect_answer "${qs[4]}" "not authentic"
expect_answer "${qs[5]}" "not authentic"
expect_answer "${qs[6]}" "not authentic"
expect_answer "${qs[7]}" "malformed"
expect_answer "${qs[8]}" "malformed"
# No message at all (an inline or too old message) and updates that are not presses.
ctl press "{\"presses\": [{\"from_id\": $BOB, \"data\": \"$approve\", \"omit_message\": true}]}" >"$T/q"
expect_answer "$(jq -r '.updates[0].callback_query_id' "$T/q")" "only in the approvers' chat"
ctl update '{"update": {"message": {"message_id": 1, "chat": {"id": '$CHAT'}, "text": "/approve"}}}' >/dev/null
ctl update '{"update": {"callback_query": "garbage"}}' >/dev/null
presses_audited() {
	[ "$(press_audited "$id" TG_APPROVER_IS_OWNER)" = 2 ] && [ "$(press_audited "$id" TG_FORGED)" = 2 ]
}
wait_for 60 presses_audited || fail "owner/forged presses not audited"
[ "$(state_of "$id")" = pending ] || fail "a refused press changed the request"
[ "$(votes_of "$id")" = 0 ] || fail "a refused press was counted"
! "$KT" consume wingman.human-decisions "$id" --timeout 3 --count 1 >/dev/null || fail "a refused press was forwarded"
for v in TG_NOT_ALLOWED TG_WRONG_CHAT TG_UNKNOWN_REQUEST TG_BAD_DATA; do
	[ "$(pgq "SELECT count(*) FROM audit_log WHERE event = 'telegram_press' AND ts > '$test_start' AND content LIKE '%\"$v\"%'")" -ge 1 ] ||
	    fail "no audited press with $v"
done
[ "$(started_at wingman-test-api)" = "$before" ] || fail "the container restarted"
ok "not allowlisted, other chat, no message, owner (approve and reject), forged tag, altered action, other handle, malformed: refused with a reason, audited, nothing forwarded"
mapfile -t qs < <(press $BOB $CHAT "$m" "$approve")
expect_answer "${qs[0]}" "was sent"
"$W" wait "$id" --timeout 60 >/dev/null || fail "bob's approval after the refused presses did not execute"
wait_shows "$id" "APPROVED</b> by bob" nobuttons
mapfile -t qs < <(press $DEMO $CHAT "$m" "$approve" $BOB $CHAT "$m" "$(button "$msg" 1)")
expect_answer "${qs[0]}" "Already decided: approved."
expect_answer "${qs[1]}" "Already decided: approved."
sleep 1
[ "$(state_of "$id")" = approved ] || fail "a press on a stale message changed the outcome"
ok "the request still works after them; presses on the stale message: already decided"

say "4. prd: two distinct approvers, each counted once"
docker rm -f "$PRD" >/dev/null 2>&1 || true
docker run -d --name "$PRD" --network none wingman/busybox:local /bin/sleep 1000000 >/dev/null
before=$(started_at "$PRD")
id=$(submit prd agent-7 "docker restart $PRD")
msg=$(wait_message "$id")
m=$(mid "$msg")
[[ $(jq -r .html <<<"$msg") == *"Approvals: 0 of 2"* ]] || fail "prd needs 2: $(jq -r .html <<<"$msg")"
q=$(press $BOB $CHAT "$m" "$(button "$msg" 0)")
expect_answer "$q" "was sent"
wait_shows "$id" "Approvals: 1 of 2 (bob)"
[ "$(message_of "$id" | jq '.reply_markup.inline_keyboard[0] | length')" = 2 ] || fail "buttons gone after one of two"
q=$(press $BOB $CHAT "$m" "$(button "$msg" 0)")
expect_answer "$q" "already voted"
# The same approver through the CLI: not counted again, and the CLI says so.
if "$W" approve "$id" --as bob >/dev/null 2>"$T/cli.err"; then fail "bob's second vote was confirmed"; fi
grep -q "not counted: bob has voted on it before" "$T/cli.err" || fail "approve said: $(cat "$T/cli.err")"
sleep 2
[ "$(state_of "$id")" = pending ] && [ "$(votes_of "$id")" = 1 ] || fail "bob counted twice: $(state_of "$id") $(votes_of "$id")"
[ "$(started_at "$PRD")" = "$before" ] || fail "prd restarted with one approval"
pending=$("$W" pending --json | jq -c --arg id "$id" '.[] | select(.request_id == $id)')
[ "$(jq -c '[.environment, .worker_id, .commands, .risk, .approvals, .approvers_required, (.votes | length > 0), (.expires_at | length)]' <<<"$pending")" = \
    "[\"prd\",\"agent-7\",[\"docker restart $PRD\"],\"high\",[\"bob\"],2,true,24]" ] || fail "wingman pending: $pending"
"$W" pending | grep -q "^$id  env prd  worker agent-7  risk high  approvals 1 of 2 (bob)" || fail "wingman pending text"
ok "one of two: still pending, bob counted once (Telegram twice, CLI once); wingman pending shows it"
# prd takes at most one approval relayed by the bot (max_relayed_approvals):
# the second approver signs with their own key.
"$W" approve "$id" --as alice >/dev/null
"$W" wait "$id" --timeout 60 >/dev/null || fail "prd restart with two approvals did not execute"
[ "$(started_at "$PRD")" != "$before" ] || fail "prd container not restarted"
[ "$(first_on wingman.decisions "$id" | jq -c .approved_by)" = '["bob","alice"]' ] || fail "approved_by"
wait_shows "$id" "APPROVED</b> by bob, alice" nobuttons
ok "bob and alice: approved by two distinct approvers, executed"

say "5. approve and reject at once"
id=$(submit test agent-7 "docker restart wingman-test-api")
msg=$(wait_message "$id")
m=$(mid "$msg")
mapfile -t qs < <(press $DEMO $CHAT "$m" "$(button "$msg" 0)" $BOB $CHAT "$m" "$(button "$msg" 1)" \
    $DEMO $CHAT "$m" "$(button "$msg" 1)")
expect_answer "${qs[0]}" "was sent"
expect_answer "${qs[1]}" "Already decided"
# demo again: either "already voted" or, if the outcome is back already, "already decided".
a=$(answer_of "${qs[2]}")
[[ $a == *"already voted"* || $a == *"Already decided"* ]] || fail "demo's second press: '$a'"
"$W" wait "$id" --timeout 60 >/dev/null || fail "the first press (approve) did not win"
wait_shows "$id" "APPROVED</b> by demo" nobuttons
id2=$(submit test agent-7 "docker restart wingman-test-api")
msg=$(wait_message "$id2")
m=$(mid "$msg")
mapfile -t qs < <(press $BOB $CHAT "$m" "$(button "$msg" 1)" $DEMO $CHAT "$m" "$(button "$msg" 0)")
expect_answer "${qs[1]}" "Already decided"
set +e; out=$("$W" wait "$id2" --timeout 60); set -e
[ "$(jq -r .status <<<"$out")" = rejected ] || fail "the first press (reject) did not win: $out"
# Both at the approval service itself, behind the bot's back: still one outcome.
id3=$(submit test agent-7 "docker restart wingman-test-api")
wait_message "$id3" >/dev/null
# One of the two is counted first; the other may find the request decided
# (and then says so with exit 1).
"$W" approve "$id3" --as demo >/dev/null 2>&1 &
approver_pid=$!
"$W" reject "$id3" --as bob --reason "at once" >/dev/null 2>&1 || true
wait "$approver_pid" || true
set +e; "$W" wait "$id3" --timeout 60 >/dev/null; set -e
sleep 3
for r in "$id" "$id2" "$id3"; do
	n=$("$KT" consume wingman.results "$r" --timeout 3 | wc -l)
	[ "$n" = 1 ] || fail "$r has $n results"
done
[ "$("$KT" consume wingman.decisions "$id2" --timeout 2 | wc -l)" = 0 ] || fail "a decision for a rejected request"
ok "approve and reject together: the first wins, the other is told, one result each"

say "6. after expiry"
id=$(submit brief agent-7 "docker restart wingman-test-api")
msg=$(wait_message "$id")
set +e; out=$("$W" wait "$id" --timeout 30); set -e
[ "$(jq -r .status <<<"$out")" = expired ] || fail "not expired: $out"
wait_shows "$id" "Status: <b>EXPIRED</b>" nobuttons
q=$(press $BOB $CHAT "$(mid "$msg")" "$(button "$msg" 0)")
expect_answer "$q" "Already decided: expired."
# Past the expiry but before wingman-approval said so: the bot refuses on its own.
id=$(submit brief agent-7 "docker restart wingman-test-api")
msg=$(wait_message "$id")
stop_approval
sleep 5
q=$(press $BOB $CHAT "$(mid "$msg")" "$(button "$msg" 0)")
expect_answer "$q" "Too late: the request expired."
start_approval
set +e; out=$("$W" wait "$id" --timeout 30); set -e
[ "$(jq -r .status <<<"$out")" = expired ] || fail "not expired: $out"
[ "$(votes_of "$id")" = 0 ] || fail "a press after expiry counted"
wait_shows "$id" "Status: <b>EXPIRED</b>" nobuttons
ok "expired: the agent gets expired, the message says so, later presses change nothing"

say "7. restart of the approval service and the bot with requests pending"
before=$(started_at "$PRD")
id1=$(submit test agent-7 "docker restart wingman-test-demo")
id2=$(submit test agent-7 "docker restart wingman-test-api")
id3=$(submit prd agent-7 "docker restart $PRD")
msg1=$(wait_message "$id1"); msg2=$(wait_message "$id2"); msg3=$(wait_message "$id3")
q=$(press $BOB $CHAT "$(mid "$msg3")" "$(button "$msg3" 0)")
expect_answer "$q" "was sent"
wait_shows "$id3" "Approvals: 1 of 2 (bob)"
stop_bot
stop_approval
# Pressed while both are down: Telegram keeps the update.
q1=$(press $BOB $CHAT "$(mid "$msg1")" "$(button "$msg1" 0)")
start_approval
start_bot
expect_answer "$q1" "was sent"
"$W" wait "$id1" --timeout 60 >/dev/null || fail "press made while the bot was down did not execute"
wait_shows "$id1" "APPROVED</b> by bob" nobuttons
q=$(press $BOB $CHAT "$(mid "$msg2")" "$(button "$msg2" 1)")
expect_answer "$q" "was sent"
set +e; out=$("$W" wait "$id2" --timeout 60); set -e
[ "$(jq -r .status <<<"$out")" = rejected ] || fail "decided after restart: $out"
# The second prd approver with their own key (at most one vote relayed by the bot).
"$W" approve "$id3" --as alice >/dev/null
"$W" wait "$id3" --timeout 60 >/dev/null || fail "prd: bob before the restart + alice after did not execute"
[ "$(started_at "$PRD")" != "$before" ] || fail "prd container not restarted"
for r in "$id1" "$id2" "$id3"; do
	n=$(ctl_get "calls?method=sendMessage" | jq --arg id "$r" '[.[] | select(.status == 200 and (.params.text | contains($id)))] | length')
	[ "$n" = 1 ] || fail "$r was sent $n times"
done
n=$(ctl_get "calls?method=answerCallbackQuery" | jq --arg q "$q1" '[.[] | select(.params.callback_query_id == $q)] | length')
[ "$n" = 1 ] || fail "the press made while down was handled $n times"
stored=$(pgq "SELECT next_offset FROM telegram_offsets WHERE bot_id = '${TOKEN%%:*}'")
last=$(ctl_get "calls?method=getUpdates" | jq '[.[] | .params.offset // 0 | tonumber] | max')
[ "$stored" -ge "$last" ] && [ "$stored" -gt 0 ] || fail "offset stored $stored, last asked $last"
ok "restarts: no prompt sent twice, the press made while down counted once, votes kept, decided after"

say "8. Bot API failures are retried and never approve anything"
ctl fail '{"method": "sendMessage", "mode": "429", "count": 1, "retry_after": 1}' >/dev/null
ctl fail '{"method": "sendMessage", "mode": "500", "count": 1}' >/dev/null
ctl fail '{"method": "sendMessage", "mode": "garbage", "count": 1}' >/dev/null
ctl fail '{"method": "sendMessage", "mode": "timeout", "count": 1, "retry_after": 5}' >/dev/null
ctl fail '{"method": "sendMessage", "mode": "not_envelope", "count": 1}' >/dev/null
id=$(submit test agent-7 "docker restart wingman-test-api")
msg=$(wait_message "$id")
n=$(ctl_get "calls?method=sendMessage" | jq --arg id "$id" '[.[] | select(.params.text | contains($id))] | length')
[ "$n" -ge 6 ] || fail "sendMessage tried $n times"
ctl fail '{"method": "getUpdates", "mode": "garbage", "count": 2}' >/dev/null
ctl fail '{"method": "getUpdates", "mode": "not_envelope", "count": 1}' >/dev/null
ctl fail '{"method": "getUpdates", "mode": "502", "count": 1}' >/dev/null
ctl fail '{"method": "getUpdates", "mode": "429", "count": 1, "retry_after": 1}' >/dev/null
ctl fail '{"method": "answerCallbackQuery", "mode": "500", "count": 1}' >/dev/null
for _ in $(seq 1 100); do
	[ "$(ctl_get 'calls?method=getUpdates' | jq '[.[] | select(.injected)] | length')" -ge 5 ] && break
	sleep 0.2
done
[ "$(ctl_get 'calls?method=getUpdates' | jq '[.[] | select(.injected)] | length')" -ge 5 ] ||
    fail "getUpdates failures not exercised"
[ "$(state_of "$id")" = pending ] && [ "$(votes_of "$id")" = 0 ] || fail "failures changed the request"
! "$KT" consume wingman.human-decisions "$id" --timeout 2 --count 1 >/dev/null || fail "a failure forwarded a decision"
ok "429 (retry_after), 5xx, timeout, garbage, not the envelope: retried with bounds; nothing approved"
q=$(press $BOB $CHAT "$(mid "$msg")" "$(button "$msg" 1)")
expect_answer "$q" "was sent"
set +e; out=$("$W" wait "$id" --timeout 60); set -e
[ "$(jq -r .status <<<"$out")" = rejected ] || fail "after the failures: $out"
ok "after the failures, a real press still decides"

say "9. only what wingman-approval signed is shown; only the bot's key speaks for Telegram"
mkdir -p "$T/evil"
"$W" keygen --out "$T/evil" --name approval >/dev/null
"$W" keygen --out "$T/evil" --name telegram >/dev/null
fid=$(new_id)
jq -cn --arg id "$fid" '{v:1, type:"approval_prompt", request_id:$id, ts:"2026-11-26T12:00:00.000Z",
    environment:"test", worker_id:"agent-7", instruction:"", commands:["docker restart wingman-test-api"],
    risk:"low", votes:[], dissent:[], approvers_required:1, approvals:[], expires_at:"2036-11-26T12:00:00.000Z"}' |
    "$KT" sign "$T/evil" approval | "$KT" produce wingman.approval-prompts "$fid"
reason=$(first_on wingman.dlq "$fid" 30 | jq -r .reason)
[[ $reason == SIG_BAD:* ]] || fail "forged prompt: '$reason'"
[ -z "$(message_of "$fid")" ] || fail "a forged prompt was shown"
id=$(submit test agent-7 "docker restart wingman-test-api")
wait_message "$id" >/dev/null
for signer in "$T/evil telegram SIG_BAD" "$WINGMAN_KEYS_DIR approver-bob SIG_UNTRUSTED_KID"; do
	set -- $signer
	jq -cn --arg id "$id" '{v:1, type:"human_decision", request_id:$id, ts:"2026-11-26T12:00:00.000Z",
	    approver:"bob", decision:"approve", reason:"", channel:"telegram",
	    commands:["docker restart wingman-test-api"]}' |
	    "$KT" sign "$1" "$2" | "$KT" produce wingman.human-decisions "$id"
done
# Both forged decisions handled (dead-lettered) before the request is looked at.
dlq_wait "$id" '"reason":"SIG_BAD' '"reason":"SIG_UNTRUSTED_KID' >"$T/dlq" ||
    fail "forged telegram decisions not dead-lettered: $(cat "$T/dlq")"
[ "$(state_of "$id")" = pending ] && [ "$(votes_of "$id")" = 0 ] || fail "a forged telegram decision counted"
"$W" reject "$id" --as demo --reason cleanup >/dev/null
ok "forged prompt not shown (SIG_BAD); telegram decisions signed by another key refused"

say "a button handle that is already another request's: the prompt is refused, never shown"
cid=$(new_id)
handle=$(printf 'wingman-callback-handle-v1\n%s' "$cid" | openssl dgst -sha256 -binary | head -c 12 |
    base64 | tr '+/' '-_' | tr -d '=')
# A 96-bit collision cannot be searched for here: plant its row instead.
pgo "INSERT INTO telegram_prompts (request_id, handle, prompt, worker_id, approvers_required,
    expires_at, chat_id) VALUES ('collider-$cid', '$handle', '{}', 'agent-7', 1,
    now() + interval '1 hour', $CHAT)" >/dev/null
request_json "$cid" test agent-7 "docker restart wingman-test-api" | "$KT" produce wingman.requests "$cid"
reason=$("$KT" consume wingman.dlq "$cid" --timeout 30 | jq -r .reason | grep -m1 TELEGRAM_ || true)
[[ $reason == TELEGRAM_HANDLE_COLLISION:* ]] || fail "collision: dead letter '$reason'"
[ -z "$(message_of "$cid")" ] || fail "a prompt with a colliding handle was shown"
[ "$(pgq "SELECT count(*) FROM audit_log WHERE request_id = '$cid' AND event = 'refused'
    AND content LIKE '%TELEGRAM_HANDLE_COLLISION%'")" = 1 ] || fail "collision not audited"
"$W" reject "$cid" --as demo --reason cleanup >/dev/null
pgo "DELETE FROM telegram_prompts WHERE request_id = 'collider-$cid'" >/dev/null
ok "colliding handle: TELEGRAM_HANDLE_COLLISION, dead-lettered, audited, no message"

say "the token never reaches a log; the bot used it only where it belongs"
! grep -qF "${TOKEN#*:}" "$T/telegram.log" || fail "the bot token is in the log"
[ "$(ctl_get calls | jq '[.[] | select(.token_ok | not)] | length')" = 0 ] || fail "calls with a wrong token"
daemons_alive
kill -0 "$BOT_PID" 2>/dev/null || fail "wingman-telegram died"
stop_bot
! grep -q "Sanitizer" "$T/telegram.log" "$T/approval.log" || fail "sanitizer report: $(grep -h -A5 Sanitizer "$T/telegram.log" "$T/approval.log" | head -20)"
ok "token redacted everywhere; bot and approval ran clean under the sanitizers"

echo "$checks passed, 0 failed"
