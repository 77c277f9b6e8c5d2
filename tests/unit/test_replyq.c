/* Unit tests for proxy/replyq: answers matched to entries by type, errors up to Sync, own and skipped answers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/replyq.h"

static int cancels, skips, skip_errors, errors;

static void on_cancel(void *owner, struct rq_entry *e)
{
	(void)owner;
	assert_true(e->cancelled);
	cancels++;
}

static void on_skip_done(void *owner, struct rq_entry *e)
{
	(void)owner;
	skips++;
	skip_errors += e->error;
}

static int dones, done_errors;

static void on_done(void *arg, struct rq_entry *e)
{
	(void)arg;
	dones++;
	done_errors += e->error;
}

static void on_error(void *arg)
{
	(void)arg;
	errors++;
}

static void init(struct replyq *q)
{
	rq_init(q);
	q->on_cancel = on_cancel;
	q->on_skip_done = on_skip_done;
	q->on_error = on_error;
	q->on_done = on_done;
	cancels = skips = skip_errors = errors = dones = done_errors = 0;
}

/* Pushes one entry per character of spec: the frontend message type,
 * lower case for RQ_OWN, '!' before a type for RQ_SKIP. */
static void push(struct replyq *q, const char *spec, struct rq_entry **out)
{
	int n = 0;

	for (const char *p = spec; *p; p++) {
		enum rq_kind k = RQ_FORWARD;
		char c = *p;

		if (c == '!') {
			k = RQ_SKIP;
			c = *++p;
		} else if (c >= 'a' && c <= 'z') {
			k = RQ_OWN;
			c = (char)(c - 'a' + 'A');
		}
		out[n++] = rq_push(q, k, (uint8_t)c);
		assert_non_null(out[n - 1]);
	}
}

/* Feeds backend messages; returns their verdicts as text (R relay, D drop,
 * W wait), '.' after a message that ended an answer. */
static void feed(struct replyq *q, const char *types, const char *want)
{
	char got[128];
	size_t o = 0;
	uint8_t done;

	for (const char *t = types; *t; t++) {
		enum rq_verdict v = rq_backend(q, (uint8_t)*t, &done);

		got[o++] = v == RQV_RELAY ? 'R' : v == RQV_DROP ? 'D' : 'W';
		if (done)
			got[o++] = '.';
		if (v == RQV_WAIT)
			break;
	}
	got[o] = '\0';
	assert_string_equal(got, want);
}

static void test_simple_query(void **state)
{
	struct replyq q;
	struct rq_entry *e[4];

	(void)state;
	init(&q);
	push(&q, "QQ", e);
	/* RowDescription, DataRow, CommandComplete, a notice, ReadyForQuery */
	feed(&q, "TDCNZ", "RRRRR.");
	feed(&q, "IZ", "RR.");
	assert_true(rq_empty(&q));
	/* nothing owed: asynchronous messages and last words are relayed */
	feed(&q, "ANSE", "RRRR");
	rq_clear(&q);
}

static void test_extended(void **state)
{
	struct replyq q;
	struct rq_entry *e[8];

	(void)state;
	init(&q);
	push(&q, "PBDES", e);
	/* ParseComplete, BindComplete, ParameterDescription... no: a portal's
	 * RowDescription, DataRows, CommandComplete, ReadyForQuery */
	feed(&q, "12TDDCZ", "R.R.R.RRR.R.");
	push(&q, "PDS", e);
	/* a statement's Describe: ParameterDescription, then NoData */
	feed(&q, "1tnZ", "R.RR.R.");
	push(&q, "BEES", e);
	/* a portal run in two Executes: PortalSuspended, then the rest */
	feed(&q, "2DsDCZ", "R.RR.RR.R.");
	/* COPY FROM STDIN by Execute */
	push(&q, "BES", e);
	feed(&q, "2GCZ", "R.RR.R.");
	assert_true(rq_empty(&q));
	rq_clear(&q);
}

static void test_error_until_sync(void **state)
{
	struct replyq q;
	struct rq_entry *e[8];

	(void)state;
	init(&q);
	push(&q, "PBDESQ", e);
	/* the Bind fails: the Describe and Execute get nothing, Sync its Z */
	feed(&q, "1E", "R.R.");
	assert_int_equal(errors, 1);
	assert_int_equal(q.n, 2);
	feed(&q, "Z", "R.");
	feed(&q, "CZ", "RR.");
	assert_true(rq_empty(&q));
	/* an error in a simple Query does not end it: ReadyForQuery does */
	push(&q, "QS", e);
	feed(&q, "EZ", "RR.");
	assert_int_equal(errors, 1);
	feed(&q, "Z", "R.");
	rq_clear(&q);
}

