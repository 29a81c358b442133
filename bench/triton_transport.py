"""HTTP (binary tensors) against gRPC to the same Triton model, with NVIDIA's own client.

The Triton benchmark's transport comparison (bench/triton.sh): the official `tritonclient`
sends the same uint8 [N, 3, 416, 416] tensor both ways, at each batch size, alternating; the
medians of the round trips, and the server's time per request from its statistics, say how
much of a round trip the protocol is. Prints JSON.

    python bench/triton_transport.py HTTP_PORT GRPC_PORT MODEL --batches 1,8 --repeats 30
"""

import argparse
import json
import statistics
import time

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient


def main():
    p = argparse.ArgumentParser()
    p.add_argument("http")
    p.add_argument("grpc")
    p.add_argument("model")
    p.add_argument("--batches", default="1,8")
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--size", type=int, default=416)
    a = p.parse_args()
    h = httpclient.InferenceServerClient(f"127.0.0.1:{a.http}")
    g = grpcclient.InferenceServerClient(f"127.0.0.1:{a.grpc}")
    meta = h.get_model_metadata(a.model)
    name, out = meta["inputs"][0]["name"], meta["outputs"][0]["name"]
    rng = np.random.default_rng(7)
    results = []
    for batch in [int(b) for b in a.batches.split(",")]:
        pixels = rng.integers(0, 256, (batch, 3, a.size, a.size), dtype=np.uint8)

        def over_http():
            i = httpclient.InferInput(name, pixels.shape, "UINT8")
            i.set_data_from_numpy(pixels, binary_data=True)
            o = httpclient.InferRequestedOutput(out, binary_data=True)
            return h.infer(a.model, [i], outputs=[o]).as_numpy(out)

        def over_grpc():
            i = grpcclient.InferInput(name, pixels.shape, "UINT8")
            i.set_data_from_numpy(pixels)
            o = grpcclient.InferRequestedOutput(out)
            return g.infer(a.model, [i], outputs=[o]).as_numpy(out)

        for _ in range(3):
            assert np.array_equal(over_http(), over_grpc())
        times = {"http": [], "grpc": []}
        for _ in range(a.repeats):
            for kind, call in (("http", over_http), ("grpc", over_grpc)):
                started = time.perf_counter()
                call()
                times[kind].append((time.perf_counter() - started) * 1e3)
        results.append({
            "batch": batch,
            "http_ms": statistics.median(times["http"]),
            "grpc_ms": statistics.median(times["grpc"]),
            "request_bytes": int(pixels.nbytes),
        })
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
