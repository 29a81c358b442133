# pigweight: `make run` to set up and start the server, `make test` to set up and test.
.DEFAULT_GOAL := help
SHELL := /bin/bash

BIN := target/release/pigweight
DATA := data
SAMPLE := $(DATA)/videos/sample.mp4
BIND ?= 127.0.0.1:8080

.PHONY: help setup build run sample test lint fmt openapi bench bench-decode bench-inference bench-index bench-api bench-player bench-streams bench-triton bench-hls bench-webrtc bench-day model clean-data

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

setup: ## Install what is missing: system packages (apt), the ONNX Runtime library (PyPI wheel)
	@scripts/setup.sh
	@scripts/fetch-ort.sh

build: setup ## Build everything in release mode
	cargo build --release --locked

sample: build ## Make the sample video (1 min, 1280x720, 25 fps) if it is missing
	@if [ ! -f $(SAMPLE) ]; then $(BIN) synth video $(SAMPLE) --seed 1 --duration 60; fi

run: sample ## Set up, build, make the sample video and serve on http://127.0.0.1:8080
	$(BIN) serve --videos $(DATA)/videos --bind $(BIND)

test: setup lint ## Set up, lint, and run every test
	@scripts/setup.sh --test
	@scripts/fixtures.sh
	cargo test --workspace --locked

lint: ## cargo fmt --check and clippy with warnings as errors
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

fmt: ## Format the code
	cargo fmt --all

openapi: ## Write the API's OpenAPI document to openapi/openapi.json (a test fails when it drifts)
	cargo run --quiet --locked -p pigweight-server -- openapi > openapi/openapi.json

bench: bench-decode bench-inference bench-index bench-api bench-player bench-streams bench-triton bench-cluster bench-hls bench-webrtc bench-day ## Run every benchmark (figures go into bench/RESULTS.md by hand)

bench-decode: setup ## Decode benchmark against OpenCV and PyAV (bench/run.sh, ~17 min)
	bench/run.sh

bench-inference: setup ## Inference benchmark against Python onnxruntime + cv2 (bench/inference.sh)
	bench/inference.sh

bench-index: setup ## Indexer benchmark: speed on a 10-min 720p video, query latency on 10 hours (bench/index.sh)
	bench/index.sh

bench-api: setup ## API load: ours vs the Python prototype's replica (wrk, oha, 200 WebSocket clients; bench/api.sh)
	bench/api.sh

bench-player: setup ## Scrub latency of the player in headless chromium (bench/player.sh)
	bench/player.sh

bench-streams: setup ## Live-stream fan-out: 1, 10, 50 WebSocket clients on one 720p source (bench/streams.sh)
	bench/streams.sh

bench-hls: setup ## HLS: transcoder speed and bytes per rendition, cache, time to first frame in chromium (bench/hls.sh)
	bench/hls.sh

bench-webrtc: setup ## WebRTC live view: camera-clock-to-browser latency, against the WebSocket JPEGs (tests/webrtc.rs)
	scripts/setup.sh --test && scripts/fixtures.sh
	cargo test --release --locked -p pigweight-server --test webrtc chromium -- --nocapture 2>&1 | grep -E 'latency|test result'

bench-day: setup ## A 24-hour 1080p recording (21 GB, made once): open, first frame, index coverage in its first minute (bench/day.sh)
	bench/day.sh

bench-triton: setup ## Triton backend against in-process ORT, HTTP against gRPC, priorities (bench/triton.sh)
	bench/triton.sh

bench-cluster: setup ## Cluster mode: indexing with 1 and 2 workers on PostgreSQL and count_at_time, against the single box (bench/cluster.sh)
	scripts/setup.sh --test
	bench/cluster.sh

model: setup ## Retrain the sample detector (models/train: dataset, Ultralytics on CPU, ONNX export, scoring)
	models/train/make_model.sh
	YOLO_OFFLINE=1 YOLO_CONFIG_DIR=target/model-train/ultralytics-config \
	  models/train/.venv/bin/python models/train/ultralytics_reference.py
	models/train/evaluate.sh

clean-data: ## Remove generated sample data
	rm -rf $(DATA)
