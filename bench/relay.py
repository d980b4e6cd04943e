"""A TCP relay that delays every byte by a fixed one-way time: a WAN link on 127.0.0.1.

``tc netem`` needs kernel modules these machines lack; a user-space relay
gives the same round trip to TLS and HTTP, which pass through it untouched.
Each direction keeps its order: a chunk read at time t is written at
t + delay, whatever else is in flight, so bandwidth is not limited — only
latency is added (an 80 ms round trip is ``--delay-ms 40``).

    .venv/bin/python bench/relay.py --listen 127.0.0.1:0 --target 127.0.0.1:8443 --delay-ms 40
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import time


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, chunk = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if not chunk:
                with contextlib.suppress(OSError):
                    writer.write_eof()
                return
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.create_task(send())
    try:
        while True:
            chunk = await reader.read(65536)
            await queue.put((time.monotonic() + delay, chunk))
            if not chunk:
                break
        await sender
    except (ConnectionError, OSError):
        sender.cancel()
    finally:
        with contextlib.suppress(OSError):
            writer.close()


async def _serve(sock: socket.socket, target: tuple[str, int], delay: float) -> None:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            _pump(client_reader, upstream_writer, delay),
            _pump(upstream_reader, client_writer, delay),
            return_exceptions=True,
        )

    server = await asyncio.start_server(handle, sock=sock)
    async with server:
        await server.serve_forever()


def run_relay(sock: socket.socket, target: tuple[str, int], one_way_ms: float) -> None:
    """Relay connections accepted on ``sock`` to ``target``, each byte delayed ``one_way_ms``; runs forever."""
    asyncio.run(_serve(sock, target, one_way_ms / 1000))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--listen", default="127.0.0.1:0")
    parser.add_argument("--target", required=True)
    parser.add_argument("--delay-ms", type=float, default=40.0, help="one-way delay (round trip is twice this)")
    args = parser.parse_args()
    host, port = args.listen.rsplit(":", 1)
    target_host, target_port = args.target.rsplit(":", 1)
    sock = socket.create_server((host, int(port)))
    print(f"relaying {sock.getsockname()[0]}:{sock.getsockname()[1]} -> {args.target}, {args.delay_ms} ms each way")
    run_relay(sock, (target_host, int(target_port)), args.delay_ms)


if __name__ == "__main__":
    main()
