#!/usr/bin/env bash
# /exec from the approvers' chat on the real pipeline: the four daemons,
# wingman-telegram and the fake Bot API (tests/fakes/fake_telegram.py).
# A person posts "/exec ENV COMMAND" the way Telegram delivers it (a
# "message" update through getUpdates); the bot makes a request signed with
# its key for worker telegram-<name>, which goes through consensus and
# approval like any other; the person who asked cannot approve it; the bot
# answers in the thread with the request id, then with the result. Strangers,
# other chats and malformed commands get a reason and make no request.
. "$(dirname "$0")/lib.sh"

FAKE=$src/tests/fakes/fake_telegram.py
BOT=$build/services/telegram/wingman-telegram
CHAT=-1001234567890
OTHER_CHAT=-1009999999999
ALICE=1001 BOB=1002 DEMO=1003 MALLORY=666
BOT_PID="" FAKE_PID=""
test_start=$(date -u +%Y-%m-%dT%H:%M:%S)

tg_cleanup() {
	set +e
	if [ -n "$BOT_PID" ]; then
		kill -TERM "$BOT_PID" 2>/dev/null
		wait "$BOT_PID" 2>/dev/null
	fi
	if [ -n "$FAKE_PID" ]; then
		kill "$FAKE_PID" 2>/dev/null
		wait "$FAKE_PID" 2>/dev/null
	fi
	cleanup
}
trap tg_cleanup EXIT
trap 'exit 1' TERM INT

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

ctl() { curl -sf --max-time 10 -H 'Content-Type: application/json' --data "$2" "$TG/_control/$1"; }
ctl_get() { curl -sf --max-time 10 "$TG/_control/$1"; }

# post FROM CHAT TEXT [EXTRA_JSON]: a person posts TEXT; prints the message id.
post() {
	local extra=${4:-}
	[ -n "$extra" ] || extra='{}'
	jq -cn --argjson f "$1" --argjson c "$2" --arg t "$3" --argjson x "$extra" \
	    '{from_id: $f, chat_id: $c, text: $t} + $x' | ctl message @- | jq -r .message_id
}
# The bot's messages that reply to message MID in CHAT, oldest first (a JSON array).
replies_to() { # CHAT MID
	ctl_get messages | jq -c --argjson c "$1" --argjson m "$2" \
	    '[.[] | select(.from_id == null and .chat_id == $c and .reply_to == $m)]'
}
# Waits for a reply to MID whose HTML contains TEXT; prints it.
wait_reply() { # CHAT MID TEXT
	local r
	for _ in $(seq 1 150); do
		r=$(replies_to "$1" "$2" | jq -c --arg t "$3" '[.[] | select(.html | contains($t))] | first // empty')
		[ -n "$r" ] && { printf '%s\n' "$r"; return 0; }
		sleep 0.2
	done
	fail "no reply to message $2 saying '$3'; replies: $(replies_to "$1" "$2" | jq -r '.[].html')"
}
# The approval prompt of request ID (a bot message with buttons), once sent.
wait_prompt() {
	local m
	for _ in $(seq 1 150); do
		m=$(ctl_get messages | jq -c --arg id "$1" '[.[] | select(.from_id == null and
		    (.html | contains("approval request")) and (.html | contains("<code>" + $id + "</code>")))] | last // empty')
		[ -n "$m" ] && { printf '%s\n' "$m"; return 0; }
		sleep 0.2
	done
	fail "no approval prompt for $1"
}
request_id_of() { jq -r .html <<<"$1" | sed -n 's/^Request <code>\([^<]*\)<\/code> sent as worker.*/\1/p'; }
press() { # FROM MESSAGE BUTTON(0|1) -> callback query id
	jq -cn --argjson f "$1" --argjson c "$CHAT" --argjson m "$(jq .message_id <<<"$2")" \
	    --arg d "$(jq -r ".reply_markup.inline_keyboard[0][$3].callback_data" <<<"$2")" \
	    '{presses: [{from_id: $f, chat_id: $c, message_id: $m, data: $d}]}' |
	    ctl press @- | jq -r '.updates[0].callback_query_id'
}
answer_of() {
	local a
	for _ in $(seq 1 150); do
		a=$(ctl_get "calls?method=answerCallbackQuery" |
		    jq -r --arg q "$1" '[.[] | select(.params.callback_query_id == $q and .status == 200)] | first | .params.text // empty')
		[ -n "$a" ] && { printf '%s\n' "$a"; return 0; }
		sleep 0.2
	done
	fail "no answer to callback query $1"
}
state_of() { pgq "SELECT state FROM approval_requests WHERE request_id = '$1'"; }
# Requests of telegram-* workers on wingman.requests so far (reads the topic
# for 4 s; other tests leave garbage there on purpose: skipped).
bot_requests() {
	"$KT" consume wingman.requests --timeout 4 |
	    jq -nR '[inputs | fromjson? | objects | select((.worker_id | strings) // "" | startswith("telegram-"))] | length'
}

