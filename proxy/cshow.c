/* The console's SHOW commands: their columns and rows, written as RowDescription / DataRow / CommandComplete in text or binary format. */
#include "proxy/cshow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/version.h"
#include "conf/config.h"
#include "proxy/client.h"
#include "proxy/console.h"
#include "proxy/daemon.h"
#include "proxy/intercept.h"
#include "proxy/sock.h"
#include "sink/sink.h"
#include "sink/stats.h"

#define SEAM_CORE
#include "proxy/seam.h"

/* The format of column i (0 text, 1 binary), as the portal's Bind asked. */
static int format_of(const struct cout *k, int i)
{
	if (!k->fmt_on || k->nfmt == 0)
		return 0;
	return k->nfmt == 1 ? k->fmt[0] : i < k->nfmt && i < COUT_MAX_COLS ? k->fmt[i] : 0;
}

void cout_columns(struct cout *k, const struct ccol *cols, int n, int mode)
{
	k->ncols = n < COUT_MAX_COLS ? n : COUT_MAX_COLS;
	if (k->fmt_on && k->nfmt > 1 && k->nfmt != n) {
		k->fmt_bad = true;      /* (the caller says so, as PostgreSQL does) */
		k->fmt_cols = n;
	}
	for (int i = 0; i < k->ncols; i++)
		k->oids[i] = cols[i].oid;
	if (!(mode & OUT_DESC))
		return;
	pkt_begin(&k->pb, 'T');
	pkt_put_u16(&k->pb, (uint16_t)n);
	for (int i = 0; i < n; i++) {
		pkt_put_cstring(&k->pb, cols[i].name);
		pkt_put_u32(&k->pb, 0);
		pkt_put_u16(&k->pb, 0);
		pkt_put_u32(&k->pb, cols[i].oid);
		pkt_put_u16(&k->pb, cols[i].oid == OID_TEXT ? 0xFFFF : cols[i].oid == OID_BOOL ? 1 : 8);
		pkt_put_u32(&k->pb, 0xFFFFFFFFu);
		pkt_put_u16(&k->pb, (uint16_t)format_of(k, i));
	}
	pkt_end(&k->pb);
}

void cout_row_begin(struct cout *k, int n)
{
	k->col = 0;
	pkt_begin(&k->pb, 'D');
	pkt_put_u16(&k->pb, (uint16_t)n);
}

void cout_cell(struct cout *k, const char *s)
{
	int i = k->col++;

	if (s == NULL) {
		pkt_put_u32(&k->pb, 0xFFFFFFFFu);
		return;
	}
	if (i < k->ncols && format_of(k, i) == 1 && k->oids[i] != OID_TEXT) {
		/* binary: int8 and float8 big-endian, bool one byte */
		uint64_t bits;

		if (k->oids[i] == OID_BOOL) {
			pkt_put_u32(&k->pb, 1);
			pkt_put_u8(&k->pb, s[0] == 't');
			return;
		}
		if (k->oids[i] == OID_FLOAT8) {
			double v = strtod(s, NULL);

			memcpy(&bits, &v, sizeof(bits));
		} else {
			bits = (uint64_t)strtoll(s, NULL, 10);
		}
		pkt_put_u32(&k->pb, 8);
		pkt_put_u32(&k->pb, (uint32_t)(bits >> 32));
		pkt_put_u32(&k->pb, (uint32_t)bits);
		return;
	}
	pkt_put_u32(&k->pb, (uint32_t)strlen(s));
	pkt_put_bytes(&k->pb, s, strlen(s));
}

void cout_u64(struct cout *k, uint64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%llu", (unsigned long long)v);
	cout_cell(k, b);
}

void cout_i64(struct cout *k, int64_t v)
{
	char b[24];

	snprintf(b, sizeof(b), "%lld", (long long)v);
	cout_cell(k, b);
}

void cout_f(struct cout *k, double v)
{
	char b[40];

	snprintf(b, sizeof(b), "%.3f", v);
	cout_cell(k, b);
}

void cout_bool(struct cout *k, bool v)
{
	cout_cell(k, v ? "t" : "f");
}

void cout_row_end(struct cout *k)
{
	pkt_end(&k->pb);
}

void cout_complete(struct cout *k, const char *tag, int mode)
{
	if (mode & OUT_ROWS)
		pkt_command_complete(&k->pb, tag);
}

