#!/bin/sh
# The seams of the source tree, checked (make check-structure, part of make test):
#   1. no source file over 1000 lines, each opening with the one line that says
#      what it owns;
#   2. protocol/ has no sockets, no libevent and no knowledge of the rest; sink/
#      never includes proxy/;
#   3. a reply-queue entry is changed only through proxy/replyq.h, and the
#      interception modules answer the client only through the queue;
#   4. the session seam: every proxy module includes proxy/seam.h last, on its
#      side, which makes the other side's fields a compile error (the
#      interception modules cannot name a session's backend, socket, holds,
#      login or the daemon's session list; the core cannot name c->is); the
#      core calls interception through isess.h and intercept.h only.
# --self-test copies the tree, breaks each rule once (the seam's breaks are
# compiled: they must not build) and expects every break caught.
set -u

cd "$(dirname "$0")/.." || exit 1

INTERCEPTION="absorb clause copyin direct extq group intercept isess pstmt txn view"
CORE="ccmd client clogin backend console cshow daemon listen logincache login metrics sock tls"
NEITHER="csql main replyq"
CFLAGS_SYNTAX="-std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -fsyntax-only -I/usr/include/postgresql"

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

	bad=$(grep -lE '#include *["<](proxy/|sink/|event2/|sys/socket|netinet/|arpa/)' "$root"/protocol/*.[ch])
	[ -z "$bad" ] || fail "protocol/ includes sockets, libevent, proxy/ or sink/: $bad"
	bad=$(grep -lE '#include *["<]proxy/' "$root"/sink/*.[ch])
	[ -z "$bad" ] || fail "sink/ includes proxy/: $bad"

	# 3. an entry's own fields are assigned in replyq.c / replyq.h only,
	#    whatever the variable is called
	for f in "$root"/proxy/*.c "$root"/proxy/*.h; do
		case $f in */replyq.c | */replyq.h) continue ;; esac
		hits=$(grep -nE -- "->(ready|capture|notices|relay_error|cancelled|muted|skipped|late|own|owner)\b *([-+|&]?=[^=]|\+\+|--)|&[][a-z_>.-]*->own\b|\brq\.(head|tail|late_mode|skipping|nskipped|n)\b *=[^=]|\brq\.(head|tail)->[a-z_]+ *([-+|&]?=[^=]|\+\+|--)" "$f")
		[ -z "$hits" ] || fail "${f#"$root"/} changes the reply queue outside replyq.h: $hits"
	done

	# 4. the seam
	for f in "$root"/proxy/*.c; do
		m=$(basename "$f" .c)
		side=""
		case " $INTERCEPTION " in *" $m "*) side=SEAM_INTERCEPTION ;; esac
		case " $CORE " in *" $m "*) side=SEAM_CORE ;; esac
		case " $NEITHER " in *" $m "*) continue ;; esac
		[ -n "$side" ] || { fail "proxy/$m.c is on no side of the seam: add it to scripts/structure.sh"; continue; }
		last=$(grep -E '^#include' "$f" | tail -n 1)
		[ "$last" = '#include "proxy/seam.h"' ] && grep -q "^#define $side\$" "$f" ||
			fail "proxy/$m.c does not include proxy/seam.h last with $side defined"
		if [ $side = SEAM_INTERCEPTION ]; then
			bad=$(grep -nE '\bclient_(put|output)\(' "$f" || true)
			[ -z "$bad" ] || fail "proxy/$m.c answers the client past the reply queue: $bad"
			bad=$(grep -nE '#include *["<]proxy/(backend|sock|clogin|login|listen)\.h' "$f" || true)
			[ -z "$bad" ] || fail "proxy/$m.c includes the session core's headers: $bad"
		else
			bad=$(grep -nE '#include *["<]proxy/(absorb|clause|direct|extq|group|pending|pstmt|txn|view)\.h' "$f" || true)
			[ -z "$bad" ] || fail "proxy/$m.c calls interception past isess.h and intercept.h: $bad"
		fi
	done
	return $fails
}

if [ "${1:-}" = --self-test ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	caught=0
	tries=0
	fresh() {
		rm -rf "$tmp/t"
		mkdir -p "$tmp/t"
		cp -r common protocol conf sink proxy "$tmp/t/"
	}
	# try FILE SED WHAT: the break must fail the check
	try() {
		tries=$((tries + 1))
		fresh
		sed -i "$2" "$tmp/t/$1"
		if cmp -s "$1" "$tmp/t/$1"; then
			echo "structure self-test: the break did not apply (update it): $3" >&2
		elif check "$tmp/t" 2> "$tmp/err"; then
			echo "structure self-test: not caught: $3" >&2
		else
			echo "structure self-test: caught $3: $(head -n 1 "$tmp/err" | cut -c1-110)"
			caught=$((caught + 1))
		fi
	}
	# try_cc FILE SED WHAT: the file builds as it is and must not build broken
	try_cc() {
		tries=$((tries + 1))
		fresh
		# shellcheck disable=SC2086
		if ! cc $CFLAGS_SYNTAX -I"$tmp/t" "$tmp/t/$1" 2> "$tmp/err"; then
			echo "structure self-test: $1 does not build as it is: $(head -n 1 "$tmp/err")" >&2
			return
		fi
		sed -i "$2" "$tmp/t/$1"
		# shellcheck disable=SC2086
		if cmp -s "$1" "$tmp/t/$1"; then
			echo "structure self-test: the break did not apply (update it): $3" >&2
		elif cc $CFLAGS_SYNTAX -I"$tmp/t" "$tmp/t/$1" 2> "$tmp/err"; then
			echo "structure self-test: not caught (it builds): $3" >&2
		else
			echo "structure self-test: caught $3: $(grep -m1 'error' "$tmp/err" | cut -c1-110)"
			caught=$((caught + 1))
		fi
	}
	check . || { echo "structure self-test: the tree itself fails" >&2; exit 1; }
	seq 1 1000 | sed 's|^|/* filler */|' > "$tmp/filler"
	try proxy/direct.c "\$r $tmp/filler" "a file over 1000 lines"
	try proxy/group.c '1s|^.*$|#include <stdio.h>|' "a file without its opening line"
	try sink/unit.c '2a #include <proxy/client.h>' "sink/ including proxy/"
	try protocol/binval.c '2a #include <event2/buffer.h>' "protocol/ including libevent"
	try proxy/group.c 's|rq_ready(e);|e->ready = true;|' "an entry changed outside replyq.h"
	try proxy/group.c 's|rq_ready(h->entry);|{ struct rq_entry *first = h->entry; first->ready = true; }|' \
		"an entry changed under another name"
	try proxy/txn.c 's|rq_set_late_mode(&t->c->rq,|t->c->rq.late_mode = (|' "the queue changed outside replyq.h"
	try proxy/txn.c 's|rq_set_late_mode(&t->c->rq,|t->c->rq.head->late = (|' "an entry changed through the queue's head"
	try proxy/txn.c 's|pkt_put_bytes(out, t->error.data, t->error.len);|client_put(c, t->error.data, t->error.len);|' \
		"an answer written past the reply queue"
	try proxy/extq.c '2a #include <proxy/backend.h>' "an interception module including backend.h"
	try proxy/client.c 's|#include "proxy/isess.h"|#include "proxy/isess.h"\n#include <proxy/txn.h>|' \
		"the core calling a module past the hooks"
	try proxy/view.c '/^#include "proxy\/seam.h"/d' "an interception module without the seam"
	try_cc proxy/direct.c 's|if (!client_has_backend(c)) {|struct client *cl = c; if (cl->be == NULL) {|' \
		"an interception module reading a session's backend"
	try_cc proxy/intercept.c 's|client_release_all(arg, HOLD_ROOM);|for (struct client *o = ((struct daemon *)arg)->clients; o; o = o->next) client_release(o, HOLD_ROOM);|' \
		"an interception module walking the sessions"
	try_cc proxy/client.c 's|if (isess_forward_woken(c))|struct isess *s = \&c->is; if (s->waiting_forward)|' \
		"the core reading the interception state"
	echo "structure self-test: $caught of $tries breaks caught"
	[ "$caught" -eq "$tries" ]
	exit $?
fi

check "${1:-.}" || exit 1
echo "structure: ok"
