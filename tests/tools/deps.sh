#!/bin/sh
# Installs the Debian packages the build and the tests need, only those missing.
# Idempotent and silent when everything is present; needs root (or sudo) otherwise.
set -eu

PKGS="build-essential pkg-config libhiredis-dev libcivetweb-dev libjansson-dev
libcurl4-openssl-dev libssl-dev libcmark-gfm-dev libcmark-gfm-extensions-dev
libopenblas-dev redis-server redis-tools wrk curl valgrind yamllint python3 nodejs ca-certificates
node-ws python3-yaml"

missing=""
for p in $PKGS; do
	# python3 and node may come from elsewhere (pyenv, nvm): accept them on PATH
	case $p in
	python3) command -v python3 >/dev/null 2>&1 && continue ;;
	nodejs) command -v node >/dev/null 2>&1 && continue ;;
	esac
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done

[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
	if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
		echo "deps: missing Debian packages:$missing (run as root to install them)" >&2
		exit 1
	fi
fi
echo "deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
APT="apt-get -o DPkg::Lock::Timeout=600"
$SUDO $APT update -qq >/dev/null
# policy-rc.d keeps the packaged redis-server from being started as a service;
# one the machine already has is left exactly as it was
made_policy=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	$SUDO sh -c 'printf "#!/bin/sh\nexit 101\n" > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d'
	made_policy=1
fi
rc=0
$SUDO $APT install -y -qq --no-install-recommends $missing >/dev/null || rc=$?
[ -n "$made_policy" ] && $SUDO rm -f /usr/sbin/policy-rc.d
exit $rc