void cout_complete_rows(struct cout *k, const char *verb, uint64_t n, int mode)
{
	char tag[48];

	snprintf(tag, sizeof(tag), "%s %llu", verb, (unsigned long long)n);
	cout_complete(k, tag, mode);
}

int cout_fail(struct cout *k, const char *sqlstate, const char *message, const char *hint)
{
	pkt_error(&k->pb, "ERROR", sqlstate, message, NULL, hint);
	return RUN_ERROR;
}

/* ------------------------------------------------------------------ SHOW -- */

int cshow_version(struct daemon *d, struct cout *k, int mode)
{
	(void)d;
	static const struct ccol cols[] = { { "version", OID_TEXT } };

	cout_columns(k, cols, 1, mode);
	if (mode & OUT_ROWS) {
		cout_row_begin(k, 1);
		cout_cell(k, "pgbatchd " PGBATCHD_VERSION);
		cout_row_end(k);
	}
	cout_complete_rows(k, "SHOW", 1, mode);
	return RUN_OK;
}

static struct stat_sample sample_now(const struct sink_stats *st);

/* Per second since the older kept sample (cshow_sample): between 15 and 30 s
 * ago for a console asked at least every 15 s, since start-up otherwise. */
static double rate(const struct daemon *d, const struct stat_sample *now, int what)
{
	const struct stat_sample *a = &d->samples[0];
	double secs = (double)(now->ms - a->ms) / 1000.0;

	if (secs <= 0)
		return 0;
	return (double)(what == 0 ? now->rows_in - a->rows_in : what == 1 ? now->rows_written - a->rows_written :
			now->batches - a->batches) / secs;
}

int cshow_stats(struct daemon *d, struct cout *k, int mode)
{
	static const struct ccol cols[] = {
		{ "sessions", OID_INT8 }, { "intercepted_messages", OID_INT8 }, { "intercepted_rows", OID_INT8 },
		{ "passthrough_inserts", OID_INT8 }, { "rows_in", OID_INT8 }, { "rows_written", OID_INT8 },
		{ "rows_skipped", OID_INT8 }, { "rows_rejected", OID_INT8 }, { "batches", OID_INT8 },
		{ "batches_failed", OID_INT8 }, { "retries", OID_INT8 }, { "buffered_rows", OID_INT8 },
		{ "buffered_bytes", OID_INT8 }, { "avg_rows_per_batch", OID_FLOAT8 },
		{ "rows_in_per_sec", OID_FLOAT8 }, { "rows_written_per_sec", OID_FLOAT8 },
		{ "batches_per_sec", OID_FLOAT8 }, { "uptime_seconds", OID_INT8 },
	};
	const int n = (int)(sizeof(cols) / sizeof(cols[0]));
	struct sink_stats st;
	struct stat_sample now;
	uint64_t pass = 0;

	cout_columns(k, cols, n, mode);
	if (mode & OUT_ROWS) {
		memset(&st, 0, sizeof(st));
		if (d->sink && !sink_stats_take(d->sink, &st))
			return cout_fail(k, "53200", "out of memory", NULL);
		cshow_sample(d, &st);
		now = sample_now(&st);
		for (int i = 1; i < PASS_SLOTS; i++)
			pass += d->istats.passthrough[i];
		cout_row_begin(k, n);
		cout_i64(k, d->nsessions);
		cout_u64(k, d->istats.messages);
		cout_u64(k, d->istats.rows);
		cout_u64(k, pass);
		cout_u64(k, st.rows_in);
		cout_u64(k, st.rows_written);
		cout_u64(k, st.rows_skipped);
		cout_u64(k, st.rows_rejected);
		cout_u64(k, st.batches);
		cout_u64(k, st.batches_failed);
		cout_u64(k, st.retries);
		cout_u64(k, st.buffered_rows);
		cout_u64(k, st.buffered_bytes);
		cout_f(k, st.hist[HIST_BATCH_ROWS].count ?
			  st.hist[HIST_BATCH_ROWS].sum / (double)st.hist[HIST_BATCH_ROWS].count : 0);
		cout_f(k, rate(d, &now, 0));
		cout_f(k, rate(d, &now, 1));
		cout_f(k, rate(d, &now, 2));
		cout_i64(k, (int64_t)(time(NULL) - d->started));
		cout_row_end(k);
		sink_stats_free(&st);
	}
	cout_complete_rows(k, "SHOW", 1, mode);
	return RUN_OK;
}