say "configuration"
as_service telegram "$BOT" -n | grep -qx "configuration OK" || fail "wingman-telegram -n"
ok "wingman-telegram -n"

start_daemons
as_service telegram "$BOT" >>"$T/telegram.log" 2>&1 9>&- &
BOT_PID=$!

say "1. a human command: the person who asked cannot approve it, a second person can"
before=$(started_at wingman-test-api)
mid=$(post $ALICE $CHAT "/exec test docker restart wingman-test-api")
ack=$(wait_reply $CHAT "$mid" "sent as worker <code>telegram-alice</code>")
id=$(request_id_of "$ack")
[ -n "$id" ] || fail "no request id in the acknowledgement: $(jq -r .html <<<"$ack")"
[[ $(jq -r .html <<<"$ack") == *"<code>docker restart wingman-test-api</code> in <b>test</b>"* ]] ||
    fail "acknowledgement: $(jq -r .html <<<"$ack")"
req=$(first_on wingman.requests "$id")
[ "$(jq -r '[.worker_id, .environment, .commands[0], .sig.kid] | join(" ")' <<<"$req")" = \
    "telegram-alice test docker restart wingman-test-api telegram" ] || fail "request: $req"
[ "$(jq -r .instruction <<<"$req")" = "Telegram /exec by alice (user $ALICE): /exec test docker restart wingman-test-api" ] ||
    fail "instruction: $req"
ok "alice's /exec: a request of telegram-alice signed by the bot, acknowledged in the thread with its id"
prompt=$(wait_prompt "$id")
[ "$(jq -r .reply_to <<<"$prompt")" = "$mid" ] || fail "the prompt does not answer the /exec message"
[[ $(jq -r .html <<<"$prompt") == *"Worker: <code>telegram-alice</code>"* ]] || fail "prompt: $(jq -r .html <<<"$prompt")"
ok "the approval prompt appears in the thread, worker telegram-alice, with buttons"

# Anyone may write wingman.results: results for this request that its
# stages did not sign are refused (dead-lettered), never shown.
mkdir -p "$T/evil"
"$W" keygen --out "$T/evil" --name executor >/dev/null
forged() { # STATUS KEYS_DIR SIGNER
	jq -cn --arg id "$id" --arg s "$1" '{v:1, type:"result", request_id:$id, status:$s,
	    reason:"", commands:[{cmd:"docker restart wingman-test-api", status:"ok", exit_code:0,
	    output:"forged"}], ts:(now | strftime("%Y-%m-%dT%H:%M:%S.000Z"))}' |
	    "$KT" sign "$2" "$3" | "$KT" produce wingman.results "$id"
}
forged executed "$T/evil" executor
forged executed "$WINGMAN_KEYS_DIR" approval
"$KT" consume wingman.dlq "$id" --timeout 30 --count 2 >"$T/dlq" || true
grep -q '"reason":"SIG_BAD' "$T/dlq" && grep -q '"reason":"RESULT_SIGNER_NOT_ENTITLED' "$T/dlq" ||
    fail "forged results not dead-lettered: $(cat "$T/dlq")"
[ "$(replies_to $CHAT "$mid" | jq '[.[] | select(.html | contains("Result of"))] | length')" = 0 ] ||
    fail "a forged result was shown"
ok "forged results (another executor key; approval signing 'executed'): dead-lettered, not shown"

