#!/bin/bash
# make check-trixie: the production images' base, proven on a bookworm machine
# with no Docker engine.
#
#  1. a Debian 13 "trixie" minbase root made with debootstrap from the mirror
#     this machine's apt uses (cached as a tarball under $CACHE; apt downloads
#     cached too, so a warm run fetches almost nothing);
#  2. the build stage of deploy/Dockerfile.api run as written (its apt-get
#     install and its build command, read from the Dockerfile by
#     dockerfile.py), with gcc 14 and trixie's hiredis 1.2 / civetweb 1.16 /
#     OpenSSL 3.5 / curl 8.14; the worker's build stage too when it differs;
#  3. each image's runtime stage in a second clean root (its packages, its
#     user, its COPY lines, its own ldd check), then both health checks run as
#     the image's non-root user against the running binaries;
#  4. in the build root: the unit suite, then the Redis-backed C suite, the
#     TLS tests and the end-to-end suite against trixie's Redis 8 and again
#     against Valkey 8.
# Prints "ok - …" / "not ok - …" lines and ends with "N passed, N failed".
set -u -o pipefail
cd "$(dirname "$0")/../.."
SRC=$(pwd)
CACHE=${HAINK_TRIXIE_CACHE:-/var/cache/haink/trixie}
SUITE=trixie
DF=tests/trixie/dockerfile.py

pass=0
fail=0
ok() {
	echo "ok - $*"
	pass=$((pass + 1))
}
notok() {
	echo "not ok - $*"
	fail=$((fail + 1))
}
finish() {
	echo "trixie: $pass passed, $fail failed"
	[ "$fail" -eq 0 ]
	exit $?
}

if [ "$(id -u)" != 0 ]; then
	echo "check-trixie: needs root (debootstrap and chroot)" >&2
	notok "running as root"
	finish
fi

# the same Debian mirror this machine's apt uses
mirror=$(grep -h -E '^(URIs:|deb )' /etc/apt/sources.list /etc/apt/sources.list.d/* 2>/dev/null |
	grep -v security | head -n 1 | sed -E 's/^URIs:[[:space:]]*//; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?//' |
	awk '{print $1}')
mirror=${mirror:-http://deb.debian.org/debian}

if ! command -v debootstrap >/dev/null; then
	apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends debootstrap >/dev/null ||
		{ apt-get update -qq >/dev/null && apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
			--no-install-recommends debootstrap >/dev/null; }
fi
command -v debootstrap >/dev/null || { notok "debootstrap installed"; finish; }

mkdir -p "$CACHE/apt-archives/partial"
WORK=$(mktemp -d /var/tmp/haink-trixie.XXXXXX)
MOUNTS=()
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}"; done
	# never delete through a bind mount of /dev or the apt cache
	if grep -q " $WORK/" /proc/mounts; then
		echo "check-trixie: mounts remain under $WORK; left in place" >&2
	else
		rm -rf --one-file-system "$WORK"
	fi
}
trap cleanup EXIT

base_tar="$CACHE/base-$SUITE-minbase-$(echo "$mirror" | md5sum | cut -c1-8).tar"
if [ ! -s "$base_tar" ]; then
	echo "check-trixie: debootstrap $SUITE from $mirror (cached in $base_tar)"
	t0=$(date +%s)
	if debootstrap --variant=minbase "$SUITE" "$WORK/base" "$mirror" >"$WORK/debootstrap.log" 2>&1; then
		tar -C "$WORK/base" -cf "$base_tar.tmp" . && mv "$base_tar.tmp" "$base_tar"
		rm -rf "$WORK/base"
		echo "check-trixie: base root made in $(($(date +%s) - t0)) s"
	else
		tail -n 20 "$WORK/debootstrap.log"
		notok "debootstrap $SUITE minbase"
		finish
	fi
fi

