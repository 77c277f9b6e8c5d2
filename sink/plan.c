/* Batch plans: key generations, ordered runs and row-wise steps of a batch's rows; pure, no I/O. */
#include "sink/plan.h"

#include <stdlib.h>
#include <string.h>

/* ---- a small counting map: 64-bit key -> count, open addressing ---- */

struct cmap {
	uint64_t *keys;     /* 0: empty */
	uint32_t *counts;
	size_t mask;
};

static bool cmap_init(struct cmap *m, size_t n)
{
	size_t cap = 16;

	while (cap < 2 * n + 16)
		cap *= 2;
	m->keys = calloc(cap, sizeof(*m->keys));
	m->counts = malloc(cap * sizeof(*m->counts));  /* (set with its key) */
	m->mask = cap - 1;
	return m->keys && m->counts;
}

static void cmap_free(struct cmap *m)
{
	free(m->keys);
	free(m->counts);
}

static uint64_t mix(uint64_t tag, uint64_t id, uint64_t route)
{
	uint64_t h = route ^ (id * 0x9e3779b97f4a7c15ULL) ^ (tag << 60);

	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h ? h : 1;
}

/* Returns the count stored for key before this call, then increments it. The
 * map never holds more keys than rows, so it never fills. */
static uint32_t cmap_bump(struct cmap *m, uint64_t key)
{
	size_t i = (size_t)key & m->mask;

	while (m->keys[i] && m->keys[i] != key)
		i = (i + 1) & m->mask;
	if (m->keys[i] == 0) {
		m->keys[i] = key;
		m->counts[i] = 0;
	}
	return m->counts[i]++;
}

/* ---- the plan ---- */

enum { TAG_FREE = 1, TAG_RUN };

struct tslot {
	const void *table;
	const void *cat;
	const void *role;
	const void *ctx;
	uint32_t slot;          /* PLAN_FREE: the current slot of the table */
	uint32_t run;           /* PLAN_ORDERED: the current run's id */
	bool run_open;
};

struct fkey {
	uint32_t slot, gen, shard, row;
};

static int cmp_fkey(const void *a, const void *b)
{
	const struct fkey *x = a, *y = b;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	if (x->gen != y->gen)
		return x->gen < y->gen ? -1 : 1;
	if (x->shard != y->shard)
		return x->shard < y->shard ? -1 : 1;
	return x->row < y->row ? -1 : x->row > y->row;
}

struct builder {
	struct plan *p;
	const struct plan_row *rows;
	size_t n;
	struct cmap map;        /* made at the first keyed row */
	uint32_t next_id;
	/* the batch's tables, in order of their first row (a batch has few: the
	 * arrays grow, they are not sized by its rows) */
	struct tslot *tabs;
	size_t ntabs, tcap;
	/* PLAN_ORDERED runs: the open run of each table keeps its rows here */
	uint32_t **runs;
	size_t *nruns;
};

/* Room for one more table. */
static bool tabs_room(struct builder *b)
{
	size_t cap = b->tcap ? 2 * b->tcap : 4;
	struct tslot *t;
	uint32_t **r;
	size_t *nr;

	if (b->ntabs < b->tcap)
		return true;
	t = realloc(b->tabs, cap * sizeof(*t));
	if (t == NULL)
		return false;
	b->tabs = t;
	r = realloc(b->runs, cap * sizeof(*r));
	if (r == NULL)
		return false;
	b->runs = r;
	nr = realloc(b->nruns, cap * sizeof(*nr));
	if (nr == NULL)
		return false;
	b->nruns = nr;
	memset(b->tabs + b->tcap, 0, (cap - b->tcap) * sizeof(*t));
	memset(b->runs + b->tcap, 0, (cap - b->tcap) * sizeof(*r));
	memset(b->nruns + b->tcap, 0, (cap - b->tcap) * sizeof(*nr));
	b->tcap = cap;
	return true;
}

/* The count of key before this row (cmap_bump), the map made when first needed. */
static bool bump(struct builder *b, uint64_t key, uint32_t *count)
{
	if (b->map.keys == NULL && !cmap_init(&b->map, b->n))
		return false;
	*count = cmap_bump(&b->map, key);
	return true;
}

static void emit(struct builder *b, const uint32_t *rows, size_t n)
{
	struct plan *p = b->p;

	if (n == 0)
		return;
	p->steps[p->nsteps].first = (uint32_t)p->norder;
	p->steps[p->nsteps].n = (uint32_t)n;
	p->nsteps++;
	memcpy(p->order + p->norder, rows, n * sizeof(*rows));
	p->norder += n;
}

