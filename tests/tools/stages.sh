#!/bin/bash
# Runs test stages and ends with one aggregated "N passed, N failed" line.
# Each stage prints its own summary line of that form last. A stage that exits
# non-zero while reporting no failure (a crash, a sanitizer report at exit)
# counts one extra failure, so nothing fails silently.
#   stages.sh unit redis integration e2e check-deploy
# unit: C unit suites; redis: C suites against a throwaway redis-server;
# integration: the real binaries (Python driver); e2e: binaries with the fakes;
# browser: the Dev UI in headless Chromium against the binaries and the fakes.
# qe: the Redis-backed suites on a server loading HAINK_QE_MODULE (with the Query
# Engine tests), skipped (with a line saying so) without it.
set -u -o pipefail
B=${BUILD_DIR:-build}
export BUILD_DIR=$B
total_pass=0
total_fail=0
for stage in "$@"; do
	case $stage in
	unit) cmd=("$B/bin/unit-tests") ;;
	redis) cmd=("$B/bin/integration-tests") ;;
	qe | qe-e2e)
		# the Query Engine suites: servers loading HAINK_QE_MODULE (or QE_MODULE);
		# HAINK_QE_SERVER (or QE_REDIS_SERVER): a server binary that can load it
		module=${HAINK_QE_MODULE:-${QE_MODULE:-}}
		server=${HAINK_QE_SERVER:-${QE_REDIS_SERVER:-${REDIS_SERVER:-redis-server}}}
		if [ -z "$module" ]; then
			echo "== $stage"
			echo "$stage: skipped: no Query Engine module (set HAINK_QE_MODULE=/path/redisearch.so)"
			continue
		fi
		if [ "$stage" = qe ]; then
			# every Redis-backed C suite (kb and memory run on the Query Engine there) plus qe.*
			cmd=(env HAINK_QE_MODULE="$module" REDIS_SERVER="$server" "$B/bin/integration-tests")
		else
			# the end-to-end suite, its workers on VECTOR_BACKEND=auto -> the Query Engine
			cmd=(env HAINK_QE_MODULE="$module" REDIS_SERVER="$server" python3 tests/run.py tests/e2e)
		fi ;;
	integration) cmd=(python3 tests/run.py tests/integration) ;;
	e2e) cmd=(python3 tests/run.py tests/e2e) ;;
	browser) cmd=(bash tests/browser/run.sh) ;;
	check-deploy) cmd=(bash tests/deploy/check_deploy.sh) ;;
	*) echo "stages: unknown stage $stage" >&2; exit 2 ;;
	esac
	echo "== $stage"
	out=$(mktemp)
	"${cmd[@]}" 2>&1 | tee "$out"
	rc=$?
	line=$(grep -E '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1 | sed -E 's/^[A-Za-z-]+: //')
	rm -f "$out"
	p=0
	f=0
	if [ -n "$line" ]; then
		p=$(echo "$line" | sed -E 's/^([0-9]+) passed.*/\1/')
		f=$(echo "$line" | sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/')
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		echo "stage $stage exited with status $rc without reporting a failure"
		f=1
	fi
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
done
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