# new_root DIR: a fresh copy of the base with what chroot'd programs need
new_root() {
	local r=$1
	mkdir -p "$r"
	tar -C "$r" -xf "$base_tar"
	cp /etc/resolv.conf "$r/etc/resolv.conf"
	# packaged services (redis-server, valkey-server) must not start in the root
	printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
	chmod +x "$r/usr/sbin/policy-rc.d"
	mount -t proc proc "$r/proc" && MOUNTS+=("$r/proc")
	mount --bind /dev "$r/dev" && MOUNTS+=("$r/dev")
	mount --bind "$CACHE/apt-archives" "$r/var/cache/apt/archives" &&
		MOUNTS+=("$r/var/cache/apt/archives")
}

# --- 2. build stage ---------------------------------------------------------
BUILD=$WORK/build
new_root "$BUILD"
t0=$(date +%s)
if python3 $DF deploy/Dockerfile.api --stage build --root "$BUILD" --context "$SRC" \
	>"$WORK/build.log" 2>&1; then
	ok "Dockerfile.api build stage runs on $SUITE ($(($(date +%s) - t0)) s)"
else
	tail -n 40 "$WORK/build.log"
	notok "Dockerfile.api build stage runs on $SUITE"
	finish
fi
if grep -E 'warning:' "$WORK/build.log"; then
	notok "build on $SUITE has no compiler warnings"
else
	ok "build on $SUITE has no compiler warnings ($(chroot "$BUILD" gcc -dumpfullversion), hiredis $(chroot "$BUILD" pkg-config --modversion hiredis))"
fi
if [ "$(python3 $DF deploy/Dockerfile.api --stage build --show | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["run"])')" != \
	"$(python3 $DF deploy/Dockerfile.worker --stage build --show | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["run"])')" ]; then
	WBUILD=$WORK/wbuild
	new_root "$WBUILD"
	if python3 $DF deploy/Dockerfile.worker --stage build --root "$WBUILD" --context "$SRC" \
		>"$WORK/wbuild.log" 2>&1; then
		ok "Dockerfile.worker build stage runs on $SUITE"
	else
		tail -n 40 "$WORK/wbuild.log"
		notok "Dockerfile.worker build stage runs on $SUITE"
	fi
else
	WBUILD=$BUILD
fi

# --- 3. runtime stages and health checks as the image's user ----------------
hostredis_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$hostredis_port" --bind 127.0.0.1 --save '' --appendonly no \
	--dir "$WORK" >/dev/null 2>&1 &
PIDS+=($!)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_cmd SECONDS CMD…: runs CMD until it succeeds or the time is up
wait_cmd() {
	local end=$(($(date +%s) + $1))
	shift
	until "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep 0.2
	done
}

