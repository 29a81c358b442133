"""Load on a count WebSocket: N clients, each seeking to a random frame time R times a second,
timing each seek to the count_update that answers it (the update echoes the seek's t).

    python ws_load.py WS_URL DURATION_OF_VIDEO [--clients 200] [--rate 5] [--seconds 20] [--name X]

Prints one Markdown table row: clients, seeks/s, answered, p50, p99 and max latency in ms.
"""

import argparse
import asyncio
import json
import random
import statistics
import time

import websockets


async def client(url, video_s, rate, until, latencies, counts, rng):
    async with websockets.connect(url, max_queue=None, ping_interval=None) as ws:
        pending = {}

        async def receive():
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "count_update":
                    sent = pending.pop(msg["t"], None)
                    if sent is not None:
                        latencies.append((time.perf_counter() - sent) * 1000)

        reader = asyncio.create_task(receive())
        await asyncio.sleep(rng.random() / rate)  # spread the clients over the period
        next_at = time.perf_counter()
        while time.perf_counter() < until:
            t = round(rng.randrange(int(video_s * 25)) / 25, 3)
            pending[t] = time.perf_counter()
            await ws.send(json.dumps({"type": "seek", "t": t}))
            counts[0] += 1
            next_at += 1 / rate
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        await asyncio.sleep(0.5)  # let the last answers arrive
        reader.cancel()
        counts[1] += len(pending)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("video_s", type=float)
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--rate", type=float, default=5)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--name", default="count WebSocket")
    a = ap.parse_args()
    latencies, counts = [], [0, 0]
    until = time.perf_counter() + a.seconds
    await asyncio.gather(*(
        client(a.url, a.video_s, a.rate, until, latencies, counts, random.Random(k))
        for k in range(a.clients)
    ))
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(len(latencies) * q))]
    print(f"| {a.name} | {a.clients} x {a.rate:g}/s | {counts[0] / a.seconds:.0f} | "
          f"{len(latencies)}/{counts[0]} | {statistics.median(latencies):.2f} | {p(0.99):.2f} | {latencies[-1]:.1f} |")


asyncio.run(main())