q=$(press $ALICE "$prompt" 0)
a=$(answer_of "$q")
[[ $a == *"you asked for this request"* ]] || fail "alice's own approval answered: $a"
if "$W" approve "$id" --as alice >/dev/null 2>"$T/cli.err"; then fail "alice approved her own request with the CLI"; fi
grep -q "APPROVER_IS_REQUESTER" "$T/cli.err" || fail "CLI approve said: $(cat "$T/cli.err")"
press_audited() {
	[ "$(pgq "SELECT count(*) FROM audit_log WHERE request_id = '$id' AND event = 'telegram_press'
	     AND content LIKE '%TG_APPROVER_IS_REQUESTER%'")" -ge 1 ]
}
wait_for 60 press_audited || fail "alice's press is not audited"
[ "$(state_of "$id")" = pending ] || fail "alice's own approval changed the request: $(state_of "$id")"
[ "$(pgq "SELECT count(*) FROM approval_votes WHERE request_id = '$id'")" = 0 ] || fail "alice's vote counted"
[ "$("$KT" consume wingman.human-decisions "$id" --timeout 2 | jq -s '[.[] | select(.channel == "telegram")] | length')" = 0 ] ||
    fail "alice's press was forwarded"
[ "$(pgq "SELECT count(*) FROM audit_log WHERE request_id = '$id' AND event = 'telegram_press' AND content LIKE '%TG_APPROVER_IS_REQUESTER%'")" = 1 ] ||
    fail "alice's press is not audited"
[ "$(started_at wingman-test-api)" = "$before" ] || fail "the container restarted without approval"
ok "alice cannot approve her own request: the button refuses (TG_APPROVER_IS_REQUESTER), the CLI too (APPROVER_IS_REQUESTER)"

q=$(press $BOB "$prompt" 0)
a=$(answer_of "$q")
[[ $a == *"approval (as bob) was sent"* ]] || fail "bob's approval answered: $a"
out=$("$W" wait "$id" --timeout 60) || fail "bob's approval did not execute: $out"
[ "$(started_at wingman-test-api)" != "$before" ] || fail "the container was not restarted"
res=$(wait_reply $CHAT "$mid" "Result of <code>$id</code>: <b>EXECUTED</b>")
[[ $(jq -r .html <<<"$res") == *"<code>docker restart wingman-test-api</code>: ok, exit code 0"* ]] ||
    fail "result reply: $(jq -r .html <<<"$res")"
[ "$(replies_to $CHAT "$mid" | jq '[.[] | select(.html | contains("Result of"))] | length')" = 1 ] ||
    fail "the result was shown more than once"
ok "bob approved: executed, and the bot replied in alice's thread with the result"

say "2. an auto command: consensus approves it, the result comes back in the thread"
mid=$(post $BOB $CHAT "/exec@wingman_test_bot test docker inspect wingman-test-api")
ack=$(wait_reply $CHAT "$mid" "sent as worker <code>telegram-bob</code>")
id=$(request_id_of "$ack")
[[ $(jq -r .html <<<"$ack") == *"lets consensus approve it"* ]] || fail "ack: $(jq -r .html <<<"$ack")"
res=$(wait_reply $CHAT "$mid" "Result of <code>$id</code>: <b>EXECUTED</b>")
html=$(jq -r .html <<<"$res")
[[ $html == *"<code>docker inspect wingman-test-api</code>: ok, exit code 0"* && $html == *"<pre>"?*"</pre>"* ]] ||
    fail "inspect result: $html"
[ "$(pgq "SELECT count(*) FROM approval_votes WHERE request_id = '$id'")" = 0 ] || fail "an auto command took a vote"
ok "bob's /exec@bot inspect: executed without a human, the output excerpt in the thread"

say "3. strangers, other chats, malformed commands: a reason, and no request"
n_before=$(bot_requests)
rows_before=$(pgq "SELECT count(*) FROM telegram_execs")
old=$(( $(date +%s) - 3600 ))
while IFS='#' read -r from chat text extra want; do
	m=$(post "$from" "$chat" "$text" "$extra")
	wait_reply "$chat" "$m" "$want" >/dev/null
	r=$(replies_to "$chat" "$m" | jq -r '.[0].html')
	[[ $r == *"No request was made."* ]] || fail "'$text' answered: $r"
