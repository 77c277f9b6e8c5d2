#!/bin/sh
# The seams of the source tree, checked (make check-structure, part of make test):
#   1. no source file over 1000 lines, each opening with the one line that says
#      what it owns;
#   2. protocol/ has no sockets, no libevent and no knowledge of the rest; sink/
#      never includes proxy/;
#   3. a reply-queue entry is changed only through proxy/replyq.h;
#   4. the interception modules reach a client session only through client.h's
#      functions, its reply queue (the only way they answer it), its identity (d, prefix, user, database,
#      params, peer, tx_status) and their own state (c->is, isess.h); the
#      session core (client.c, clogin.c, backend.c, daemon.c) never reads the
#      interception state and calls it through isess.h and intercept.h only.
# With --self-test it copies the tree, breaks each rule once and expects each
# break to be caught.
set -u

ROOT=${1:-.}
[ "$ROOT" = --self-test ] && ROOT=.

INTERCEPTION="absorb clause copyin direct extq group intercept isess pstmt txn view"
CORE="client clogin backend daemon"
# struct client fields the interception modules may use
IDENTITY="is|d|rq|prefix|user|database|params|peer|tx_status"

check() {
	root=$1
	fails=0
	fail() {
		echo "structure: $*" >&2
		fails=$((fails + 1))
	}

	for f in "$root"/common/*.[ch] "$root"/protocol/*.[ch] "$root"/conf/*.[ch] "$root"/sink/*.[ch] \
		"$root"/proxy/*.[ch]; do
		n=$(wc -l < "$f")
		[ "$n" -le 1000 ] || fail "${f#"$root"/} has $n lines (the limit is 1000)"
		head -n 1 "$f" | grep -Eq '^/\* .* \*/$' ||
			fail "${f#"$root"/} does not open with a one-line comment saying what it owns"
	done

	[ -z "$(grep -lE '#include *["<](proxy/|event2/|sys/socket|netinet/|arpa/|sink/)' "$root"/protocol/*.[ch])" ] ||
		fail "protocol/ must not include sockets, libevent, proxy/ or sink/"
	[ -z "$(grep -l '#include "proxy/' "$root"/sink/*.[ch])" ] || fail "sink/ includes proxy/: $(grep -l '#include "proxy/' "$root"/sink/*.[ch] | tr '\n' ' ')"

	# 3. an entry's fields are assigned in replyq.c / replyq.h only
	fields='ready|cancelled|muted|error|skipped|capture|notices|relay_error|late|own|copy|owner|kind'
	for f in "$root"/proxy/*.c "$root"/proxy/*.h; do
		case $f in */replyq.c | */replyq.h) continue ;; esac
		hits=$(grep -nE "\b(e|z|entry|[a-z_]+->entry)->($fields)\b *([-+|&]?=[^=]|\+\+|--)|&(e|z|entry|[a-z_]+->entry)->own\b|\b[a-z_]*rq\.(head|tail|late_mode|skipping|nskipped|n)\b *=[^=]" "$f")
		[ -z "$hits" ] || fail "${f#"$root"/} changes a reply-queue entry outside replyq.h: $hits"
	done

	# 4. the interception modules and the session core, each on its side
	for m in $INTERCEPTION; do
		f="$root/proxy/$m.c"
		[ -f "$f" ] || { fail "proxy/$m.c is gone: update scripts/structure.sh"; continue; }
		bad=$(grep -noE '\b(c|[a-z]+->c|[a-z]+->client)->[a-z_]+' "$f" | grep -vE -- "->($IDENTITY)$" || true)
		[ -z "$bad" ] || fail "proxy/$m.c reads the session's core fields: $(echo "$bad" | head -n 5 | tr '\n' ' ')"
		bad=$(grep -nE '\bclient_(put|output)\(' "$f" || true)
		[ -z "$bad" ] || fail "proxy/$m.c answers the client past the reply queue: $bad"
		[ -z "$(grep -E '#include "proxy/(backend|sock|clogin|login)\.h"' "$f")" ] ||
			fail "proxy/$m.c includes the session core's headers"
	done
	for m in $CORE; do
		f="$root/proxy/$m.c"
		bad=$(grep -nE -- '->is\.' "$f" || true)
		[ -z "$bad" ] || fail "proxy/$m.c reads the interception state (use isess.h's hooks): $(echo "$bad" | head -n 3 | tr '\n' ' ')"
		bad=$(grep -nE '#include "proxy/(absorb|clause|direct|extq|group|pending|pstmt|txn|view)\.h"' "$f" || true)
		[ -z "$bad" ] || fail "proxy/$m.c calls an interception module past isess.h and intercept.h: $bad"
	done
	return $fails
}

if [ "${1:-}" = --self-test ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	caught=0
	try() {     # a break: file, sed expression, what it breaks
		rm -rf "$tmp/t"
		mkdir -p "$tmp/t"
		cp -r common protocol conf sink proxy "$tmp/t/"
		sed -i "$2" "$tmp/t/$1"
		if check "$tmp/t" 2> "$tmp/err"; then
			echo "structure self-test: not caught: $3" >&2
		else
			echo "structure self-test: caught $3: $(head -n 1 "$tmp/err" | cut -c1-110)"
			caught=$((caught + 1))
		fi
	}
	check . || { echo "structure self-test: the tree itself fails" >&2; exit 1; }
	seq 1 1000 | sed 's|^|/* filler */|' > "$tmp/filler"
	try proxy/direct.c "\$r $tmp/filler" "a file over 1000 lines"
	try proxy/group.c '1s|^.*$|#include <stdio.h>|' "a file without its opening line"
	try sink/unit.c '2a #include "proxy/client.h"' "sink/ including proxy/"
	try protocol/binval.c '2a #include <event2/buffer.h>' "protocol/ including libevent"
	try proxy/group.c 's|rq_ready(e);|e->ready = true;|' "an entry changed outside replyq.h"
	try proxy/txn.c 's|rq_set_late_mode(&t->c->rq,|t->c->rq.late_mode = (|' "the queue changed outside replyq.h"
	try proxy/direct.c 's|if (!client_has_backend(c)) {|if (c->be == NULL) {|' "an interception module reading c->be"
	try proxy/intercept.c 's|client_release_all(arg, HOLD_ROOM);|for (struct client *c = ((struct daemon *)arg)->clients; c; c = c->next) client_release(c, HOLD_ROOM);|' "an interception module walking the sessions"
	try proxy/client.c 's|isess_forward_woken(c)|c->is.waiting_forward|' "the core reading the interception state"
	try proxy/extq.c '2a #include "proxy/backend.h"' "an interception module including backend.h"
	try proxy/client.c 's|#include "proxy/isess.h"|#include "proxy/isess.h"\n#include "proxy/txn.h"|' "the core calling a module past the hooks"
	try proxy/txn.c 's|pkt_put_bytes(out, t->error.data, t->error.len);|client_put(c, t->error.data, t->error.len);|' "an answer written past the reply queue"
	echo "structure self-test: $caught of 12 breaks caught"
	[ "$caught" -eq 12 ]
	exit $?
fi

check "$ROOT" || exit 1
echo "structure: ok"