int cshow_spool(struct daemon *d, struct cout *k, int mode)
{
	static const struct ccol cols[] = {
		{ "spool_dir", OID_TEXT }, { "spool_id", OID_INT8 }, { "units", OID_INT8 }, { "bytes", OID_INT8 },
		{ "max_bytes", OID_INT8 }, { "segments", OID_INT8 }, { "oldest_unit_age_seconds", OID_FLOAT8 },
		{ "fsyncs", OID_INT8 }, { "replaying", OID_BOOL },
	};
	const int n = (int)(sizeof(cols) / sizeof(cols[0]));
	struct sink_stats st;
	uint64_t rows = 0;

	cout_columns(k, cols, n, mode);
	if (mode & OUT_ROWS) {
		memset(&st, 0, sizeof(st));
		if (d->sink && !sink_stats_take(d->sink, &st))
			return cout_fail(k, "53200", "out of memory", NULL);
		if (st.spool) {
			cout_row_begin(k, n);
			cout_cell(k, d->cfg->spool_dir);
			cout_i64(k, (int64_t)st.spool_id);
			cout_u64(k, st.spool_units);
			cout_i64(k, st.spool_bytes);
			cout_i64(k, d->cfg->spool_max_bytes);
			cout_i64(k, st.spool_segments);
			cout_f(k, sink_spool_age(&st));
			cout_u64(k, st.spool_fsyncs);
			cout_bool(k, st.spool_replaying);
			cout_row_end(k);
			rows = 1;
		}
		sink_stats_free(&st);
	}
	cout_complete_rows(k, "SHOW", rows, mode);
	return RUN_OK;
}

int cshow_tables(struct daemon *d, struct cout *k, int mode)
{
	static const struct ccol cols[] = {
		{ "table", OID_TEXT }, { "conflictmode", OID_TEXT }, { "writemode", OID_TEXT },
		{ "ackmode", OID_TEXT }, { "state", OID_TEXT }, { "rows_in", OID_INT8 }, { "rows_written", OID_INT8 },
		{ "rows_skipped", OID_INT8 }, { "rows_rejected", OID_INT8 }, { "buffered_rows", OID_INT8 },
		{ "buffered_bytes", OID_INT8 }, { "batches", OID_INT8 }, { "retries", OID_INT8 },
		{ "held_flushes", OID_INT8 }, { "last_flush_reason", OID_TEXT },
		{ "last_flush_seconds_ago", OID_FLOAT8 },
	};
	const int n = (int)(sizeof(cols) / sizeof(cols[0]));
	struct sink_stats st;
	char name[300];

	cout_columns(k, cols, n, mode);
	memset(&st, 0, sizeof(st));
	if ((mode & OUT_ROWS) && d->sink && !sink_stats_take(d->sink, &st))
		return cout_fail(k, "53200", "out of memory", NULL);
	for (int i = 0; i < st.ntables && (mode & OUT_ROWS); i++) {
		const struct sink_table_stats *t = &st.tables[i];

		snprintf(name, sizeof(name), "%s.%s", t->schema, t->name);
		cout_row_begin(k, n);
		cout_cell(k, name);
		cout_cell(k, t->conflictmode);
		cout_cell(k, t->writemode);
		cout_cell(k, t->ackmode);
		cout_cell(k, t->removed ? "removed" : t->stopped ? "stopped" : t->paused ? "paused" : "writing");
		cout_u64(k, t->rows_in);
		cout_u64(k, t->rows_written);
		cout_u64(k, t->rows_skipped);
		cout_u64(k, t->rows_rejected);
		cout_u64(k, t->buffered_rows);
		cout_u64(k, t->buffered_bytes);
		cout_u64(k, t->batches);
		cout_u64(k, t->retries);
		cout_u64(k, t->held);
		cout_cell(k, t->last_flush_reason);
		if (t->last_flush_age_ms < 0)
			cout_cell(k, NULL);
		else
			cout_f(k, (double)t->last_flush_age_ms / 1000.0);
		cout_row_end(k);
	}
	cout_complete_rows(k, "SHOW", (uint64_t)st.ntables, mode);
	sink_stats_free(&st);
	return RUN_OK;
}

