/* Citus shard maps kept current: each hash-distributed table's shard ranges, read again every few seconds. */
#include "sink/shardwatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/log.h"
#include "sink/internal.h"
#include "sink/pgconn.h"

#define WATCH_PREFIX "sink catalog"

struct shardwatch {
	struct sink *s;
	struct event *ev;
	bool asking;                /* a query is queued on the catalog connection */
};

static bool same_map(const struct shardmap *a, const struct shardmap *b)
{
	return a->n == b->n && (a->n == 0 || memcmp(a->mins, b->mins, (size_t)a->n * sizeof(*a->mins)) == 0);
}

/* Rows of (oid, the shards' lower bounds ascending). */
static void on_answer(void *arg, const struct pc_result *r)
{
	struct shardwatch *w = arg;
	struct sink *s = w->s;
	struct shardmap m;
	struct tcat *cat;
	unsigned long oid;
	int i, t;

	w->asking = false;
	if (r == NULL || !r->ok || r->rows == NULL || PQnfields(r->rows) != 2)
		return;         /* asked again at the next tick */
	for (i = 0; i < PQntuples(r->rows); i++) {
		oid = strtoul(PQgetvalue(r->rows, i, 0), NULL, 10);
		for (t = 0; t < s->ntables; t++) {
			cat = s->tables[t]->cat;
			if (cat == NULL || cat->oid != oid || cat->tr.dist != CD_HASH || cat->tr.dist_hash == DH_NONE)
				continue;
			if (!shardmap_parse(&m, PQgetvalue(r->rows, i, 1)))
				continue;
			if (same_map(&m, &cat->tr.shards)) {
				shardmap_free(&m);
				continue;
			}
			/* (in place: the snapshot is otherwise immutable, and its
			 * rows read this only when a batch is planned) */
			log_info(WATCH_PREFIX, "table %s.%s: Citus shards changed, %d shards now (were %d)",
				 cat->t.schema, cat->t.name, m.n, cat->tr.shards.n);
			shardmap_free(&cat->tr.shards);
			cat->tr.shards = m;
			cat->tr.nshards = m.n;
		}
	}
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct shardwatch *w = arg;
	struct sink *s = w->s;
	struct buf sql;
	int t, n = 0;

	(void)fd;
	(void)what;
	if (w->asking || s->draining)
		return;
	buf_init(&sql);
	buf_puts(&sql, "SELECT d.logicalrelid::pg_catalog.oid, pg_catalog.string_agg(d.shardminvalue, ' ' "
		 "ORDER BY d.shardminvalue::pg_catalog.int4) FROM pg_catalog.pg_dist_shard d "
		 "JOIN pg_catalog.pg_dist_partition p ON p.logicalrelid = d.logicalrelid "
		 "WHERE p.partmethod = 'h' AND d.shardminvalue IS NOT NULL AND d.logicalrelid::pg_catalog.oid IN (");
	for (t = 0; t < s->ntables; t++) {
		const struct tcat *cat = s->tables[t]->cat;

		if (cat == NULL || cat->tr.dist != CD_HASH || cat->tr.dist_hash == DH_NONE)
			continue;
		buf_printf(&sql, "%s%u", n++ ? ", " : "", cat->oid);
	}
	buf_puts(&sql, ") GROUP BY 1");
	if (n > 0 && buf_ok(&sql)) {
		w->asking = true;
		catalog_query(s->catalog, sql.data, on_answer, w);
	}
	buf_free(&sql);
}

struct shardwatch *shardwatch_new(struct sink *s)
{
	struct shardwatch *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return NULL;
	w->s = s;
	w->ev = event_new(s->base, -1, EV_PERSIST, on_tick, w);
	if (w->ev == NULL) {
		free(w);
		return NULL;
	}
	return w;
}

void shardwatch_free(struct shardwatch *w)
{
	if (w == NULL)
		return;
	event_free(w->ev);
	free(w);
}

void shardwatch_arm(struct shardwatch *w)
{
	struct timeval tv = { SHARDWATCH_MS / 1000, (SHARDWATCH_MS % 1000) * 1000 };

	if (!w->s->draining && !event_pending(w->ev, EV_TIMEOUT, NULL))
		event_add(w->ev, &tv);
}

void shardwatch_stop(struct shardwatch *w)
{
	event_del(w->ev);
}