static void test_own_answers(void **state)
{
	struct replyq q;
	struct rq_entry *e[8], *h;

	(void)state;
	init(&q);
	push(&q, "PbeS", e);
	feed(&q, "1Z", "R.W");
	assert_null(rq_own_head(&q));
	e[1]->ready = e[2]->ready = true;
	h = rq_own_head(&q);
	assert_ptr_equal(h, e[1]);
	rq_pop(&q);
	assert_ptr_equal(rq_own_head(&q), e[2]);
	rq_pop(&q);
	assert_null(rq_own_head(&q));
	feed(&q, "Z", "R.");
	assert_true(rq_empty(&q));
	rq_clear(&q);
}

static void test_backend_error_cancels_own(void **state)
{
	struct replyq q;
	struct rq_entry *e[8];

	(void)state;
	init(&q);
	push(&q, "PbedS", e);
	/* the Parse fails: our Bind, Execute and Describe are not answered */
	feed(&q, "E", "R.");
	assert_int_equal(cancels, 3);
	assert_true(e[1]->cancelled && e[2]->cancelled && e[3]->cancelled);
	for (int i = 1; i <= 3; i++) {
		assert_ptr_equal(rq_own_head(&q), e[i]);
		rq_pop(&q);
	}
	feed(&q, "Z", "R.");
	assert_true(rq_empty(&q));
	rq_clear(&q);
}

static void test_own_error_mutes(void **state)
{
	struct replyq q;
	struct rq_entry *e[8];

	(void)state;
	init(&q);
	push(&q, "beebDS", e);
	/* our first Execute fails: the second is cancelled, the backend's
	 * answer to the Describe that follows is not heard; Sync's Z is */
	e[0]->ready = e[1]->ready = true;
	rq_own_error(&q, e[1]);
	assert_int_equal(cancels, 2);
	assert_true(e[2]->cancelled && e[3]->cancelled && !e[4]->cancelled);
	for (int i = 0; i < 4; i++) {
		assert_ptr_equal(rq_own_head(&q), e[i]);
		rq_pop(&q);
	}
	feed(&q, "nZ", "D.R.");
	assert_true(rq_empty(&q));
	rq_clear(&q);
}

static void test_skip(void **state)
{
	struct replyq q;
	struct rq_entry *e[8];

	(void)state;
	init(&q);
	push(&q, "!QQ", e);
	/* our own statement's notice and answer are swallowed, its setting
	 * changes and notifications are the session's */
	feed(&q, "NCSAZ", "DDRRD.");
	assert_int_equal(skips, 1);
	assert_int_equal(skip_errors, 0);
	feed(&q, "CZ", "RR.");
	push(&q, "!Q!P!B!E!SS", e);
	feed(&q, "EZ", "DD.");
	assert_int_equal(skip_errors, 1);
	/* an injected extended message fails: the rest of our group goes */
	feed(&q, "1E", "D.D.");
	assert_int_equal(skips, 4);
	assert_int_equal(skip_errors, 2);
	feed(&q, "ZZ", "D.R.");
	assert_true(rq_empty(&q));
	rq_clear(&q);
}

static void test_answered(void **state)
{
	(void)state;
	for (const char *t = "QPBEDCSF"; *t; t++)
		assert_true(rq_answered((uint8_t)*t));
	for (const char *t = "HXdcf"; *t; t++)
		assert_false(rq_answered((uint8_t)*t));
}

/* Messages pgbatchd sends for itself behind answers of its own not yet made
 * (a probe in a held group) are answered at once: nothing the client sees moves. */
static void test_skip_behind_own(void **state)
{
	struct replyq q;
	struct rq_entry *e[8];

	(void)state;
	init(&q);
	push(&q, "pd!P!D!S", e);
	e[2]->capture = e[3]->capture = true;
	assert_ptr_equal(rq_target(&q, '1'), e[2]);
	feed(&q, "1tnZ", "D.DD.D.");
	assert_int_equal(skips, 3);
	assert_int_equal(dones, 2);
	assert_int_equal(q.n, 2);
	/* a ParameterStatus or notification still waits for the client's turn */
	push(&q, "!S", e);
	feed(&q, "S", "W");
	assert_null(rq_target(&q, 'S'));
	/* a FORWARD entry behind them keeps its place */
	rq_clear(&q);
	init(&q);
	push(&q, "pD!S", e);
	feed(&q, "t", "W");
	rq_clear(&q);
}