done <<EOF
$MALLORY#$CHAT#/exec test docker restart wingman-test-api##not on the approvers' allowlist
$ALICE#$OTHER_CHAT#/exec test docker restart wingman-test-api##only in the approvers' chat
$ALICE#$CHAT#/exec##Usage: /exec ENVIRONMENT COMMAND
$ALICE#$CHAT#/exec test##Usage: /exec ENVIRONMENT COMMAND
$ALICE#$CHAT#/exec staging docker restart wingman-test-api##unknown environment
$ALICE#$CHAT#/exec test docker restart wingman-test-api; docker rm wingman-test-api##CMD_BAD_CHAR
$ALICE#$CHAT#/exec test docker restart \$(id)##CMD_BAD_CHAR
$ALICE#$CHAT#/exec test docker logs wingman-test-api | sh##CMD_BAD_CHAR
$ALICE#$CHAT#/exec test docker rm wingman-test-api##CMD_VERB
$ALICE#$CHAT#/exec test restart wingman-test-api##CMD_NOT_DOCKER
$ALICE#$CHAT#/exec test docker restart wingman-prd-api##POLICY_
$ALICE#$CHAT#/exec test docker restart wingman-test-api#{"date": $old}#more than 10 minutes old
EOF
# Not for this bot, or not a command: no answer at all.
m1=$(post $ALICE $CHAT "/exec@other_bot test docker restart wingman-test-api")
m2=$(post $ALICE $CHAT "/exec test docker restart wingman-test-api" '{"forwarded": true}')
m3=$(post $ALICE $CHAT "please restart the api")
# A later message that is answered shows the three before it were handled.
m4=$(post $MALLORY $CHAT "/exec")
wait_reply $CHAT "$m4" "not on the approvers' allowlist" >/dev/null
for m in "$m1" "$m2" "$m3"; do
	[ "$(replies_to $CHAT "$m" | jq length)" = 0 ] || fail "message $m was answered: $(replies_to $CHAT "$m")"
done
[ "$(bot_requests)" = "$n_before" ] || fail "a refused /exec published a request"
[ "$(pgq "SELECT count(*) FROM telegram_execs")" = "$rows_before" ] || fail "a refused /exec was recorded as a request"
for v in TG_NOT_ALLOWED TG_WRONG_CHAT TG_EXEC_USAGE TG_EXEC_UNKNOWN_ENV TG_EXEC_BAD_COMMAND TG_EXEC_POLICY TG_EXEC_STALE; do
	[ "$(pgq "SELECT count(*) FROM audit_log WHERE event = 'telegram_exec' AND ts > '$test_start' AND content LIKE '%\"$v\"%'")" -ge 1 ] ||
	    fail "no audited /exec refusal $v"
done
ok "not allowlisted, other chat, usage, unknown environment, shell characters, verbs, policy, stale: each answered with why; no request on wingman.requests; audited"
ok "another bot's /exec, a forwarded /exec, plain text: ignored, no answer"

say "4. the bot's key speaks for telegram-* workers only"
fid=$(new_id)
request_json "$fid" test agent-7 "docker inspect wingman-test-api" | "$KT" sign "$WINGMAN_KEYS_DIR" telegram |
    "$KT" produce wingman.requests "$fid"
set +e; out=$("$W" wait "$fid" --timeout 60); set -e
[ "$(jq -r .status <<<"$out")" = invalid ] && [[ $(jq -r .reason <<<"$out") == "REQUEST_BAD_SIGNATURE: "*"worker-agent-7"* ]] ||
    fail "agent-7's request signed by the bot: $out"
fid=$(new_id)
request_json "$fid" test telegram-bob "docker inspect wingman-test-api" | "$KT" produce wingman.requests "$fid"
set +e; out=$("$W" wait "$fid" --timeout 60); set -e
[ "$(jq -r .status <<<"$out")" = invalid ] && [[ $(jq -r .reason <<<"$out") == "REQUEST_UNSIGNED: "* ]] ||
    fail "unsigned telegram-bob request: $out"
fid=$(new_id)
"$W" keygen --out "$T/evil" --name telegram >/dev/null
request_json "$fid" test telegram-bob "docker inspect wingman-test-api" | "$KT" sign "$T/evil" telegram |
    "$KT" produce wingman.requests "$fid"