static const char *client_state_word(enum client_state s)
{
	switch (s) {
	case CL_STARTUP:
		return "startup";
	case CL_AUTH_MD5:
	case CL_AUTH_SASL_INIT:
	case CL_AUTH_SASL_FINAL:
		return "auth";
	case CL_LOGIN:
		return "login";
	case CL_ACTIVE:
		return "active";
	case CL_CLOSING:
		return "closing";
	}
	return "?";
}

int cshow_clients(struct daemon *d, struct cout *k, int mode)
{
	static const struct ccol cols[] = {
		{ "id", OID_INT8 }, { "user", OID_TEXT }, { "database", OID_TEXT }, { "address", OID_TEXT },
		{ "state", OID_TEXT }, { "tls", OID_BOOL }, { "backend_pid", OID_INT8 }, { "tx_status", OID_TEXT },
		{ "console", OID_BOOL },
	};
	const int n = (int)(sizeof(cols) / sizeof(cols[0]));
	uint64_t rows = 0;
	char tx[2] = { 0, 0 };

	cout_columns(k, cols, n, mode);
	for (struct client *o = d->clients; o && (mode & OUT_ROWS); o = o->next) {
		uint32_t pid = client_backend_pid(o);

		cout_row_begin(k, n);
		cout_u64(k, o->id);
		cout_cell(k, o->user);
		cout_cell(k, o->database);
		cout_cell(k, o->peer);
		cout_cell(k, client_state_word(o->state));
		cout_bool(k, o->sk && sock_tls(o->sk));
		if (pid)
			cout_u64(k, pid);
		else
			cout_cell(k, NULL);
		tx[0] = o->console ? console_tx(o) : o->tx_status ? o->tx_status : 'I';
		cout_cell(k, o->state == CL_ACTIVE ? tx : NULL);
		cout_bool(k, o->console != NULL);
		cout_row_end(k);
		rows++;
	}
	cout_complete_rows(k, "SHOW", rows, mode);
	return RUN_OK;
}

int cshow_writers(struct daemon *d, struct cout *k, int mode)
{
	static const struct ccol cols[] = {
		{ "writer", OID_INT8 }, { "state", OID_TEXT }, { "backend_pid", OID_INT8 }, { "table", OID_TEXT },
		{ "rows_in_flight", OID_INT8 }, { "last_error", OID_TEXT },
	};
	const int n = (int)(sizeof(cols) / sizeof(cols[0]));
	struct sink_stats st;

	cout_columns(k, cols, n, mode);
	memset(&st, 0, sizeof(st));
	if ((mode & OUT_ROWS) && d->sink && !sink_stats_take(d->sink, &st))
		return cout_fail(k, "53200", "out of memory", NULL);
	for (int i = 0; i < st.nwriters && (mode & OUT_ROWS); i++) {
		const struct sink_writer_stats *w = &st.writers[i];

		cout_row_begin(k, n);
		cout_i64(k, w->idx);
		cout_cell(k, w->state);
		if (w->backend_pid)
			cout_i64(k, w->backend_pid);
		else
			cout_cell(k, NULL);
		cout_cell(k, w->table[0] ? w->table : NULL);
		cout_u64(k, w->rows_in_flight);
		cout_cell(k, w->last_error[0] ? w->last_error : NULL);
		cout_row_end(k);
	}
	cout_complete_rows(k, "SHOW", (uint64_t)st.nwriters, mode);
	sink_stats_free(&st);
	return RUN_OK;
}

int cshow_config(struct daemon *d, struct cout *k, int mode)
{
	static const struct ccol cols[] = {
		{ "section", OID_TEXT }, { "key", OID_TEXT }, { "value", OID_TEXT }, { "default", OID_TEXT },
		{ "reloadable", OID_BOOL },
	};
	const struct config *cfg = d->cfg;
	uint64_t rows = 0;
	char value[1024], section[300];

	cout_columns(k, cols, 5, mode);
	for (int t = -1; t < cfg->ntables && (mode & OUT_ROWS); t++)
		for (size_t i = 0; i < config_nkeys; i++) {
			const struct config_key *key = &config_keys[i];

			if ((t < 0) == (key->section == CONF_TABLE))
				continue;
			config_key_format(key, t < 0 ? (const void *)cfg : (const void *)&cfg->tables[t], value,
					  sizeof(value));
			if (t < 0)
				snprintf(section, sizeof(section), "%s", config_section_name(key->section));
			else
				snprintf(section, sizeof(section), "table %s", cfg->tables[t].name);
			cout_row_begin(k, 5);
			cout_cell(k, section);
			cout_cell(k, key->name);
			cout_cell(k, value);
			cout_cell(k, key->def);
			cout_bool(k, !(key->flags & CONF_F_RESTART));
			cout_row_end(k);
			rows++;
		}
	cout_complete_rows(k, "SHOW", rows, mode);
	return RUN_OK;
}

