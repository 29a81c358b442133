"""Clients on one live stream's WebSocket (/ws/streams/{id}), for bench/streams.sh: N clients
read binary frames for a while; the server's CPU time over that window is read from /proc.

    python stream_load.py WS_URL SERVER_PID --clients N [--seconds 15] [--quality 70]

Prints one Markdown table row: clients, server CPU (% of one core), CPU per client, per-client
frames per second (lowest and median), frames skipped for clients in all.
"""

import argparse
import asyncio
import os
import statistics
import time

import websockets


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def client(url, until, frames, skipped, k):
    async with websockets.connect(url, max_size=None, ping_interval=None) as ws:
        last = None
        while time.perf_counter() < until:
            try:
                msg = await asyncio.wait_for(ws.recv(), timeout=max(0.01, until - time.perf_counter()))
            except asyncio.TimeoutError:
                break
            if isinstance(msg, bytes):
                frame_id = int.from_bytes(msg[0:8], "little")
                if last is not None and frame_id > last + 1:
                    skipped[k] += frame_id - last - 1
                last = frame_id
                frames[k] += 1


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url")
    ap.add_argument("pid", type=int)
    ap.add_argument("--clients", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--quality", type=int, default=70)
    a = ap.parse_args()
    url = f"{a.url}?quality={a.quality}"
    frames, skipped = [0] * a.clients, [0] * a.clients
    warm = time.perf_counter() + 2  # connect and settle before measuring
    until = warm + a.seconds
    tasks = [asyncio.create_task(client(url, until, frames, skipped, k)) for k in range(a.clients)]
    await asyncio.sleep(max(0, warm - time.perf_counter()))
    counted = list(frames)
    cpu0, t0 = cpu_seconds(a.pid), time.perf_counter()
    await asyncio.gather(*tasks)
    cpu = (cpu_seconds(a.pid) - cpu0) / (time.perf_counter() - t0) * 100
    fps = sorted((f - c) / a.seconds for f, c in zip(frames, counted))
    print(f"| {a.clients} | {cpu:.0f}% | {cpu / a.clients:.1f}% | {fps[0]:.1f} | "
          f"{statistics.median(fps):.1f} | {sum(skipped)} |")


asyncio.run(main())
