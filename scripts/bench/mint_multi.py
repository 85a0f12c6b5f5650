#!/usr/bin/env python3
"""Configs, key sets and tokens for scripts/bench/multi-config.sh (issue 14).

    mint_multi.py OUT_DIR JWKS_PORT CONFIGS TOKENS

Writes into OUT_DIR: configs/cNNN.yaml (one AuthConfig per config, each with its own issuer
https://tenant-NNN.bench.local and its own key set at http://127.0.0.1:JWKS_PORT/cNNN.json), jwks/cNNN.json (a
2048-bit RSA public key per config, kid "cNNN-1") and tokens.txt: TOKENS distinct valid tokens, one a line as
"<config> <token>", token i belonging to config i % CONFIGS. Tokens are Clerk-shaped RS256 like scripts/bench/mint.py's
(iss, sub, azp, sid, iat, nbf, exp four hours ahead, the Hasura claims under "claims.jwt.hasura.io").
"""
import json
import multiprocessing
import os
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mint import b64, uint  # noqa: E402

CONFIG = """kind: AuthConfig
version: v4
definition:
  mode:
    jwt:
      key:
        jwkFromUrl: http://127.0.0.1:{port}/{name}.json
      issuer: {issuer}
      claimsConfig:
        namespace:
          claimsFormat: Json
          location: /claims.jwt.hasura.io
      tokenLocation:
        type: BearerAuthorization
"""


def name(c: int) -> str:
    return f"c{c:03d}"


def issuer(c: int) -> str:
    return f"https://tenant-{c:03d}.bench.local"


_KEYS = []


def _init(pems: list) -> None:
    global _KEYS
    _KEYS = [serialization.load_pem_private_key(p, password=None) for p in pems]


def _line(i: int) -> str:
    c = i % len(_KEYS)
    now = int(time.time())
    header = {"alg": "RS256", "kid": f"{name(c)}-1", "typ": "JWT"}
    claims = {
        "azp": f"https://app-{c:03d}.bench.local",
        "exp": now + 4 * 3600,
        "iat": now - 5,
        "iss": issuer(c),
        "nbf": now - 10,
        "sid": f"sess_{i:08d}",
        "sub": f"user_{i:08d}",
        "claims.jwt.hasura.io": {
            "x-hasura-user-id": f"user_{i:08d}",
            "x-hasura-default-role": "user",
            "x-hasura-allowed-roles": ["user", "viewer"],
            "x-hasura-org-id": f"org_{i % 97:04d}",
        },
    }
    signing_input = (
        b64(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64(json.dumps(claims, separators=(",", ":")).encode())
    )
    sig = _KEYS[c].sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{name(c)} {signing_input}.{b64(sig)}"


def main() -> None:
    out, port, configs, tokens = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    for d in ("configs", "jwks"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    pems = []
    for c in range(configs):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pems.append(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        pub = key.public_key().public_numbers()
        jwk = {"kty": "RSA", "use": "sig", "alg": "RS256", "kid": f"{name(c)}-1", "n": uint(pub.n), "e": uint(pub.e)}
        with open(os.path.join(out, "jwks", f"{name(c)}.json"), "w") as f:
            json.dump({"keys": [jwk]}, f)
        with open(os.path.join(out, "configs", f"{name(c)}.yaml"), "w") as f:
            f.write(CONFIG.format(port=port, name=name(c), issuer=issuer(c)))
    with multiprocessing.Pool(os.cpu_count() or 1, initializer=_init, initargs=(pems,)) as pool:
        lines = pool.map(_line, range(tokens), chunksize=500)
    with open(os.path.join(out, "tokens.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
