#!/bin/sh
# make bench: runs every part (bench/parts/*.sh, in name order), each printing
# its own table. Parts start their own redis-server and binaries on free
# loopback ports and stop them. BUILD_DIR names the build directory.
set -eu
cd "$(dirname "$0")/.."
export BUILD_DIR="${BUILD_DIR:-build}"
echo "Haink benchmark - $(date -u +%Y-%m-%dT%H:%MZ) - $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
for part in bench/parts/*.sh; do
	[ -e "$part" ] || continue
	if [ -n "${BENCH_ONLY:-}" ] && ! echo "$part" | grep -q "$BENCH_ONLY"; then continue; fi
	echo
	sh "$part"
done
