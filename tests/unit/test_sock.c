/* proxy/sock.c output: the flat area of sock_put and the evbuffer of sock_output keep the order bytes were appended in, on a real socket pair and event loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/later.h"
#include "proxy/sock.h"

static void on_read(struct sock *s, void *arg)
{
	(void)s;
	(void)arg;
}

static void on_event(struct sock *s, enum sock_event ev, int err, void *arg)
{
	(void)s;
	(void)ev;
	(void)err;
	(void)arg;
}

static const struct sock_ops ops = { on_read, NULL, on_event };

struct pair {
	struct event_base *base;
	struct sock *s;
	int peer;
};

/* One loop for all: sock.c's flush (a later of its own) is made with the
 * first socket's base, as the daemon has one base for its life. */
static struct event_base *the_base;

static void pair_open(struct pair *p, int sndbuf)
{
	int fds[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	if (sndbuf > 0)
		assert_int_equal(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
	if (the_base == NULL)
		the_base = event_base_new();
	p->base = the_base;
	assert_non_null(p->base);
	p->s = sock_new(p->base, fds[0], &ops, NULL);
	assert_non_null(p->s);
	p->peer = fds[1];
	assert_int_equal(fcntl(p->peer, F_SETFL, O_NONBLOCK), 0);
}

static void pair_close(struct pair *p)
{
	sock_free(p->s);
	close(p->peer);
}

/* Reads what the peer has until want bytes came, running the loop between. */
static void expect(struct pair *p, const char *want, size_t n)
{
	char *got = malloc(n + 1);
	size_t have = 0;

	assert_non_null(got);
	for (int spins = 0; have < n && spins < 100000; spins++) {
		ssize_t k = read(p->peer, got + have, n - have);

		if (k > 0)
			have += (size_t)k;
		else
			(void)event_base_loop(p->base, EVLOOP_NONBLOCK);
	}
	assert_int_equal(have, n);
	assert_memory_equal(got, want, n);
	free(got);
}

/* Inside a callback (as the proxy appends), the bytes go out when it ends,
 * in the order appended, whichever way each was appended. */
static void test_order_kept(void **state)
{
	struct pair p;
	char big[6000], want[6100];
	size_t n = 0;

	(void)state;
	pair_open(&p, 0);
	memset(big, 'b', sizeof(big));
	later_enter();
	sock_put(p.s, "A", 1);                          /* flat */
	assert_int_equal(sock_output_len(p.s), 1);
	evbuffer_add(sock_output(p.s), "B", 1);         /* after it */
	sock_put(p.s, "C", 1);                          /* behind the evbuffer's */
	assert_int_equal(sock_output_len(p.s), 3);
	later_leave();
	expect(&p, "ABC", 3);
	assert_int_equal(sock_output_len(p.s), 0);

	later_enter();
	struct evbuffer *held = sock_output(p.s);       /* taken, nothing in it yet */
	sock_put(p.s, "x", 1);                          /* flat, first */
	evbuffer_add(held, "y", 1);                     /* then the evbuffer's */
	sock_put(p.s, big, sizeof(big));                /* too large to be flat */
	sock_put(p.s, "z", 1);
	later_leave();
	memcpy(want + n, "xy", 2), n += 2;
	memcpy(want + n, big, sizeof(big)), n += sizeof(big);
	want[n++] = 'z';
	expect(&p, want, n);
	pair_close(&p);
}

/* A peer that does not read: the kernel takes part of the flat bytes, the
 * rest waits in the evbuffer for writability, and later appends queue
 * behind it; all arrive in order once the peer reads. */
static void test_partial_send(void **state)
{
	struct pair p;
	enum { CHUNK = 4000, ROUNDS = 200 };
	char *want = malloc((size_t)CHUNK * ROUNDS);
	char chunk[CHUNK];

	(void)state;
	assert_non_null(want);
	pair_open(&p, 4096);
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < CHUNK; i++)
			chunk[i] = (char)('a' + (r * 7 + i) % 26);
		memcpy(want + (size_t)r * CHUNK, chunk, CHUNK);
		later_enter();
		sock_put(p.s, chunk, CHUNK);
		later_leave();
	}
	assert_true(sock_output_len(p.s) > 0);          /* the kernel did not take it all */
	expect(&p, want, (size_t)CHUNK * ROUNDS);
	assert_int_equal(sock_output_len(p.s), 0);
	free(want);
	pair_close(&p);
}

/* Outside a callback the flush runs from the loop. */
static void test_from_loop(void **state)
{
	struct pair p;

	(void)state;
	pair_open(&p, 0);
	sock_put(p.s, "hello", 5);
	expect(&p, "hello", 5);
	pair_close(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_kept),
		cmocka_unit_test(test_partial_send),
		cmocka_unit_test(test_from_loop),
	};

	int rc = cmocka_run_group_tests(tests, NULL, NULL);

	/* (the base stays: sock.c's flush is bound to it for the process) */
	return rc;
}
