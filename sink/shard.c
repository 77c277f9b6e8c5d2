/* Shard buffers: one per table and writer, the flush policy, and batches taken from them and settled. */
#include "sink/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "proxy/log.h"

/* ---- memory accounting ---- */

void charge(struct sink *s, int64_t bytes)
{
	s->buffered_bytes += bytes;
	if (!s->full && s->buffered_bytes > s->max_buffer_bytes) {
		/* full: every buffer is flushed, whatever its own triggers say */
		s->full = true;
		for (int i = 0; i < s->nwriters; i++)
			writer_kick(s->writers[i]);
	} else if (s->full && s->buffered_bytes <= s->max_buffer_bytes) {
		s->full = false;
		s->room_due = true;
		schedule_notify(s);
	}
}

void srow_release(struct srow *r)
{
	if (r->key_owned)
		free((void *)r->key);
	tcat_unref(r->cat);
	free(r);
}

void row_free(struct sink *s, struct srow *r)
{
	charge(s, -(int64_t)r->bytes);
	srow_release(r);
}

/* ---- shards and flushing ---- */

static void arm_timer(struct shard *sh, int64_t now)
{
	struct stable *tab = sh->tab;
	int64_t due;
	struct timeval tv;

	if (sh->head == NULL) {
		evtimer_del(sh->timer);
		sh->age_due = false;
		return;
	}
	due = sh->head->arrival_ms + tab->conf.batchwritetimeoutms - now;
	if (due <= 0) {
		evtimer_del(sh->timer);
		sh->age_due = true;
		return;
	}
	sh->age_due = false;
	tv.tv_sec = due / 1000;
	tv.tv_usec = (due % 1000) * 1000;
	evtimer_add(sh->timer, &tv);
}

void shard_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct shard *sh = arg;

	(void)fd;
	(void)what;
	sh->age_due = true;
	writer_kick(sh->tab->s->writers[sh->idx]);
}

void shard_append(struct shard *sh, struct srow *r)
{
	bool was_empty = sh->head == NULL;

	r->next = NULL;
	if (sh->tail)
		sh->tail->next = r;
	else
		sh->head = r;
	sh->tail = r;
	sh->count++;
	if (was_empty)
		arm_timer(sh, r->arrival_ms);
}

void shard_barrier(struct shard *sh)
{
	if (sh->tail == NULL)
		return;
	sh->barrier = true;
	if (sh->tail->seq > sh->barrier_seq)
		sh->barrier_seq = sh->tail->seq;
	writer_kick(sh->tab->s->writers[sh->idx]);
}

/* Why this shard should be flushed now, or -1. */
static int shard_ready(const struct sink *s, const struct shard *sh)
{
	const struct table_conf *c = &sh->tab->conf;

	if (sh->count == 0)
		return -1;
	if (sh->count >= (size_t)c->batchsize)
		return FLUSH_BATCHSIZE;
	if (sh->barrier && sh->head->seq <= sh->barrier_seq)
		return FLUSH_BARRIER;
	if (s->draining || sh->tab->removed)
		return FLUSH_SHUTDOWN;
	if (s->full)
		return FLUSH_FULL;
	if (sh->age_due)
		return FLUSH_AGE;
	/* An idle writer takes what it has at once when a client waits for the
	 * commit (ackmode=commit). Rows acknowledged already (ackmode=immediate)
	 * go one idle batch of the table at a time: rows arriving meanwhile wait
	 * for it and go together in the next one, so a fast client's rows make
	 * few large transactions rather than one each. */
	if (c->adaptiveflush && (sh->head->ticket->ack == ACK_COMMIT || sh->tab->idle_inflight == 0))
		return FLUSH_IDLE;
	return -1;
}

static void batch_free(struct batch *b)
{
	size_t i;

	if (b->err)
		for (i = 0; i < b->n; i++)
			berr_unref(b->err[i]);
	key_reduction_free(&b->red);
	tcat_unref(b->cat);
	free(b->rows);
	free(b->outcome);
	free(b->err);
	free(b);
}

struct batch *sink_take_batch(struct sink *s, int widx)
{
	struct writer *w = s->writers[widx];
	struct stable *tab = NULL;
	struct shard *sh = NULL;
	struct batch *b;
	struct srow *r;
	size_t n, max;
	int i, reason = -1;
	uint32_t start;

	(void)w;
	if (s->ntables == 0)
		return NULL;
	start = s->take_rr++;
	for (i = 0; i < s->ntables && reason < 0; i++) {
		tab = s->tables[(start + (uint32_t)i) % (uint32_t)s->ntables];
		sh = &tab->shards[widx];
		reason = shard_ready(s, sh);
	}
	if (reason < 0)
		return NULL;
	b = calloc(1, sizeof(*b));
	max = (size_t)tab->conf.batchsize;
	if (max > sh->count)
		max = sh->count;
	if (b) {
		b->rows = calloc(max, sizeof(*b->rows));
		b->outcome = calloc(max, 1);
		b->err = calloc(max, sizeof(*b->err));
	}
	if (b == NULL || !b->rows || !b->outcome || !b->err) {
		if (b) {
			free(b->rows);
			free(b->outcome);
			free(b->err);
			free(b);
		}
		log_error(SINK_PREFIX, "out of memory taking a batch of table %s", tab->conf.name);
		return NULL;
	}
	b->tab = tab;
	b->cat = tcat_ref(sh->head->cat);
	b->widx = widx;
	b->reason = (enum flush_reason)reason;
	b->mode = tab->conf.conflictmode;
	b->wmode = tab->conf.writemode;
	b->verbose = tab->conf.verbose;
	b->immediate = true;
	b->start_ms = sink_now_ms();
	for (n = 0; n < max && sh->head && sh->head->cat == b->cat; n++) {
		r = sh->head;
		sh->head = r->next;
		if (sh->head == NULL)
			sh->tail = NULL;
		sh->count--;
		r->next = NULL;
		b->rows[n] = r;
		if (r->ticket->ack != ACK_IMMEDIATE)
			b->immediate = false;
		if (r->ticket->shard_rows[widx] > 0)
			r->ticket->shard_rows[widx]--;
	}
	b->n = n;
	if (sh->barrier && (sh->head == NULL || sh->head->seq > sh->barrier_seq))
		sh->barrier = false;
	arm_timer(sh, b->start_ms);
	if (b->reason == FLUSH_IDLE)
		tab->idle_inflight++;
	s->st.flush[b->reason]++;
	s->st.batches++;
	return b;
}

