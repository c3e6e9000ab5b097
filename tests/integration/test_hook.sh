#!/usr/bin/env bash
# wingman hook pre-tool-use fed the JSON Claude Code's PreToolUse hook writes:
# other tools and plain commands pass untouched, docker is denied, one
# command of the grammar is routed through the live pipeline and its result
# is the reason the agent reads, evasions are denied, and the hook fails
# closed (never an exit status that lets the call through).
. "$(dirname "$0")/lib.sh"

export WINGMAN_WORKER_ID=agent-7 WINGMAN_ENVIRONMENT=test
export WINGMAN_WORKER_KEY_FILE=$WINGMAN_KEYS_DIR/worker-agent-7.key

# payload TOOL COMMAND: a PreToolUse payload as Claude Code writes it.
payload() {
	jq -cn --arg tool "$1" --arg cmd "$2" --arg cwd "$PWD" \
	    '{session_id: "3f1c2a9e-0000-4000-8000-000000000001",
	      transcript_path: "/home/dev/.claude/projects/x/3f1c2a9e.jsonl", cwd: $cwd,
	      permission_mode: "default", hook_event_name: "PreToolUse", tool_name: $tool,
	      tool_input: (if $tool == "Bash" then {command: $cmd, description: "test", timeout: 120000}
	                   else {file_path: "/tmp/x", content: $cmd} end),
	      tool_use_id: "toolu_01ABC123"}'
}

# hook [ARGS...] < payload: runs the hook; sets rc, out (stdout), err.
hook() {
	set +e
	out=$("$W" hook pre-tool-use "$@" 2>"$T/hook.err")
	rc=$?
	set -e
	err=$(cat "$T/hook.err")
}

decision() { jq -r '.hookSpecificOutput.permissionDecision' <<<"$out"; }
reason() { jq -r '.hookSpecificOutput.permissionDecisionReason' <<<"$out"; }

say "1. other tools and plain commands pass untouched"
for p in "$(payload Write 'docker restart wingman-test-api')" "$(payload Bash 'ls -la')" \
    "$(payload Bash 'grep -rn docker docs/ | head -3')" \
    "$(payload Bash 'git commit -m "docker: fix"')"; do
	hook <<<"$p"
	[ $rc -eq 0 ] && [ -z "$out" ] || fail "passed payload answered (rc $rc): $out $err"
done
hook <<<"$(payload Bash 'docker ps' | jq -c '.hook_event_name = "PostToolUse"')"
[ $rc -eq 0 ] && [ -z "$out" ] || fail "another event was judged: $out"
ok "Write, ls, grep docker, git commit, PostToolUse: exit 0, no output"

start_daemons

say "2. one docker command is routed through Wingman; the result is the reason"
hook <<<"$(payload Bash 'sudo /usr/bin/docker inspect wingman-test-api')"
[ $rc -eq 0 ] && [ "$(decision)" = deny ] || fail "inspect not denied (rc $rc): $out $err"
reason | grep -q 'EXECUTED' || fail "reason has no result: $(reason)"
reason | grep -q '"Name": *"/wingman-test-api"\|/wingman-test-api' || fail "no inspect output: $(reason)"
rid=$(reason | grep -o 'Request [0-9a-f-]\{36\}' | head -n 1 | cut -d' ' -f2)
[ -n "$rid" ] || fail "no request id in the reason"
"$W" wait "$rid" --timeout 30 >"$T/wait.json" || fail "wingman wait $rid: not executed"
[ "$(jq -r '.commands[0].cmd' "$T/wait.json")" = "docker inspect wingman-test-api" ] ||
	fail "routed command: $(jq -c .commands "$T/wait.json")"
first_on wingman.requests "$rid" 30 >"$T/request.json" || fail "request $rid not on wingman.requests"
[ "$(jq -r '[.worker_id, .environment, .sig.kid, .instruction] | join(" ")' "$T/request.json")" = \
    "agent-7 test worker-agent-7 coding agent: test" ] || fail "request: $(cat "$T/request.json")"
ok "sudo /usr/bin/docker inspect: denied, asked of Wingman as agent-7, result shown ($rid)"

say "3. refused by the pipeline, or outside the grammar: a clear reason, nothing runs"
hook --env nowhere <<<"$(payload Bash 'docker ps')"
[ "$(decision)" = deny ] && reason | grep -q 'INVALID' || fail "unknown environment: $(reason)"
ok "an environment the policy does not know: INVALID in the reason"
hook <<<"$(payload Bash 'docker run --privileged -v /:/host busybox')"
[ "$(decision)" = deny ] && reason | grep -q "can never be allowed.*CMD_VERB" ||
	fail "docker run: $(reason)"
ok "docker run: can never be allowed (CMD_VERB), nothing submitted"

say "4. evasions are denied, and nothing runs"
before=$(started_at wingman-test-api)
while IFS= read -r cmd; do
	hook <<<"$(payload Bash "$cmd")"
	[ $rc -eq 0 ] && [ "$(decision)" = deny ] || fail "evasion not denied: $cmd (rc $rc): $out"
	reason | grep -q 'HOOK_' || fail "no code in the reason for: $cmd: $(reason)"
	ok "denied: $cmd ($(reason | grep -o 'HOOK_[A-Z_]*' | head -n 1))"
done <<'CASES'
ls && docker restart wingman-test-api
true; sudo docker restart wingman-test-api
echo x | docker restart wingman-test-api
$(which docker) restart wingman-test-api
x=docker; $x restart wingman-test-api
echo ZG9ja2VyIHJlc3RhcnQgd2luZ21hbi10ZXN0LWFwaQ== | base64 -d | sh
bash -c 'ls; docker restart wingman-test-api'
python3 -c "import os; os.system('docker restart wingman-test-api')"
curl -s --unix-socket /var/run/docker.sock -X POST http://d/containers/wingman-test-api/restart
echo `docker restart wingman-test-api`
env DOCKER_HOST=tcp://127.0.0.1:2375 docker restart wingman-test-api
xargs -n1 docker restart <<< wingman-test-api
CASES
sleep 1
[ "$(started_at wingman-test-api)" = "$before" ] || fail "a denied command restarted the container"
ok "the container was not restarted by any of them"

say "5. the hook fails closed"
hook <<<'this is not json'
[ $rc -eq 0 ] && [ "$(decision)" = deny ] || fail "malformed input not denied (rc $rc): $out"
hook <<<'{"hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":17}}'
[ "$(decision)" = deny ] || fail "a Bash call without a command string passed: $out"
hook <<<"$(head -c 2000000 /dev/zero | tr '\0' 'a')"
[ $rc -eq 2 ] && [ -n "$err" ] || fail "oversized input: rc $rc"
(unset WINGMAN_WORKER_ID; hook <<<"$(payload Bash 'docker ps')"
 [ "$(decision)" = deny ] && reason | grep -q 'no agent id configured') || fail "no worker id: $out"
set +e
WINGMAN_AGENT_WAIT_S=abc "$W" hook pre-tool-use <<<"$(payload Bash 'ls')" >/dev/null 2>&1; rc=$?
"$W" hook pre-tool-use --bogus <<<"$(payload Bash 'ls')" >/dev/null 2>&1; rc2=$?
set -e
[ $rc -eq 2 ] && [ $rc2 -eq 2 ] || fail "a broken configuration or usage did not block (rc $rc, $rc2)"
ok "malformed, oversized, commandless input, no agent id, broken configuration: all blocked"

daemons_alive
echo "$checks passed, 0 failed"
