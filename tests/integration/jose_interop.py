#!/usr/bin/python3
"""Holds our capability tokens against jwcrypto, an independent JOSE library.

  jose_interop.py verify PUBLIC_PEM KID CLAIMS_JSON < token
      jwcrypto must accept our token (alg EdDSA, our key) and read exactly
      the claims we meant; a tampered copy must fail.
  jose_interop.py mint PRIVATE_PEM KID CLAIMS_JSON > token
      jwcrypto mints a token with our header and claims, for our verifier.
  jose_interop.py resign PRIVATE_PEM < token > token
      jwcrypto signs the token's exact header and payload bytes again.

Test-only; run by test_jose_interop.sh with Debian's python3-jwcrypto.
"""
import base64
import json
import sys

from jwcrypto import jwk, jws
from jwcrypto.common import JWException

ISSUER = "wingman-token"
AUDIENCE = "wingman-executor"


def b64url_decode(s):
    if "=" in s or "+" in s or "/" in s:
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def expected_claims(path):
    with open(path, "rb") as f:
        claims = json.load(f)
    claims["iss"] = ISSUER
    claims["aud"] = AUDIENCE
    return claims


def fail(msg):
    print("jose_interop: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def verify(pub_path, kid, claims_path):
    token = sys.stdin.read().strip()
    with open(pub_path, "rb") as f:
        key = jwk.JWK.from_pem(f.read())
    if key.get("kty") != "OKP" or key.get("crv") != "Ed25519":
        fail("public key is not Ed25519")

    parts = token.split(".")
    if len(parts) != 3:
        fail("token is not three segments")
    header = b64url_decode(parts[0])
    want_header = json.dumps({"alg": "EdDSA", "kid": kid, "typ": "JWT"},
                             separators=(",", ":")).encode()
    if header != want_header:
        fail("header is %r, want %r" % (header, want_header))

    obj = jws.JWS()
    try:
        obj.deserialize(token)
        obj.verify(key, alg="EdDSA")
    except JWException as e:
        fail("jwcrypto refuses our token: %s" % e)
    claims = json.loads(obj.payload)
    if claims != expected_claims(claims_path):
        fail("claims differ: %r" % claims)
    order = ["iss", "aud", "sub", "jti", "iat", "nbf", "exp", "env",
             "request_id", "cmd", "approved_by"]
    if list(json.loads(b64url_decode(parts[1]).decode(),
                       object_pairs_hook=lambda p: [k for k, _ in p])) != order:
        fail("claims are not in the documented order")

    # A verifier that accepts anything would pass the above: show it does not.
    payload = b64url_decode(parts[1]).replace(b"docker ", b"docker  ", 1)
    forged = ".".join([parts[0],
                       base64.urlsafe_b64encode(payload).decode().rstrip("="),
                       parts[2]])
    obj = jws.JWS()
    try:
        obj.deserialize(forged)
        obj.verify(key, alg="EdDSA")
    except JWException:
        pass
    else:
        fail("jwcrypto accepted a tampered token")
    print("jwcrypto verified our token")


def mint(priv_path, kid, claims_path):
    with open(priv_path, "rb") as f:
        key = jwk.JWK.from_pem(f.read())
    payload = json.dumps(expected_claims(claims_path), separators=(",", ":"))
    obj = jws.JWS(payload.encode())
    obj.add_signature(key, alg="EdDSA",
                      protected=json.dumps({"alg": "EdDSA", "kid": kid, "typ": "JWT"}))
    print(obj.serialize(compact=True))


def resign(priv_path):
    head, payload, _ = sys.stdin.read().strip().split(".")
    with open(priv_path, "rb") as f:
        key = jwk.JWK.from_pem(f.read())
    obj = jws.JWS(b64url_decode(payload))
    obj.add_signature(key, alg="EdDSA", protected=b64url_decode(head).decode())
    print(obj.serialize(compact=True))


def main(argv):
    if len(argv) == 5 and argv[1] == "verify":
        verify(argv[2], argv[3], argv[4])
    elif len(argv) == 5 and argv[1] == "mint":
        mint(argv[2], argv[3], argv[4])
    elif len(argv) == 3 and argv[1] == "resign":
        resign(argv[2])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