int cshow_passthrough(struct daemon *d, struct cout *k, int mode)
{
	static const struct ccol cols[] = { { "decided_by", OID_TEXT }, { "reason", OID_TEXT }, { "count", OID_INT8 } };
	struct sink_stats st;
	uint64_t rows = 0;
	const char *name;

	cout_columns(k, cols, 3, mode);
	memset(&st, 0, sizeof(st));
	if ((mode & OUT_ROWS) && d->sink && !sink_stats_take(d->sink, &st))
		return cout_fail(k, "53200", "out of memory", NULL);
	for (int i = 1; i < PASS_SLOTS && (mode & OUT_ROWS); i++) {
		if (i == PASS_AT_SINK)
			continue;   /* (the sink's own reasons follow) */
		cout_row_begin(k, 3);
		cout_cell(k, "proxy");
		cout_cell(k, intercept_pass_name(i));
		cout_u64(k, d->istats.passthrough[i]);
		cout_row_end(k);
		rows++;
	}
	for (int i = 0; (mode & OUT_ROWS) && (name = sink_pass_reason_key(i)) != NULL; i++) {
		cout_row_begin(k, 3);
		cout_cell(k, "sink");
		cout_cell(k, name);
		cout_u64(k, st.passthrough[i]);
		cout_row_end(k);
		rows++;
	}
	cout_complete_rows(k, "SHOW", rows, mode);
	sink_stats_free(&st);
	return RUN_OK;
}

int cshow_rejects(struct daemon *d, struct cout *k, int mode)
{
	static const struct ccol cols[] = {
		{ "time", OID_TEXT }, { "table", OID_TEXT }, { "sqlstate", OID_TEXT }, { "message", OID_TEXT },
		{ "row", OID_TEXT }, { "acknowledged", OID_BOOL },
	};
	struct sink_reject *r;
	int n = 0;

	cout_columns(k, cols, 6, mode);
	if (!(mode & OUT_ROWS)) {
		cout_complete_rows(k, "SHOW", 0, mode);
		return RUN_OK;
	}
	if ((r = calloc(SINK_REJECTS_KEPT, sizeof(*r))) == NULL)
		return cout_fail(k, "53200", "out of memory", NULL);
	if (d->sink)
		n = sink_rejects_recent(d->sink, r, SINK_REJECTS_KEPT);
	for (int i = 0; i < n; i++) {
		time_t secs = (time_t)(r[i].unix_ms / 1000);
		struct tm tm;
		char when[64];

		gmtime_r(&secs, &tm);
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
		snprintf(when + strlen(when), sizeof(when) - strlen(when), ".%03d+00", (int)(r[i].unix_ms % 1000));
		cout_row_begin(k, 6);
		cout_cell(k, when);
		cout_cell(k, r[i].table);
		cout_cell(k, r[i].sqlstate);
		cout_cell(k, r[i].message);
		cout_cell(k, r[i].row);
		cout_bool(k, r[i].acknowledged);
		cout_row_end(k);
	}
	free(r);
	cout_complete_rows(k, "SHOW", (uint64_t)n, mode);
	return RUN_OK;
}

/* --------------------------------------------------------------- sampling -- */

static struct stat_sample sample_now(const struct sink_stats *st)
{
	struct stat_sample now = { 0 };
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now.ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	now.rows_in = st->rows_in;
	now.rows_written = st->rows_written;
	now.batches = st->batches;
	return now;
}

/* The samples move on when the newer is CSHOW_SAMPLE_SECONDS old (asked
 * for, not on a timer: a timer in the loop costs every loop turn). */
void cshow_sample(struct daemon *d, const struct sink_stats *st)
{
	struct stat_sample now = sample_now(st);

	if (d->samples[1].ms == 0) {
		d->samples[0] = d->samples[1] = now;
	} else if (now.ms - d->samples[1].ms >= CSHOW_SAMPLE_SECONDS * 1000) {
		d->samples[0] = d->samples[1];
		d->samples[1] = now;
	}
}
