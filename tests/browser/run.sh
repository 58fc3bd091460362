#!/bin/bash
# The browser stage: the Dev UI driven in headless Chromium (tests/browser/cdp.py,
# the DevTools protocol over a pipe) against the real redis-server, haink-api and
# haink-worker with the OpenAI fake. Installs Debian's chromium (and a font) when
# missing, then runs tests/browser/test_*.py, bounded in time; ends with
# "N passed, N failed". Screenshots: $BUILD_DIR/artifacts/ui/*.png.
set -u
cd "$(dirname "$0")/../.."

need=""
command -v chromium >/dev/null 2>&1 || need="chromium"
dpkg-query -W -f='${Status}' fonts-dejavu-core 2>/dev/null | grep -q "ok installed" ||
	need="$need fonts-dejavu-core"
if [ -n "$need" ]; then
	SUDO=""
	if [ "$(id -u)" != 0 ]; then
		if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
			echo "browser: missing Debian packages:$need (run as root to install them)"
			echo "0 passed, 1 failed"
			exit 1
		fi
	fi
	echo "browser: installing $need" >&2
	APT="apt-get -o DPkg::Lock::Timeout=600"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086
	if ! $SUDO $APT install -y -qq --no-install-recommends $need >/dev/null 2>&1; then
		$SUDO $APT update -qq >/dev/null
		# shellcheck disable=SC2086
		if ! $SUDO $APT install -y -qq --no-install-recommends $need >/dev/null; then
			echo "browser: cannot install$need"
			echo "0 passed, 1 failed"
			exit 1
		fi
	fi
fi

exec timeout -k 10 600 python3 tests/run.py tests/browser
