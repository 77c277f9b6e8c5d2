/* Group commit's gather: the clients an idle batch answers come back together; the table's next idle batch may wait for them, while that is measured to write more. */
#include "sink/internal.h"

/*
 * With ackmode=commit a client sends its next INSERT only once its last one
 * is answered. The clients of an idle batch are answered together when it
 * settles and come back one after the other. Flushed at once, the first row
 * back goes alone and the others queue behind it for a whole batch: at 16
 * clients, batches of 1 and 15 rows in turn, two transactions a round where
 * one would do. Waiting for all of them (the table's next idle batch waits
 * until the sessions its idle batches answered have placed a unit again, or
 * for at most the time a batch takes) makes one, but leaves the server idle
 * while they come back, and which costs more depends on the machine and the
 * load (16 clients on this 2-core machine: waiting is 10-30% faster; 64:
 * 25% slower, their coming back overlapping the other batch pays more). So
 * it is measured: in epochs of GATHER_EPOCH_US, the rows the table's idle
 * batches write per second with and without the wait, every
 * GATHER_PROBE-th epoch the other way round, and the wait is kept while it
 * writes more (by 2%, moving averages).
 */
#define GATHER_MAX_US 2000
#define GATHER_EPOCH_US 100000
#define GATHER_PROBE 8

/* An idle batch of the table wrote n rows: the epoch's count; at its end,
 * the way of the next one. */
static void epoch(struct stable *tab, uint64_t n, int64_t now)
{
	int64_t took = now - tab->gather_epoch_us;
	double rate, *avg;
	bool best;

	tab->gather_rows += n;
	if (tab->gather_epoch_us == 0 || took < GATHER_EPOCH_US) {
		if (tab->gather_epoch_us == 0)
			tab->gather_epoch_us = now;
		return;
	}
	rate = (double)tab->gather_rows * 1e6 / (double)took;
	avg = &tab->gather_rate[tab->gather_on];
	*avg = *avg == 0 ? rate : *avg + (rate - *avg) / 4;
	best = tab->gather_rate[1] > tab->gather_rate[0] * 1.02;
	tab->gather_on = ++tab->gather_epochs % GATHER_PROBE == 0 ? !best : best;
	tab->gather_rows = 0;
	tab->gather_epoch_us = now;
}

static void gather_expire(struct stable *tab)
{
	tab->gather_expect = 0;
	tab->gather_gen++;
}

void gather_batch_done(struct sink *s, const struct batch *b)
{
	int64_t now = 0, took = 0, until;
	size_t i;
	int t;

	if (b->idle_tabs == NULL)
		return;
	for (i = 0; i < b->nunits; i++) {
		struct sink_unit *u = b->units[i];
		struct sink_session *ss = u->ss;
		struct stable *tab;

		/* (a session with later units placed already is not waited for) */
		if (u->ack != ACK_COMMIT || u->nstmts == 0 || ss == NULL || ss->closed || ss->last != u)
			continue;
		tab = u->stmts[0].tab;
		if (tab->idx >= b->nidle_tabs || !b->idle_tabs[tab->idx])
			continue;
		if (now == 0) {
			now = sink_now_us();
			took = now - b->start_us;
		}
		if (tab->gather_expect > 0 && now >= tab->gather_until_us)
			gather_expire(tab);
		(void)gather_arrived(s, ss);   /* (expected already: once) */
		ss->gather_tab = tab;
		ss->gather_gen = tab->gather_gen;
		tab->gather_expect++;
		until = now + (took < GATHER_MAX_US ? took : GATHER_MAX_US);
		if (tab->gather_expect == 1 || until > tab->gather_until_us)
			tab->gather_until_us = until;
	}
	if (now == 0)
		return;
	for (t = 0; t < b->nidle_tabs && t < s->ntables; t++) {
		uint64_t rows = 0;

		if (!b->idle_tabs[t])
			continue;
		for (i = 0; i < b->n; i++)      /* (its own rows: a batch may hold several tables) */
			rows += b->rows[i]->u->stmts[b->rows[i]->stmt].tab == s->tables[t];
		epoch(s->tables[t], rows, now);
	}
}

bool gather_arrived(struct sink *s, struct sink_session *ss)
{
	struct stable *tab = ss->gather_tab;

	(void)s;
	if (tab == NULL)
		return false;
	ss->gather_tab = NULL;
	return ss->gather_gen == tab->gather_gen && tab->gather_expect > 0 && --tab->gather_expect == 0;
}

bool gather_pending(struct stable *tab)
{
	if (tab->gather_expect <= 0 || tab->conf.gatherwait == GATHER_OFF ||
	    (tab->conf.gatherwait == GATHER_AUTO && !tab->gather_on))
		return false;
	if (sink_now_us() >= tab->gather_until_us) {
		gather_expire(tab);     /* those not back by now are not waited for */
		return false;
	}
	return true;
}

bool gather_holds(const struct sink_unit *h, int64_t *until_us)
{
	struct stable *tab = h->stmts[0].tab;

	if (h->ack != ACK_COMMIT || !gather_pending(tab))
		return false;
	*until_us = tab->gather_until_us;
	return true;
}
