#!/usr/bin/env bash
# wingman-mcp against the live pipeline, driven by the official MCP Python
# SDK (installed into a venv in the build directory: pip must work), then on
# raw stdio with malformed and out-of-order messages.
. "$(dirname "$0")/lib.sh"

venv=$build/python-mcp
if ! "$venv/bin/python" -c 'import mcp' 2>/dev/null; then
	say "installing the MCP Python SDK into $venv"
	python3 -m venv "$venv" || fail "python3 -m venv failed (Debian package python3-venv)"
	"$venv/bin/pip" install -q -r "$src/tests/integration/mcp-requirements.txt" ||
		fail "pip install of the MCP Python SDK failed"
fi

MCP=$build/services/mcp/wingman-mcp
export WINGMAN_WORKER_ID=agent-7
export WINGMAN_WORKER_KEY_FILE=$WINGMAN_KEYS_DIR/worker-agent-7.key
unset WINGMAN_ENVIRONMENT

say "configuration check"
[ "$("$MCP" -n)" = "configuration OK" ] || fail "wingman-mcp -n"
set +e; WINGMAN_WORKER_ID= "$MCP" -n >/dev/null 2>"$T/noworker.err"; rc=$?; set -e
[ $rc -ne 0 ] && grep -q WINGMAN_WORKER_ID "$T/noworker.err" || fail "no worker id accepted"
ok "wingman-mcp -n checks its configuration; no WINGMAN_WORKER_ID, no start"

start_daemons

say "the official Python SDK as the client, on the live pipeline"
"$venv/bin/python" "$src/tests/integration/mcp_client.py" "$MCP" "$W" 2>"$T/sdk.log" ||
	fail "MCP SDK client test failed: $(tail -n 20 "$T/sdk.log")"
ok "MCP SDK client: every tool on the live pipeline"

say "forged results: request_status believes only the stage entitled to the status"
victim=$(new_id)
mkdir -p "$T/evil" && "$W" keygen --out "$T/evil" --name executor >/dev/null
for signer in "$WINGMAN_KEYS_DIR consensus" "$WINGMAN_KEYS_DIR approval" "$T/evil executor" "none none"; do
	set -- $signer
	fake=$(jq -cn --arg id "$victim" '{v:1, type:"result", request_id:$id, ts:"2026-11-26T12:00:00.000Z",
	    status:"executed", reason:"", commands:[]}')
	[ "$1" = none ] || fake=$("$KT" sign "$1" "$2" <<<"$fake")
	"$KT" produce wingman.results "$victim" <<<"$fake"
done
printf '%s\n' \
    '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}' \
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"request_status\",\"arguments\":{\"request_id\":\"$victim\"}}}" |
	"$MCP" >"$T/forged.out" 2>"$T/forged.err" || fail "wingman-mcp exited non-zero"
st=$(jq -r 'select(.id == 2) | .result.structuredContent.status' "$T/forged.out")
[ "$st" = unknown ] || fail "a forged result was believed: $(cat "$T/forged.out")"
[ "$(grep -c 'event=result_ignored' "$T/forged.err")" -ge 4 ] &&
	grep -q RESULT_SIGNER_NOT_ENTITLED "$T/forged.err" && grep -q SIG_MISSING "$T/forged.err" &&
	grep -q SIG_BAD "$T/forged.err" || fail "forgeries not logged with why: $(cat "$T/forged.err")"
ok "forged 'executed' results (consensus, approval, another executor key, unsigned) ignored by wingman-mcp"

say "raw stdio: malformed and out-of-order messages"
MCP_RAW_LOG=$T/raw.log python3 "$src/tests/integration/mcp_raw.py" "$MCP" ||
	fail "raw stdio test failed"
grep -q 'event=parse_error' "$T/raw.log" || fail "parse errors are not logged on stderr"
ok "raw stdio: protocol errors answered, notifications not, server alive"

daemons_alive
echo "$checks passed, 0 failed"
