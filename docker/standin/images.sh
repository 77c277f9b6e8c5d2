#!/bin/sh
# Local stand-ins for the two public images the compose stack names, built only
# when they are missing: this machine reaches Debian's archive, not a registry.
#   debian:bookworm-slim  debootstrap --variant=minbase, trimmed as the slim image is
#   postgres:15           Debian's postgresql-15 on that base, with the official
#                         image's interface (docker/standin/postgres/)
# Images stay in podman's storage, so later runs on the machine find them.
# Environment: DEBIAN_MIRROR (http://deb.debian.org/debian), CONTAINERS_CONF.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE=docker.io/library/debian:bookworm-slim
PG=docker.io/library/postgres:15

if podman image exists "$BASE"; then
	echo "images.sh: $BASE present"
else
	echo "images.sh: building $BASE (debootstrap --variant=minbase bookworm, $MIRROR)"
	work=$(mktemp -d /var/tmp/pgbatchd-base.XXXXXX)
	trap 'rm -rf "$work"' EXIT
	debootstrap --variant=minbase bookworm "$work/rootfs" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
		{ tail -20 "$work/debootstrap.log"; exit 1; }
	root=$work/rootfs
	# The slim image's trimming: no docs, man pages or translations installed
	# later either, no apt caches.
	cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
CFG
	cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
CFG
	echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
	rm -f "$root/etc/apt/sources.list"
	cat >"$root/etc/apt/sources.list.d/debian.sources" <<CFG
Types: deb
URIs: $MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
CFG
	find "$root/usr/share/doc" -mindepth 2 ! -name copyright -type f -delete 2>/dev/null || true
	rm -rf "$root/usr/share/man"/* "$root/usr/share/info"/* "$root/usr/share/locale"/* \
		"$root/var/lib/apt/lists"/* "$root/var/cache/apt"/*.bin "$root/var/cache/apt/archives"/*.deb \
		"$root/var/log"/*.log "$root/var/log/apt"/* "$root/tmp"/*
	tar -C "$root" --numeric-owner -cf "$work/rootfs.tar" .
	podman import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
		"$work/rootfs.tar" "$BASE" >"$work/import.log" 2>&1 || { cat "$work/import.log"; exit 1; }
	rm -rf "$work"
	trap - EXIT
fi

if podman image exists "$PG"; then
	echo "images.sh: $PG present"
else
	echo "images.sh: building $PG (Debian's postgresql-15 on $BASE)"
	log=$(mktemp)
	podman build --format docker -t "$PG" "$here/postgres" >"$log" 2>&1 || { tail -30 "$log"; rm -f "$log"; exit 1; }
	rm -f "$log"
fi
