"""WebSocket peers for benches/load/run (python3-websockets, Debian's):

  websocket.py echo PORT                     an upstream that echoes every message
  websocket.py hold URL HOST COOKIE N        opens N sockets, prints "open N", holds them
                                             until stdin closes
  websocket.py latency URL HOST COOKIE M     one socket, M round trips of a 32-byte message
                                             one after another; prints p50 and p99 in µs

URL is where to connect (ws://127.0.0.1:PORT/); HOST the Host header; COOKIE the session
cookie header value ("-" for none). Every handshake must succeed, every echo must match.
"""

import asyncio
import sys
import time

import websockets


def target(url, host, cookie):
    address, _, path = url.split("//", 1)[1].partition("/")
    ip, port = address.rsplit(":", 1)
    headers = [] if cookie == "-" else [("Cookie", cookie)]
    return f"ws://{host}/{path}", {"host": ip, "port": int(port), "extra_headers": headers,
                             "compression": None, "max_queue": None, "ping_interval": None}


async def echo(port):
    async def handler(socket, _path=None):
        async for message in socket:
            await socket.send(message)

    async with websockets.serve(handler, "127.0.0.1", int(port), compression=None,
                                ping_interval=None, max_queue=None):
        await asyncio.Future()


async def hold(url, host, cookie, count):
    uri, options = target(url, host, cookie)
    sockets = []
    for start in range(0, int(count), 100):
        batch = [websockets.connect(uri, **options) for _ in range(start, min(start + 100, int(count)))]
        sockets += await asyncio.gather(*batch)
    # Each socket must carry a message end to end.
    for socket in sockets[:: max(1, len(sockets) // 20)]:
        await socket.send("held")
        assert await socket.recv() == "held"
    print(f"open {len(sockets)}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await asyncio.gather(*(socket.close() for socket in sockets))


async def latency(url, host, cookie, messages):
    uri, options = target(url, host, cookie)
    payload = "x" * 32
    async with websockets.connect(uri, **options) as socket:
        times = []
        for i in range(int(messages) + 200):
            start = time.perf_counter_ns()
            await socket.send(payload)
            assert await socket.recv() == payload
            if i >= 200:  # the first 200 warm up
                times.append(time.perf_counter_ns() - start)
    times.sort()
    p50 = times[len(times) // 2] / 1000
    p99 = times[int(len(times) * 0.99)] / 1000
    print(f"{p50:.0f} {p99:.0f}")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    asyncio.run({"echo": echo, "hold": hold, "latency": latency}[command](*args))
