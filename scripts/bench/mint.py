#!/usr/bin/env python3
"""Key, JWKS and token files for scripts/bench.sh.

Writes into OUT_DIR: jwks.json (the public key, kid "bench-1"), pub.pem (the same key as PEM, for HAProxy's
jwt_verify), a.txt (one valid token), b.txt (10,000 distinct valid
tokens), c.txt (10,000 tokens with the right kid signed by another key: bad signatures) and rss.txt (100,000 distinct
valid tokens). Tokens are Clerk-shaped RS256 session/template tokens: iss, sub, azp, sid, iat, nbf, exp and the Hasura
claims under "claims.jwt.hasura.io".
"""
import base64
import json
import multiprocessing
import os
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

ISSUER = "https://bench.clerk.accounts.dev"
KID = "bench-1"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n: int) -> str:
    return b64(n.to_bytes((n.bit_length() + 7) // 8, "big"))


_KEY = None


def _init(pem: bytes) -> None:
    global _KEY
    _KEY = serialization.load_pem_private_key(pem, password=None)


def signed(key, kid: str, iss: str, azp: str, i: int) -> str:
    """Token i of a Clerk-shaped RS256 series: signed by `key` under `kid`, issued by `iss` for the page `azp`."""
    now = int(time.time())
    header = {"alg": "RS256", "kid": kid, "typ": "JWT"}
    claims = {
        "azp": azp,
        "exp": now + 4 * 3600,
        "iat": now - 5,
        "iss": iss,
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
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64(sig)


def _token(i: int) -> str:
    return signed(_KEY, KID, ISSUER, "https://app.bench.local", i)


def mint(pem: bytes, start: int, count: int) -> list:
    with multiprocessing.Pool(os.cpu_count() or 1, initializer=_init, initargs=(pem,)) as pool:
        return pool.map(_token, range(start, start + count), chunksize=500)


def main() -> None:
    out = sys.argv[1]
    rss_count = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000
    os.makedirs(out, exist_ok=True)
    good = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = good.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    other_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pub = good.public_key().public_numbers()
    jwks = {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID, "n": uint(pub.n), "e": uint(pub.e)}]}
    with open(os.path.join(out, "jwks.json"), "w") as f:
        json.dump(jwks, f)
    with open(os.path.join(out, "pub.pem"), "wb") as f:
        f.write(
            good.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )

    def write(name: str, tokens: list) -> None:
        with open(os.path.join(out, name), "w") as f:
            f.write("\n".join(tokens) + "\n")

    write("a.txt", mint(pem, 0, 1))
    write("b.txt", mint(pem, 1_000_000, 10_000))
    write("c.txt", mint(other_pem, 2_000_000, 10_000))
    write("rss.txt", mint(pem, 3_000_000, rss_count))


if __name__ == "__main__":
    main()
