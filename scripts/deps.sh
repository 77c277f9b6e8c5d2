#!/bin/sh
# Installs the Debian packages pgbatchd needs to build, test and demo, only when missing.
set -eu

PKGS="gcc make pkg-config libevent-dev libssl-dev libpq-dev libcmocka-dev
postgresql-15 postgresql-client-15 pgbouncer libpg-query-dev
python3 python3-pytest python3-psycopg2 python3-psycopg python3-asyncpg
default-jdk-headless libpostgresql-jdbc-java nodejs npm clang libclang-rt-14-dev valgrind prometheus"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
# A JDK may come from another package than default-jdk-headless.
case "$missing" in
*default-jdk-headless*)
	if command -v javac >/dev/null 2>&1; then
		missing=$(echo "$missing" | sed 's/default-jdk-headless//')
	fi
	;;
esac
# Node.js may come with its own npm (NodeSource); Debian's npm conflicts with it.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
	missing=$(echo "$missing" | sed 's/nodejs//; s/npm//')
fi
missing=$(echo "$missing" | xargs)
if [ -n "$missing" ]; then

echo "deps.sh: installing: $missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# apt-get update once per machine (or when the lists are older than a day).
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
	$SUDO apt-get update -qq
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# node-postgres for the client tests: npm, into tests/clients/node_modules
here=$(cd "$(dirname "$0")/.." && pwd)
if [ ! -f "$here/tests/clients/node_modules/pg/package.json" ]; then
	echo "deps.sh: npm install pg (tests/clients)"
	(cd "$here/tests/clients" && npm install --silent --no-audit --no-fund pg@8 >/dev/null)
fi
