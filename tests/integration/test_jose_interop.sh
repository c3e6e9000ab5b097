#!/bin/bash
# Our tokens against an independent JOSE implementation (Debian's
# python3-jwcrypto): a token we mint verifies in jwcrypto, a token jwcrypto
# mints with our key verifies in our verifier, and forgeries fail in both.
# No services needed. Exits 77 (skip) when jwcrypto is not installed.
set -euo pipefail

src=${WINGMAN_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
py=${WINGMAN_PYTHON:-/usr/bin/python3}
interop=$src/tests/integration/jose_interop.py

if ! "$py" -c 'import jwcrypto.jws' 2>/dev/null; then
	echo "SKIP: $py has no jwcrypto (apt-get install python3-jwcrypto)"
	exit 1
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/wingman-jose.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# The tool: as built by CMake if it is there, else compiled here.
tool=${JWS_TOOL:-}
if [ -z "$tool" ] && [ -n "${WINGMAN_BUILD_DIR:-}" ] && [ -x "$WINGMAN_BUILD_DIR/tests/jws_tool" ]; then
	tool=$WINGMAN_BUILD_DIR/tests/jws_tool
fi
if [ -z "$tool" ]; then
	tool=$tmp/jws_tool
	${CC:-cc} -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror \
	    -I"$src/common" -I"$src/services/token" \
	    "$src/common/jws.c" "$src/common/keys.c" "$src/common/util.c" \
	    "$src/services/token/mint.c" "$src/tests/tools/jws_tool.c" \
	    -ljansson -lcrypto -o "$tool"
fi

fails=0
check() { # name, want, got
	if [ "$2" = "$3" ]; then
		echo "ok   $1"
	else
		echo "FAIL $1: want $2, got $3"
		fails=$((fails + 1))
	fi
}

keys=$tmp/keys
mkdir -m 700 "$keys"
"$tool" keygen "$keys" wingman-token
"$tool" keygen "$keys" outsider

now=$(date +%s)
cmd='docker restart wingman-test-api'
req=7d0c2a9e-4b1f-4c3a-9d2e-0f6a1b2c3d4e
jti=$("$py" -c 'import secrets; print(secrets.token_urlsafe(16))')
cat >"$tmp/claims.json" <<EOF
{"sub": "agent-7", "jti": "$jti", "iat": $now, "nbf": $now, "exp": $((now + 300)),
 "env": "test", "request_id": "$req", "cmd": "$cmd", "approved_by": ["alice", "bob"]}
EOF

verify_c() { # token file, CMD, REQUEST_ID: prints the verdict code
	local tok=$1
	shift
	"$tool" verify "$keys" wingman-token test "$now" "$@" <"$tok" 2>/dev/null | head -n 1 || true
}

# 1. Ours, read by jwcrypto (which also refuses a tampered copy).
"$tool" mint "$keys/wingman-token.key" wingman-token <"$tmp/claims.json" >"$tmp/ours.tok"
check "our token verifies in our verifier" TOKEN_OK "$(verify_c "$tmp/ours.tok" "$cmd" "$req")"
if "$py" "$interop" verify "$keys/wingman-token.pub" wingman-token "$tmp/claims.json" <"$tmp/ours.tok"; then
	check "our token verifies in jwcrypto" ok ok
else
	check "our token verifies in jwcrypto" ok failed
fi

# 2. jwcrypto's, read by us.
"$py" "$interop" mint "$keys/wingman-token.key" wingman-token "$tmp/claims.json" >"$tmp/theirs.tok"
check "jwcrypto token verifies in our verifier" TOKEN_OK \
    "$(verify_c "$tmp/theirs.tok" "$cmd" "$req")"
check "jwcrypto token, other command" TOKEN_CMD_MISMATCH \
    "$(verify_c "$tmp/theirs.tok" "docker stop wingman-test-api" "$req")"

# 3. jwcrypto signs with a key we do not trust, naming ours.
"$py" "$interop" mint "$keys/outsider.key" wingman-token "$tmp/claims.json" >"$tmp/outsider.tok"
check "jwcrypto token from an untrusted key" TOKEN_BAD_SIGNATURE \
    "$(verify_c "$tmp/outsider.tok" "$cmd" "$req")"

# 4. Ed25519 is deterministic: jwcrypto, signing our exact header and
#    payload bytes with our key, must produce our exact token.
"$py" "$interop" resign "$keys/wingman-token.key" <"$tmp/ours.tok" >"$tmp/resigned.tok"
check "jwcrypto re-signs our bytes to our exact token" "$(cat "$tmp/ours.tok")" \
    "$(cat "$tmp/resigned.tok")"

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all JOSE interop checks passed"