for image in api worker; do
	df=deploy/Dockerfile.$image
	facts=$(python3 $DF $df --show)
	user=$(echo "$facts" | python3 -c 'import json,sys; print(json.load(sys.stdin)["user"] or "")')
	hc=$(echo "$facts" | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["healthcheck"] or []))')
	RT=$WORK/run-$image
	new_root "$RT"
	src=$BUILD
	[ "$image" = worker ] && src=$WBUILD
	if python3 $DF $df --root "$RT" --context "$SRC" --from "build=$src" >"$WORK/rt-$image.log" 2>&1; then
		ok "$df runtime stage runs on $SUITE (its packages, user and ldd check)"
	else
		tail -n 30 "$WORK/rt-$image.log"
		notok "$df runtime stage runs on $SUITE"
		continue
	fi
	bin=/usr/local/bin/haink-$image
	if chroot "$RT" ldd "$bin" | grep -q 'not found'; then
		chroot "$RT" ldd "$bin"
		notok "ldd finds every library of $bin in the runtime root"
	else
		ok "ldd finds every library of $bin in the runtime root"
	fi
	if chroot "$RT" sh -c 'command -v gcc || command -v cc || ls /usr/include/hiredis' >/dev/null 2>&1; then
		notok "the $image runtime root carries no compiler or headers"
	else
		ok "the $image runtime root carries no compiler or headers"
	fi
	[ -n "$user" ] || { notok "$df names a non-root USER"; continue; }
	port=$(free_port)
	envs=(REDIS_URL=redis://127.0.0.1:$hostredis_port/0 LOG_LEVEL=warn)
	if [ "$image" = api ]; then
		envs+=(PORT=$port SLACK_SIGNING_SECRET=trixie-check AGENTS_FILE=/opt/haink/agents.json)
		chroot --userspec="$user" "$RT" /usr/bin/env -i "${envs[@]}" sh -c "cd /tmp && exec $bin" \
			>"$WORK/$image.out" 2>&1 &
	else
		envs+=(METRICS_PORT=$port AGENTS_FILE=/opt/haink/agents.json WORKER_CONCURRENCY=2)
		chroot --userspec="$user" "$RT" /usr/bin/env -i "${envs[@]}" sh -c "cd /tmp && exec $bin run" \
			>"$WORK/$image.out" 2>&1 &
	fi
	PIDS+=($!)
	if wait_cmd 20 chroot --userspec="$user" "$RT" /usr/bin/env -i "${envs[@]}" PATH=/usr/local/bin:/usr/bin:/bin $hc; then
		ok "'$hc' passes as user $user against the running haink-$image"
	else
		tail -n 20 "$WORK/$image.out"
		notok "'$hc' passes as user $user against the running haink-$image"
	fi
	owner=$(ps -o user= -p "$(pgrep -f "^$bin" | head -n 1)" 2>/dev/null | tr -d ' ')
	if [ -n "$owner" ] && [ "$owner" != root ]; then
		ok "haink-$image runs as $owner, not root"
	else
		notok "haink-$image runs as the image's non-root user (saw '${owner:-nothing}')"
	fi
	kill "${PIDS[-1]}" 2>/dev/null
done

# --- 4. suites on trixie against Redis 8 and Valkey 8 -----------------------
TESTPKGS="redis-server valkey-server python3 nodejs openssl procps"
if chroot "$BUILD" sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $TESTPKGS" \
	>"$WORK/testpkgs.log" 2>&1; then
	ok "test packages install on $SUITE ($TESTPKGS)"
else
	tail -n 20 "$WORK/testpkgs.log"
	notok "test packages install on $SUITE"
	finish
fi
if chroot "$BUILD" sh -c 'cd /src && make -j2 -s build/bin/unit-tests build/bin/integration-tests' \
	>"$WORK/tests-build.log" 2>&1; then
	ok "test binaries build on $SUITE"
else
	tail -n 30 "$WORK/tests-build.log"
	notok "test binaries build on $SUITE"
	finish
fi

# suite NAME CMD: runs CMD in the build root, counts its "N passed, N failed" line
suite() {
	local name=$1 cmd=$2 log line p f
	log=$WORK/suite.log
	chroot "$BUILD" /bin/sh -c "cd /src && $cmd" >"$log" 2>&1
	local rc=$?
	line=$(grep -E '^([A-Za-z-]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 | sed -E 's/^[A-Za-z-]+: //')
	p=${line%% passed*}
	f=${line#* passed, }
	f=${f%% failed*}
	if [ -n "$line" ] && [ "$rc" -eq 0 ] && [ "$f" = 0 ]; then
		ok "$name on $SUITE: $p passed"
	else
		grep -E '^(FAIL|not ok)|Traceback|Error' "$log" | head -n 30
		tail -n 15 "$log"
		notok "$name on $SUITE (${line:-no summary}, exit $rc)"
	fi
}

suite "unit suite" "build/bin/unit-tests"
for server in redis-server valkey-server; do
	version=$(chroot "$BUILD" $server --version | sed -E 's/.*v=([0-9.]+).*/\1/')
	suite "Redis-backed C suite, $server $version" "REDIS_SERVER=$server build/bin/integration-tests"
	suite "TLS tests, $server $version" \
		"REDIS_SERVER=$server HAINK_EXPECT_TLS=1 python3 tests/run.py tests/integration/test_tls.py"
	suite "end-to-end suite, $server $version" "REDIS_SERVER=$server python3 tests/run.py tests/e2e"
done

finish