/* A held group (entries of ours) forwarded after pgbatchd sent a question of
 * its own (the view's) behind it: the question's answer comes first, and is
 * swallowed; the group's answers reach the client. Without the hoist the
 * question's RowDescription would be relayed as the group's Parse's answer. */
static void test_hoist_sent(void **state)
{
	struct replyq q;
	struct rq_entry *e[8];
	int i;

	(void)state;
	init(&q);
	push(&q, "pbes!Q", e);
	rq_hoist_sent(&q, e[0]);
	for (i = 0; i < 4; i++)
		rq_forward(&q, e[i]);
	assert_ptr_equal(q.head, e[4]);
	assert_ptr_equal(q.tail, e[3]);
	feed(&q, "TDCZ12CZ", "DDDD.R.R.R.R.");
	assert_int_equal(q.n, 0);
	/* a FORWARD entry stops it: what follows it was sent after it */
	init(&q);
	push(&q, "p!QB!Q", e);
	rq_hoist_sent(&q, e[0]);
	assert_ptr_equal(q.head, e[1]);
	assert_ptr_equal(e[1]->next, e[0]);
	assert_ptr_equal(e[0]->next, e[2]);
	assert_ptr_equal(e[2]->next, e[3]);
	assert_ptr_equal(q.tail, e[3]);
	rq_clear(&q);
}

/* A probe's Parse fails: its Describe is skipped by the backend, up to the
 * probe's own Sync; the client's entries around it are untouched. */
static void test_skip_behind_own_fails(void **state)
{
	struct replyq q;
	struct rq_entry *e[8];

	(void)state;
	init(&q);
	push(&q, "pb!P!D!Se", e);
	e[2]->capture = e[3]->capture = true;
	feed(&q, "EZ", "D.D.");
	assert_int_equal(errors, 1);
	assert_int_equal(dones, 2);
	assert_int_equal(done_errors, 2);
	assert_int_equal(cancels, 0);
	assert_int_equal(q.n, 3);
	assert_false(e[0]->cancelled || e[1]->cancelled || e[5]->cancelled);
	rq_clear(&q);
}

static void test_push_before(void **state)
{
	struct replyq q;
	struct rq_entry *e[4], *x;

	(void)state;
	init(&q);
	push(&q, "BE", e);
	x = rq_push_before(&q, e[0], RQ_SKIP, 'P');
	assert_ptr_equal(q.head, x);
	assert_ptr_equal(x->next, e[0]);
	x = rq_push_before(&q, e[1], RQ_SKIP, 'P');
	assert_ptr_equal(e[0]->next, x);
	assert_int_equal(q.n, 4);
	/* the backend answers in that order: P (swallowed), B, P (swallowed), E */
	feed(&q, "121C", "D.R.D.R.");
	rq_clear(&q);
}

/* Messages sent after an extended-protocol error and before a Sync are
 * discarded by the backend: their entries are done without an answer, and
 * the Sync's ReadyForQuery ends the wait. */
static void test_skipped_as_they_come(void **state)
{
	struct replyq q;
	struct rq_entry *e[8], *x[8];

	(void)state;
	init(&q);
	push(&q, "PBE", e);
	e[0]->capture = true;
	/* the Parse fails: its Bind and Execute never run; no Sync yet */
	feed(&q, "E", "R.");
	assert_int_equal(dones, 1);
	assert_true(rq_empty(&q));
	/* the next group's messages, a Query of ours: all discarded */
	push(&q, "PB!Q", x);
	x[0]->capture = x[2]->capture = true;
	assert_true(x[0]->skipped && x[1]->skipped && x[2]->skipped);
	push(&q, "S", x + 3);
	assert_false(x[3]->skipped);
	/* after the Sync the backend answers again */
	push(&q, "PS", x + 4);
	feed(&q, "Z", "R.");
	assert_int_equal(dones, 3);
	assert_int_equal(done_errors, 3);
	feed(&q, "1Z", "R.R.");
	assert_true(rq_empty(&q));
	rq_clear(&q);
}