set +e; out=$("$W" wait "$fid" --timeout 60); set -e
[ "$(jq -r .status <<<"$out")" = invalid ] && [[ $(jq -r .reason <<<"$out") == "REQUEST_BAD_SIGNATURE: "* ]] ||
    fail "telegram-bob request signed by another telegram key: $out"
ok "agent-7's request signed by the bot key: invalid; telegram-bob unsigned or signed by another key: invalid"

say "5. the same update twice (a crash before the offset was stored): one request"
mid=$(post $BOB $CHAT "/exec test docker inspect wingman-test-demo")
ack=$(wait_reply $CHAT "$mid" "sent as worker <code>telegram-bob</code>")
id=$(request_id_of "$ack")
wait_reply $CHAT "$mid" "Result of <code>$id</code>" >/dev/null
again=$(jq -cn --argjson m "$mid" --argjson c "$CHAT" --argjson f "$BOB" '{update: {message: {message_id: $m,
    from: {id: $f, is_bot: false, first_name: "Bob"}, chat: {id: $c, type: "supergroup"},
    date: (now | floor), text: "/exec test docker inspect wingman-test-demo"}}}')
ctl update "$again" >/dev/null
m4=$(post $MALLORY $CHAT "/exec")
wait_reply $CHAT "$m4" "allowlist" >/dev/null
[ "$(pgq "SELECT count(*) FROM telegram_execs WHERE chat_id = $CHAT AND message_id = $mid")" = 1 ] || fail "two requests for one message"
[ "$(replies_to $CHAT "$mid" | jq length)" = 2 ] || fail "replies to the repeated message: $(replies_to $CHAT "$mid" | jq -r '.[].html')"
ok "a message handled twice: the same request id, one acknowledgement, one result"

say "6. a bound per person: at most 5 requests waiting for a result"
# Rows a failed earlier run may have left open for demo would count: close them.
pgo "UPDATE telegram_execs SET result_status = 'test-reset' WHERE from_id = $DEMO AND result_status IS NULL" >/dev/null
ids=()
for i in 1 2 3 4 5; do
	m=$(post $DEMO $CHAT "/exec test docker restart wingman-test-demo")
	ack=$(wait_reply $CHAT "$m" "sent as worker <code>telegram-demo</code>")
	ids+=("$(request_id_of "$ack")")
done
n_before=$(pgq "SELECT count(*) FROM telegram_execs")
m=$(post $DEMO $CHAT "/exec test docker restart wingman-test-demo")
wait_reply $CHAT "$m" "5 of your requests still wait for a result" >/dev/null
[ "$(pgq "SELECT count(*) FROM telegram_execs")" = "$n_before" ] || fail "the sixth /exec made a request"
# Decided by someone else: each gets its result in its thread, and demo may ask again.
for r in "${ids[@]}"; do "$W" reject "$r" --as bob --reason "bound test" >/dev/null; done
for r in "${ids[@]}"; do
	mid_of=$(pgq "SELECT message_id FROM telegram_execs WHERE request_id = '$r'")
	wait_reply $CHAT "$mid_of" "Result of <code>$r</code>: <b>REJECTED</b>" >/dev/null
done
m=$(post $DEMO $CHAT "/exec test docker inspect wingman-test-demo")
ack=$(wait_reply $CHAT "$m" "sent as worker <code>telegram-demo</code>")
wait_reply $CHAT "$m" "Result of <code>$(request_id_of "$ack")</code>: <b>EXECUTED</b>" >/dev/null
ok "the sixth open /exec of one person is refused (TG_EXEC_BUSY); once the five are decided (rejected, shown in their threads) they may ask again"

say "the bot ran clean"
daemons_alive
kill -0 "$BOT_PID" 2>/dev/null || fail "wingman-telegram died"
! grep -qF "${TOKEN#*:}" "$T/telegram.log" || fail "the bot token is in the log"
kill -TERM "$BOT_PID"; wait "$BOT_PID" 2>/dev/null || true; BOT_PID=""
! grep -q "Sanitizer" "$T/telegram.log" || fail "sanitizer report: $(grep -A5 Sanitizer "$T/telegram.log" | head -20)"
ok "no crash, no token in the log, no sanitizer report"

echo "$checks passed, 0 failed"