/* Emits sorted (slot, gen, shard, row) keys: one step per (slot, gen, shard). */
static void emit_generations(struct builder *b, struct fkey *k, size_t n, uint32_t *scratch)
{
	size_t i = 0, j, m;

	/* (in order already when every key is new to the batch and the rows
	 * are one table's: the common batch) */
	for (j = 1; j < n && cmp_fkey(&k[j - 1], &k[j]) < 0; j++)
		;
	if (j < n)
		qsort(k, n, sizeof(*k), cmp_fkey);
	while (i < n) {
		for (j = i, m = 0; j < n && k[j].slot == k[i].slot && k[j].gen == k[i].gen &&
				   k[j].shard == k[i].shard; j++)
			scratch[m++] = k[j].row;
		emit(b, scratch, m);
		i = j;
	}
}

static void close_run(struct builder *b, struct tslot *t, size_t ti)
{
	if (!t->run_open)
		return;
	emit(b, b->runs[ti], b->nruns[ti]);
	b->nruns[ti] = 0;
	t->run_open = false;
	t->run = ++b->next_id;
}

bool plan_build(struct plan *p, const struct plan_row *rows, size_t n)
{
	struct builder b;
	struct tslot *t;
	struct fkey *free_keys = NULL;
	uint32_t *scratch = NULL, one, count;
	size_t nfree = 0, i, ti;
	uint32_t nslots = 0;
	bool ok = false;

	memset(p, 0, sizeof(*p));
	memset(&b, 0, sizeof(b));
	b.p = p;
	b.rows = rows;
	b.n = n;
	/* (every entry below is written before it is read: no zeroing per row) */
	p->order = malloc((n + 1) * sizeof(*p->order));
	p->steps = malloc((n + 1) * sizeof(*p->steps));
	free_keys = malloc((n + 1) * sizeof(*free_keys));
	scratch = malloc((n + 1) * sizeof(*scratch));
	if (!p->order || !p->steps || !free_keys || !scratch)
		goto out;
	for (i = 0; i < n; i++) {
		const struct plan_row *r = &rows[i];

		for (ti = 0; ti < b.ntabs && b.tabs[ti].table != r->table; ti++)
			;
		if (ti == b.ntabs && !tabs_room(&b))
			goto out;
		t = &b.tabs[ti];
		if (ti == b.ntabs) {
			b.ntabs++;
			t->table = r->table;
			t->cat = r->cat;
			t->role = r->role;
			t->ctx = r->ctx;
			t->slot = nslots++;
			t->run = ++b.next_id;
		}
		if (t->cat != r->cat || t->role != r->role || t->ctx != r->ctx) {
			/* another catalog, role or settings: the table's earlier rows come first */
			close_run(&b, t, ti);
			t->cat = r->cat;
			t->role = r->role;
			t->ctx = r->ctx;
			t->slot = nslots++;
		}
		if (r->single && r->cls == PLAN_FREE) {
			/* a slot of its own, between the table's rows before and after */
			free_keys[nfree].slot = nslots++;
			free_keys[nfree].gen = 0;
			free_keys[nfree].shard = 0;
			free_keys[nfree].row = (uint32_t)i;
			nfree++;
			t->slot = nslots++;
			continue;
		}
		if (r->single || r->cls == PLAN_ROWWISE) {
			close_run(&b, t, ti);
			one = (uint32_t)i;
			emit(&b, &one, 1);
			continue;
		}
		switch ((enum plan_class)r->cls) {
		case PLAN_FREE:
			count = 0;
			if (r->keyed && r->has_route && !bump(&b, mix(TAG_FREE, t->slot, r->route), &count))
				goto out;
			free_keys[nfree].slot = t->slot;
			free_keys[nfree].gen = count;
			free_keys[nfree].shard = r->shard;
			free_keys[nfree].row = (uint32_t)i;
			nfree++;
			break;
		case PLAN_ORDERED:
			count = 0;
			if (r->keyed && r->has_route && !bump(&b, mix(TAG_RUN, t->run, r->route), &count))
				goto out;
			if (count > 0) {
				/* the key repeats: a new run, which starts with it */
				close_run(&b, t, ti);
				(void)cmap_bump(&b.map, mix(TAG_RUN, t->run, r->route));
			}
			if (b.runs[ti] == NULL) {
				b.runs[ti] = malloc((n + 1) * sizeof(uint32_t));
				if (b.runs[ti] == NULL)
					goto out;
			}
			t->run_open = true;
			b.runs[ti][b.nruns[ti]++] = (uint32_t)i;
			break;
		case PLAN_ROWWISE:
			break;
		}
	}
	for (ti = 0; ti < b.ntabs; ti++)
		close_run(&b, &b.tabs[ti], ti);
	emit_generations(&b, free_keys, nfree, scratch);
	ok = true;
out:
	for (ti = 0; ti < b.tcap; ti++)
		free(b.runs[ti]);
	free(b.runs);
	free(b.nruns);
	cmap_free(&b.map);
	free(b.tabs);
	free(free_keys);
	free(scratch);
	if (!ok)
		plan_free(p);
	return ok;
}

void plan_free(struct plan *p)
{
	free(p->order);
	free(p->steps);
	memset(p, 0, sizeof(*p));
}
