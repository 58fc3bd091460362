#!/bin/sh
# make fuzz: builds every tests/fuzz/fuzz_*.c with clang (-fsanitize=fuzzer,
# address,undefined) in build/fuzz and runs each for FUZZ_SECONDS (default 20)
# from its seed corpus tests/fuzz/corpus/<name>/. New inputs go to
# build/fuzz/corpus/<name>/ (not committed); a crash leaves its input in
# build/fuzz/crashes/ and fails the run. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
SECONDS_EACH=${FUZZ_SECONDS:-20}
B=build/fuzz

missing=""
for p in clang libclang-rt-14-dev; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "fuzz: installing$missing" >&2
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null 2>&1 ||
		{ apt-get update -qq >/dev/null && apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
			--no-install-recommends $missing >/dev/null; } ||
		{ echo "fuzz: cannot install$missing"; echo "0 passed, 1 failed"; exit 1; }
fi
if ! make -s -j2 B=$B CC=clang SANITIZE=fuzzer-no-link,address,undefined fuzz-bins; then
	echo "fuzz: the harnesses do not build"
	echo "0 passed, 1 failed"
	exit 1
fi
mkdir -p $B/crashes
pass=0
fail=0
for src in tests/fuzz/fuzz_*.c; do
	name=$(basename "$src" .c)
	seeds=tests/fuzz/corpus/${name#fuzz_}
	work=$B/corpus/${name#fuzz_}
	mkdir -p "$work" "$seeds"
	if $B/bin/$name -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix=$B/crashes/$name- "$work" "$seeds" >$B/$name.log 2>&1; then
		echo "ok - $name ($(grep -o 'stat::number_of_executed_units: [0-9]*' $B/$name.log | grep -o '[0-9]*$' || echo ?) runs; $(ls "$work" | wc -l) corpus entries)"
		pass=$((pass + 1))
	else
		echo "not ok - $name"
		grep -E 'ERROR|SUMMARY|artifact' $B/$name.log | head -n 8
		fail=$((fail + 1))
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
