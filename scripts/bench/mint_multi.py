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

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from mint import signed, uint  # noqa: E402

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
    return f"{name(c)} {signed(_KEYS[c], f'{name(c)}-1', issuer(c), f'https://app-{c:03d}.bench.local', i)}"


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
