#!/bin/sh
# Worker benchmark (issue 4): tasks/s through API -> stream -> worker -> Slack
# with the Node fakes for Slack and the LLM, for 1 and 2 worker processes; the
# queue wait (enqueue -> pickup) in runs paced below capacity; then with the
# fake LLM answering after 1 s, tasks/s at WORKER_CONCURRENCY 1, 16 and 64.
# Real redis-server, haink-api and haink-worker on free loopback ports; the
# events come from bench_worker (bench/bench_worker.c); bench/worker_bench.py
# runs everything and prints the tables. Exit 1 only on a broken run (an
# event not accepted, a task not answered exactly once); targets print
# MET / MISSED. Knobs: BENCH_WORKER_TASKS (10000), BENCH_WORKER_FULL_TASKS
# (3000), BENCH_WORKER_PACED_RATE (500), BENCH_WORKER_PACED_TASKS (3000),
# BENCH_WORKER_CONCURRENCY (16), BENCH_WORKER_LOG_LEVEL (info).
set -eu
cd "$(dirname "$0")/../.."
B=${BUILD_DIR:-build}
for tool in node redis-server python3; do
	command -v $tool >/dev/null || { echo "30_worker: $tool is not installed (make deps)"; exit 1; }
done
for bin in haink-api haink-worker bench_worker; do
	[ -x "$B/bin/$bin" ] || { echo "30_worker: $B/bin/$bin is missing (make B=$B bench)"; exit 1; }
done
BUILD_DIR=$B exec python3 bench/worker_bench.py