/* A value for a log line: quoted, control characters escaped, so one event
 * stays one line. */
static void log_value(struct buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char c;
	size_t i;

	buf_puts(b, "E'");
	for (i = 0; i < n; i++) {
		c = (unsigned char)s[i];
		if (c == '\'' || c == '\\') {
			buf_putc(b, '\\');
			buf_putc(b, (char)c);
		} else if (c == '\n') {
			buf_puts(b, "\\n");
		} else if (c == '\r') {
			buf_puts(b, "\\r");
		} else if (c == '\t') {
			buf_puts(b, "\\t");
		} else if (c < 0x20 || c == 0x7f) {
			buf_puts(b, "\\x");
			buf_putc(b, hex[c >> 4]);
			buf_putc(b, hex[c & 15]);
		} else {
			buf_putc(b, (char)c);
		}
	}
	buf_putc(b, '\'');
}

/* Logs a failed row of an ackmode=immediate ticket: nobody else will hear of it. */
static void log_failed_row(const struct batch *b, const struct srow *r, const struct berr *e)
{
	struct buf line;
	int i;

	buf_init(&line);
	for (i = 0; i < b->cat->t.ncols; i++) {
		const struct sg_val *v = &r->vals[i];

		buf_printf(&line, "%s%s=", i ? ", " : "", b->cat->t.cols[i].name);
		if (v->state == SG_VALUE)
			log_value(&line, v->text, v->len);
		else
			buf_puts(&line, v->state == SG_NULL ? "NULL" : "DEFAULT");
	}
	log_error(r->ticket->prefix, "row not written: table=%s.%s sqlstate=%s message=%s row=(%s)",
		  b->tab->conf.targetschema, b->tab->conf.name, e ? e->sqlstate : "XX000",
		  e ? e->message : "unknown error", buf_ok(&line) ? line.data : "?");
	buf_free(&line);
}

void sink_batch_discard(struct sink *s, struct batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		if (b->rows[i])
			row_free(s, b->rows[i]);
	batch_free(b);
}

void sink_table_stale(struct stable *tab)
{
	tab->stale = true;
}

void sink_batch_done(struct sink *s, struct batch *b)
{
	struct sink_ticket *t;
	struct srow *r;
	size_t i, failed = 0;

	for (i = 0; i < b->n; i++) {
		r = b->rows[i];
		t = r->ticket;
		if (b->outcome[i] == ROW_OK) {
			s->st.rows_written++;
		} else {
			failed++;
			s->st.rows_failed++;
			if (t->ack == ACK_IMMEDIATE)
				log_failed_row(b, r, b->err[i]);
			ticket_error(t, b->err[i] ? b->err[i]->sqlstate : "XX000",
				     b->err[i] ? b->err[i]->message : "row not written",
				     b->err[i] ? b->err[i]->detail : NULL,
				     b->err[i] ? b->err[i]->hint : NULL);
		}
	}
	if (failed)
		s->st.batches_failed++;
	s->st.rows_merged += b->n - (b->red.n ? b->red.n : b->n);
	if (b->verbose)
		log_info(SINK_PREFIX, "flush table=%s.%s writer=%d reason=%s rows=%zu ms=%lld merged=%zu failed=%zu attempts=%d",
			 b->tab->conf.targetschema, b->tab->conf.name, b->widx, flush_reason_name(b->reason),
			 b->n, (long long)(sink_now_ms() - b->start_ms), b->n - (b->red.n ? b->red.n : b->n),
			 failed, b->attempts);
	else
		log_debug(SINK_PREFIX, "flush table=%s.%s writer=%d reason=%s rows=%zu ms=%lld merged=%zu failed=%zu attempts=%d",
			  b->tab->conf.targetschema, b->tab->conf.name, b->widx, flush_reason_name(b->reason),
			  b->n, (long long)(sink_now_ms() - b->start_ms), b->n - (b->red.n ? b->red.n : b->n),
			  failed, b->attempts);
	for (i = 0; i < b->n; i++) {
		r = b->rows[i];
		t = r->ticket;
		b->rows[i] = NULL;
		row_free(s, r);
		ticket_row_settled(t);
	}
	if (b->reason == FLUSH_IDLE && --b->tab->idle_inflight == 0)
		for (i = 0; i < (size_t)s->nwriters; i++)
			writer_kick(s->writers[i]);   /* the next idle flush may go */
	batch_free(b);
	if (s->draining)
		schedule_notify(s);
}

