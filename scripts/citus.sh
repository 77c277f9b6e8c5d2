#!/bin/bash
# Builds Citus from the vendored upstream tarball against Debian's PostgreSQL 15
# and installs it into that server (make citus-test runs this first).
#
# The tarball stays unmodified: it is checked against its sha256, unpacked
# under build/citus/, and patched there. The build is kept (a stamp names the
# tarball's checksum and the server's version), so a second run only installs.
#
# Where the tarball is: $CITUS_TARBALL, else the shared vendor directory beside
# the repository (../shared/vendor), else vendor/ in the repository.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
VERSION=13.2.2
SHA256=dd2453caec20a830e5e63f1def5c5a98cb6f57ae510407cdcd800916fcdab430
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
BUILD=$REPO/build/citus
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo

say() { echo "citus.sh: $*"; }

tarball() {
	local t
	for t in "${CITUS_TARBALL:-}" "$REPO/../shared/vendor/citus-$VERSION.tar.gz" "$REPO/vendor/citus-$VERSION.tar.gz"; do
		if [ -n "$t" ] && [ -f "$t" ]; then
			echo "$t"
			return 0
		fi
	done
	echo "citus.sh: citus-$VERSION.tar.gz not found (set CITUS_TARBALL, or put it in ../shared/vendor)" >&2
	return 1
}

# The headers must be those of the server that loads the library: Debian's
# postgresql-server-dev-15 and postgresql-15 are installed (or upgraded)
# together, with what Citus's build includes (gssapi.h, zstd.h, lz4.h).
deps() {
	local pkgs="postgresql-15 postgresql-server-dev-15 libkrb5-dev libzstd-dev liblz4-dev" missing="" p
	for p in $pkgs; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	if [ -z "$missing" ] &&
	   [ "$(dpkg-query -W -f='${Version}' postgresql-15)" = "$(dpkg-query -W -f='${Version}' postgresql-server-dev-15)" ]; then
		return 0
	fi
	say "installing: $pkgs (server and headers of one version)"
	if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null | head -1)" ]; then
		$SUDO apt-get update -qq
	fi
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
	if [ "$(dpkg-query -W -f='${Version}' postgresql-15)" != "$(dpkg-query -W -f='${Version}' postgresql-server-dev-15)" ]; then
		echo "citus.sh: postgresql-15 and postgresql-server-dev-15 differ in version" >&2
		exit 1
	fi
}

# PostgreSQL 15.18 and later declare have_createdb_privilege() extern in
# commands/dbcommands.h; this Citus release defines a static one of that name
# for older servers. With such headers its own copy is renamed out of the way
# (the server's function is the same check).
patch_source() {
	local src=$1 inc
	inc=$("$PG_CONFIG" --includedir-server)
	if grep -q 'extern bool have_createdb_privilege' "$inc/commands/dbcommands.h"; then
		sed -i 's/^have_createdb_privilege(void)$/citus_static_have_createdb_privilege(void)/' \
			"$src/src/include/pg_version_compat.h"
		grep -q citus_static_have_createdb_privilege "$src/src/include/pg_version_compat.h" || {
			echo "citus.sh: the have_createdb_privilege patch did not apply" >&2
			exit 1
		}
	fi
}

build() {
	local tb=$1 stamp want src
	want="$SHA256 $("$PG_CONFIG" --version)"
	stamp=$BUILD/stamp
	src=$BUILD/citus-$VERSION
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$src/src/backend/distributed/citus.so" ]; then
		return 0
	fi
	echo "$SHA256  $tb" | sha256sum -c --quiet - || {
		echo "citus.sh: $tb does not have the expected sha256" >&2
		exit 1
	}
	rm -rf "$BUILD"
	mkdir -p "$BUILD"
	tar -xzf "$tb" -C "$BUILD"
	patch_source "$src"
	say "building Citus $VERSION against $("$PG_CONFIG" --version) (log: $BUILD/build.log)"
	if ! (cd "$src" && PG_CONFIG=$PG_CONFIG ./configure --without-libcurl && make -j"$(nproc)") >"$BUILD/build.log" 2>&1; then
		tail -40 "$BUILD/build.log" >&2
		echo "citus.sh: the build failed (log: $BUILD/build.log)" >&2
		exit 1
	fi
	echo "$want" >"$stamp"
}

# Into the server's own directories (its extension files have no other home
# in PostgreSQL 15), unless the installed library is this one already.
install() {
	local src=$BUILD/citus-$VERSION lib
	lib=$("$PG_CONFIG" --pkglibdir)/citus.so
	if [ -f "$lib" ] && cmp -s "$lib" "$src/src/backend/distributed/citus.so"; then
		return 0
	fi
	say "installing Citus $VERSION into $("$PG_CONFIG" --pkglibdir)"
	(cd "$src" && $SUDO make install) >"$BUILD/install.log" 2>&1 || {
		tail -20 "$BUILD/install.log" >&2
		exit 1
	}
}

deps
build "$(tarball)"
install
