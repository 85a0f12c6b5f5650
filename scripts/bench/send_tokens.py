#!/usr/bin/env python3
"""Send every token of a file exactly once to authgate's data listener, and count the answers.

    send_tokens.py PORT TOKENS_FILE [CONNECTIONS] [TIMEOUT_SECONDS]

TOKENS_FILE has one "<config> <token>" a line (scripts/bench/mint_multi.py); each becomes
`GET /configs/<config>/graphql` with `Authorization: Bearer <token>`, over CONNECTIONS keep-alive HTTP/1.1
connections to 127.0.0.1 (default 16), each sending its share in batches of PIPELINE requests (default 8) before
reading their answers. The whole run is bounded by TIMEOUT_SECONDS (default 300). Prints one JSON line:
{"sent": N, "seconds": S, "status": {"200": n, ...}}; exits 1 when any answer was not 200 or the run timed out.
"""
import asyncio
import json
import os
import sys
import time

PIPELINE = int(os.environ.get("PIPELINE", "8"))


async def read_answer(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = 0
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    if length:
        await reader.readexactly(length)
    return status


async def connection(port: int, work: list, counts: dict) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for at in range(0, len(work), PIPELINE):
            batch = work[at : at + PIPELINE]
            writer.write(
                b"".join(
                    b"GET /configs/%s/graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n\r\n"
                    % (name, token)
                    for name, token in batch
                )
            )
            await writer.drain()
            for _ in batch:
                status = await read_answer(reader)
                counts[status] = counts.get(status, 0) + 1
    finally:
        writer.close()


async def run(port: int, lines: list, conns: int, timeout: float) -> dict:
    counts: dict = {}
    shares = [lines[i::conns] for i in range(conns)]
    await asyncio.wait_for(asyncio.gather(*(connection(port, s, counts) for s in shares if s)), timeout)
    return counts


def main() -> None:
    port, path = int(sys.argv[1]), sys.argv[2]
    conns = int(sys.argv[3]) if len(sys.argv) > 3 else 16
    timeout = float(sys.argv[4]) if len(sys.argv) > 4 else 300.0
    with open(path, "rb") as f:
        lines = [tuple(line.split(b" ", 1)) for line in f.read().splitlines() if line]
    started = time.monotonic()
    try:
        counts = asyncio.run(run(port, lines, conns, timeout))
    except asyncio.TimeoutError:
        print(json.dumps({"sent": len(lines), "error": f"timed out after {timeout} s"}))
        sys.exit(1)
    seconds = time.monotonic() - started
    print(json.dumps({"sent": len(lines), "seconds": round(seconds, 2), "status": {str(k): v for k, v in counts.items()}}))
    if counts.get(200, 0) != len(lines):
        sys.exit(1)


if __name__ == "__main__":
    main()
