#!/usr/bin/env bash
# The executor holds public keys only (trust rule 3): with token.pub
# replaced by a private key, or by a key of another type, it refuses to
# start (`-n` exits non-zero with KEY_WRONG_KIND / KEY_WRONG_TYPE) instead
# of trusting it. Its own signing key is held to the same rule the other way,
# and must be a regular file (not a symlink) owned by the executor's user
# with no access for group or others (KEY_PERMISSIONS, KEY_SYMLINK,
# KEY_OWNER).
. "$(dirname "$0")/lib.sh"

EX=$build/services/executor/wingman-executor
keys=$T/keys

reset_keys() {
	rm -rf "$keys"
	mkdir -m 700 "$keys"
	# Its own key, token.pub, and the public keys the evidence is checked with.
	cp "$WINGMAN_KEYS_DIR/token.pub" "$WINGMAN_KEYS_DIR/executor.key" "$WINGMAN_KEYS_DIR/consensus.pub" \
	    "$WINGMAN_KEYS_DIR"/approver-*.pub "$WINGMAN_KEYS_DIR/telegram.pub" "$keys/"
}

# expect_refusal WHAT FILE-IN-KEYS CODE: executor -n must exit non-zero naming CODE.
expect_refusal() {
	local what=$1 file=$2 code=$3 out rc
	set +e
	out=$(WINGMAN_KEYS_DIR=$keys "$EX" -n 2>&1)
	rc=$?
	set -e
	[ $rc -ne 0 ] || fail "$what: executor started (exit 0): $out"
	[ $rc -lt 128 ] || fail "$what: executor crashed (exit $rc): $out"
	grep -q "configuration OK" <<<"$out" && fail "$what: said configuration OK"
	grep -q "$code: .*$file" <<<"$out" || fail "$what: no $code naming $file in: $out"
	ok "$what: refused, $code"
}

say "the genuine keys pass"
reset_keys
out=$(WINGMAN_KEYS_DIR=$keys "$EX" -n 2>&1) || fail "genuine keys refused: $out"
[ "$out" = "configuration OK" ] || fail "genuine keys: $out"
ok "token.pub (Ed25519 SPKI) and executor.key: configuration OK"

say "token.pub holding a private key"
reset_keys
cp "$WINGMAN_KEYS_DIR/token.key" "$keys/token.pub"
expect_refusal "token.pub = the token private key" token.pub KEY_WRONG_KIND
reset_keys
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$keys/token.pub" 2>/dev/null
expect_refusal "token.pub = an RSA private key (PKCS#8)" token.pub KEY_WRONG_KIND
reset_keys
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null |
    openssl pkey -traditional -out "$keys/token.pub"
grep -q "BEGIN RSA PRIVATE KEY" "$keys/token.pub" || fail "could not write a PKCS#1 key"
expect_refusal "token.pub = an RSA private key (PKCS#1)" token.pub KEY_WRONG_KIND
reset_keys
# A public and a private block in one file: the private one must not slip in.
cat "$WINGMAN_KEYS_DIR/token.pub" "$WINGMAN_KEYS_DIR/token.key" >"$keys/token.pub"
expect_refusal "token.pub = public key followed by the private key" token.pub KEY_WRONG_KIND

say "the keys of the evidence are public keys too"
reset_keys
cp "$WINGMAN_KEYS_DIR/consensus.key" "$keys/consensus.pub"
expect_refusal "consensus.pub = the consensus private key" consensus.pub KEY_WRONG_KIND
reset_keys
cp "$WINGMAN_KEYS_DIR/approver-bob.key" "$keys/approver-bob.pub"
expect_refusal "approver-bob.pub = bob's private key" approver-bob.pub KEY_WRONG_KIND
reset_keys
rm "$keys/approver-bob.pub"
expect_refusal "approver-bob.pub missing" approver-bob.pub KEY_UNREADABLE

say "token.pub holding a public key of another type"
for alg in "RSA -pkeyopt rsa_keygen_bits:2048" "EC -pkeyopt ec_paramgen_curve:P-256" X25519 ED448; do
	reset_keys
	# shellcheck disable=SC2086
	openssl genpkey -algorithm $alg 2>/dev/null | openssl pkey -pubout -out "$keys/token.pub"
	expect_refusal "token.pub = ${alg%% *} public key" token.pub KEY_WRONG_TYPE
done

say "token.pub that is no key at all"
reset_keys
: >"$keys/token.pub"
expect_refusal "token.pub empty" token.pub KEY_UNREADABLE
reset_keys
head -c 3000 /dev/urandom >"$keys/token.pub"
expect_refusal "token.pub random bytes" token.pub KEY_UNREADABLE
reset_keys
rm "$keys/token.pub"
expect_refusal "token.pub missing" token.pub KEY_UNREADABLE
reset_keys
head -c 20000 /dev/zero | tr '\0' A >"$keys/token.pub"
expect_refusal "token.pub larger than any key" token.pub KEY_UNREADABLE

say "executor.key (it signs results) must be a private Ed25519 key"
reset_keys
cp "$WINGMAN_KEYS_DIR/executor.pub" "$keys/executor.key"
expect_refusal "executor.key = a public key" executor.key KEY_WRONG_KIND
reset_keys
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$keys/executor.key" 2>/dev/null
expect_refusal "executor.key = an RSA private key" executor.key KEY_WRONG_TYPE

say "executor.key must be the executor's alone, and not a symlink"
reset_keys
chmod 0644 "$keys/executor.key"
expect_refusal "executor.key mode 0644" executor.key KEY_PERMISSIONS
reset_keys
chmod 0640 "$keys/executor.key"
expect_refusal "executor.key mode 0640" executor.key KEY_PERMISSIONS
reset_keys
mv "$keys/executor.key" "$keys/real.key"
ln -s real.key "$keys/executor.key"
expect_refusal "executor.key a symlink to the genuine key" executor.key KEY_SYMLINK
if [ "$(id -u)" = 0 ]; then
	reset_keys
	chown 65534 "$keys/executor.key"
	expect_refusal "executor.key owned by another user" executor.key KEY_OWNER
fi

say "the keys the stack and wingman keygen make pass these checks"
for f in "$WINGMAN_KEYS_DIR"/*.key; do
	[ "$(stat -c '%a %u' "$f")" = "600 $(id -u)" ] || fail "$f: $(stat -c 'mode %a uid %u' "$f")"
done
(umask 0 && "$W" keygen --out "$T" --name fresh >/dev/null) || fail "keygen failed"
[ "$(stat -c '%a' "$T/fresh.key")" = 600 ] || fail "keygen under umask 0: $(stat -c %a "$T/fresh.key")"
ok "every stack key is 0600 and ours; keygen writes 0600 even under umask 0"

echo "$checks passed, 0 failed"
