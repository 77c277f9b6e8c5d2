#!/bin/sh
# make docker-test: the compose stack (docker/) built and run with podman and
# podman-compose, on local stand-ins for the public base images, then checked
# by tests/docker/test_stack.py. Nothing is left running afterwards.
set -eu

here=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-/usr/bin/python3}

# podman, podman-compose and debootstrap from Debian, when missing (with
# --no-install-recommends, so netavark's iptables and DNS are named too); the test
# itself needs pytest and psycopg2 (scripts/deps.sh has them).
missing=""
for p in podman podman-compose debootstrap runc netavark aardvark-dns iptables python3-pytest python3-psycopg2; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	echo "docker-test: installing:$missing"
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
		$SUDO apt-get update -qq
	fi
	# shellcheck disable=SC2086
	$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# (.ci/run installs the packages first, alone, then runs the rest beside make test)
[ -n "${DOCKER_TEST_DEPS_ONLY:-}" ] && exit 0

export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/docker/podman-containers.conf}"
# podman builds OCI images by default, which have no HEALTHCHECK
export BUILDAH_FORMAT=docker

"$here/docker/standin/images.sh"
cd "$here"
exec "$PYTHON" -m pytest -q -p no:cacheprovider tests/docker ${PYTEST_ARGS:-}