/* An error skips everything up to the group's Sync, a Query in between too. */
static void test_error_skips_queries(void **state)
{
	struct replyq q;
	struct rq_entry *e[8];

	(void)state;
	init(&q);
	push(&q, "PQBSQ", e);
	feed(&q, "E", "R.");
	assert_int_equal(q.n, 2);
	feed(&q, "ZCZ", "R.RR.");
	assert_true(rq_empty(&q));
	rq_clear(&q);
}

static int lates;
static bool late_replaces;

static bool on_late(void *arg, struct rq_entry *e)
{
	(void)arg;
	(void)e;
	lates++;
	return late_replaces;
}

/* A late entry: its first ErrorResponse, CommandComplete or EmptyQueryResponse is offered once;
 * when the hook replaced it, it is dropped, the rest relayed. */
static void test_late(void **state)
{
	struct replyq q;
	struct rq_entry *e[8];

	(void)state;
	init(&q);
	q.on_late = on_late;
	lates = 0;
	late_replaces = true;
	q.late_mode = true;
	push(&q, "Q", e);
	q.late_mode = false;
	push(&q, "Q", e + 1);
	assert_true(e[0]->late && !e[1]->late);
	/* COMMIT of an aborted transaction: "ROLLBACK", replaced */
	feed(&q, "CZ", "DR.");
	assert_int_equal(lates, 1);
	/* not late: as it comes */
	feed(&q, "EZ", "RR.");
	assert_int_equal(lates, 1);
	/* the hook says no: relayed, and asked once only */
	late_replaces = false;
	q.late_mode = true;
	push(&q, "Q", e);
	feed(&q, "CCZ", "RRR.");
	assert_int_equal(lates, 2);
	/* an extended message: its error replaced, the rest up to Sync skipped */
	late_replaces = true;
	push(&q, "PBS", e);
	feed(&q, "EZ", "D.R.");
	assert_int_equal(lates, 3);
	/* an empty Query: its EmptyQueryResponse is the first answer */
	q.late_mode = true;
	push(&q, "Q", e);
	q.late_mode = false;
	feed(&q, "IZ", "DR.");
	assert_int_equal(lates, 4);
	assert_true(rq_empty(&q));
	rq_clear(&q);
}

/* A SKIP entry's notices reach the client when asked for, the rest of its
 * answer never does. */
static void test_skip_notices(void **state)
{
	struct replyq q;
	struct rq_entry *e[4];

	(void)state;
	init(&q);
	push(&q, "!Q!Q", e);
	e[0]->notices = true;
	feed(&q, "NCNEZ", "RDRDD.");
	feed(&q, "NCZ", "DDD.");
	rq_clear(&q);
}

static struct replyq *pumped;

/* An owner told its entry is done answers and pops the entries before it. */
static void pump_on_done(void *arg, struct rq_entry *e)
{
	struct rq_entry *h;

	(void)arg;
	(void)e;
	dones++;
	while ((h = pumped->head) != NULL && h->kind == RQ_OWN) {
		h->ready = true;
		rq_pop(pumped);
	}
}

static void test_done_hook_may_pop(void **state)
{
	struct replyq q;
	struct rq_entry *e[8];

	(void)state;
	init(&q);
	q.on_done = pump_on_done;
	pumped = &q;
	push(&q, "pbe!Q", e);
	e[3]->capture = true;
	/* our batch behind answers of our own not made yet: its end makes them */
	feed(&q, "CCZ", "DDD.");
	assert_int_equal(dones, 1);
	assert_true(rq_empty(&q));
	rq_clear(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_simple_query),
		cmocka_unit_test(test_extended),
		cmocka_unit_test(test_error_until_sync),
		cmocka_unit_test(test_own_answers),
		cmocka_unit_test(test_backend_error_cancels_own),
		cmocka_unit_test(test_own_error_mutes),
		cmocka_unit_test(test_skip),
		cmocka_unit_test(test_answered),
		cmocka_unit_test(test_skip_behind_own),
		cmocka_unit_test(test_hoist_sent),
		cmocka_unit_test(test_skip_behind_own_fails),
		cmocka_unit_test(test_push_before),
		cmocka_unit_test(test_skipped_as_they_come),
		cmocka_unit_test(test_error_skips_queries),
		cmocka_unit_test(test_late),
		cmocka_unit_test(test_skip_notices),
		cmocka_unit_test(test_done_hook_may_pop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
