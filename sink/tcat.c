/* Catalog snapshots (struct tcat): built from the catalog connection's answers, shared by the rows made with them; no I/O. */
#include "sink/internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"


struct tcat *tcat_ref(struct tcat *c)
{
	if (c)
		c->refs++;
	return c;
}

static void tcat_free(struct tcat *c)
{
	int i;

	for (i = 0; i < c->t.ncols; i++) {
		free(c->t.cols[i].name);
		free(c->t.cols[i].type);
		free(c->t.cols[i].castbase);
		if (c->cx) {
			free(c->cx[i].decl);
			free(c->cx[i].decl_nomod);
			free(c->cx[i].collation);
		}
	}
	for (i = 0; c->kcollate && i < c->t.nkey; i++)
		free(c->kcollate[i]);
	free(c->kcollate);
	free(c->kmodes);
	free(c->kmaxlen);
	free(c->tr.fk_rels);
	free(c->tr.dist_col);
	shardmap_free(&c->tr.shards);
	free(c->t.cols);
	free(c->cx);
	free(c->t.key);
	free(c->t.schema);
	free(c->t.name);
	free(c->t.stage);
	free(c->kinds);
	free(c->attnums);
	tcat_unref(c->pos);
	free(c->gone);
	if (c->npos)
		(*c->npos)--;
	free(c);
}

void tcat_unref(struct tcat *c)
{
	if (c && --c->refs == 0)
		tcat_free(c);
}

/* ---- building one ---- */

static char *dupv(const PGresult *r, int row, int col)
{
	return strdup(PQgetvalue(r, row, col));
}

bool tcat_rebase(struct tcat *cat, const PGresult *r, int first, int n, uint32_t generation, bool *whole)
{
	int i, k;
	char stage[64], *name;

	*whole = n > 0;
	for (i = 0; i < cat->t.ncols; i++) {
		for (k = first; k < first + n; k++)
			if (atoi(PQgetvalue(r, k, 1)) == cat->attnums[i])
				break;
		if (k == first + n || strcmp(PQgetvalue(r, k, 3), cat->cx[i].decl) != 0) {
			*whole = false;
			if (k == first + n && n > 0) {
				/* dropped (not the whole table gone: then its writes
				 * fail as directly): a value of it goes with it, and
				 * no DO UPDATE sets it */
				if (cat->gone == NULL && (cat->gone = calloc((size_t)cat->t.ncols, 1)) == NULL)
					return false;
				cat->gone[i] = true;
				cat->t.cols[i].settable = false;
			}
			continue;
		}
		if (strcmp(PQgetvalue(r, k, 2), cat->t.cols[i].name) == 0)
			continue;
		if ((name = dupv(r, k, 2)) == NULL)
			return false;
		free(cat->t.cols[i].name);
		cat->t.cols[i].name = name;
	}
	/* a table that is gone is not checked again: its writes fail as directly */
	snprintf(cat->fp, sizeof(cat->fp), "%s", n > 0 ? PQgetvalue(r, first, 4) : "");
	cat->gen = generation;
	snprintf(stage, sizeof(stage), "pgbatchd_stage_%u_%u", cat->oid, cat->gen);
	if ((name = strdup(stage)) == NULL)
		return false;
	free(cat->t.stage);
	cat->t.stage = name;
	return true;
}

bool tcat_rekey(struct tcat *cat, const PGresult *r, const struct table_conf *conf, bool *changed)
{
	int *old = cat->t.key, nold = cat->t.nkey, k;
	struct berr *err = NULL;
	bool ok;

	for (k = 0; cat->kcollate && k < cat->t.nkey; k++)
		free(cat->kcollate[k]);
	free(cat->kcollate);
	free(cat->kmodes);
	free(cat->kmaxlen);
	free(cat->kinds);
	cat->kcollate = NULL;
	cat->kmodes = NULL;
	cat->kmaxlen = NULL;
	cat->kinds = NULL;
	cat->t.key = NULL;
	cat->t.nkey = 0;
	cat->key_dbhash = false;
	for (k = 0; k < cat->t.ncols; k++)
		cat->t.cols[k].key = false;
	ok = tcat_key(cat, cat->attnums, r, conf, &err);
	*changed = !ok || err || cat->t.nkey != nold ||
		   (nold > 0 && memcmp(old, cat->t.key, (size_t)nold * sizeof(int)) != 0);
	berr_unref(err);
	free(old);
	return ok;
}

bool pq_true(const PGresult *r, int row, int col)
{
	return PQgetvalue(r, row, col)[0] == 't';
}

struct tcat *tcat_columns(const PGresult *r, uint32_t oid, uint32_t generation, const struct table_conf *conf,
			  int **attnums)
{
	struct tcat *cat;
	struct sg_col *col;
	struct ccol *cx;
	const char *def, *gen, *ident;
	int n = PQntuples(r), i;
	char stage[64];

	*attnums = NULL;
	cat = calloc(1, sizeof(*cat));
	if (cat == NULL)
		return NULL;
	cat->refs = 1;
	cat->gen = generation;
	cat->oid = oid;
	snprintf(stage, sizeof(stage), "pgbatchd_stage_%u_%u", cat->oid, cat->gen);
	cat->t.schema = strdup(conf->targetschema);
	cat->t.name = strdup(conf->name);
	cat->t.stage = strdup(stage);
	cat->t.cols = calloc((size_t)n + 1, sizeof(*cat->t.cols));
	cat->cx = calloc((size_t)n + 1, sizeof(*cat->cx));
	(*attnums) = calloc((size_t)n + 1, sizeof(int));
	cat->attnums = calloc((size_t)n + 1, sizeof(int));
	if (!cat->t.schema || !cat->t.name || !cat->t.stage || !cat->t.cols || !cat->cx || !(*attnums) ||
	    !cat->attnums)
		goto fail;
	for (i = 0; i < n; i++) {
		col = &cat->t.cols[i];
		cx = &cat->cx[i];
		cat->t.ncols = i + 1;
		(*attnums)[i] = cat->attnums[i] = atoi(PQgetvalue(r, i, 0));
		col->name = dupv(r, i, 1);
		cx->decl = dupv(r, i, 2);
		cx->decl_nomod = dupv(r, i, 3);
		cx->basetype = (uint32_t)strtoul(PQgetvalue(r, i, 4), NULL, 10);
		cx->typid = (uint32_t)strtoul(PQgetvalue(r, i, 16), NULL, 10);
		col->type = dupv(r, i, 5);
		col->castbase = dupv(r, i, 6);
		if (!col->name || !cx->decl || !cx->decl_nomod || !col->type || !col->castbase)
			goto fail;
		cx->category = PQgetvalue(r, i, 7)[0];
		/* arrays, and composites (unnest would spread their fields over columns) */
		col->is_array = cx->category == 'A' || cx->category == 'C';
		col->delim = PQgetvalue(r, i, 8)[0] ? PQgetvalue(r, i, 8)[0] : ',';
		def = PQgetisnull(r, i, 9) ? NULL : PQgetvalue(r, i, 9);
		gen = PQgetvalue(r, i, 11);
		ident = PQgetvalue(r, i, 12);
		cx->generated = gen[0] != '\0';
		cx->identity_always = ident[0] == 'a';
		cx->identity = ident[0] != '\0';
		cx->unique_default = ident[0] != '\0' ||
				     (def && !cx->generated && strncmp(def, "nextval(", 8) == 0);
		cx->typmod = atoi(PQgetvalue(r, i, 13));
		cx->nondet_collation = pq_true(r, i, 14);
		if (!PQgetisnull(r, i, 15) && (cx->collation = dupv(r, i, 15)) == NULL)
			goto fail;
		col->insertable = !cx->generated && !cx->identity_always;
	}
	return cat;
fail:
	tcat_unref(cat);
	free(*attnums);
	*attnums = NULL;
	return NULL;
}

static int col_by_attnum(const struct tcat *cat, const int *attnums, int attnum)
{
	int i;

	for (i = 0; i < cat->t.ncols; i++)
		if (attnums[i] == attnum)
			return i;
	return -1;
}

/* Parses an indkey ("1 3") into column indexes; false if one is not a plain column. */
static int index_cols(const struct tcat *cat, const int *attnums, const char *indkey, int *out, int max)
{
	const char *p = indkey;
	char *end;
	long a;
	int n = 0, ci;

	while (*p) {
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		a = strtol(p, &end, 10);
		if (end == p || n >= max)
			return -1;
		p = end;
		ci = col_by_attnum(cat, attnums, (int)a);
		if (ci < 0)
			return -1;
		out[n++] = ci;
	}
	return n;
}

static void fold(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* Picks the key: the primary key, else the unique index matching conflictkey. */
bool tcat_key(struct tcat *cat, const int *attnums, const PGresult *r, const struct table_conf *conf,
	      struct berr **err)
{
	int nidx = PQntuples(r), ncols = cat->t.ncols, i, k, n, want[64], nwant = 0, have[64];
	char *ck = NULL, *tok, *save = NULL, *p, msg[512];
	bool found = false, match;

	cat->t.key = calloc((size_t)ncols + 1, sizeof(int));
	if (cat->t.key == NULL)
		return false;
	for (i = 0; i < nidx && !found; i++) {
		if (!pq_true(r, i, 0))
			continue;
		n = index_cols(cat, attnums, PQgetvalue(r, i, 1), have, 64);
		if (n <= 0)
			continue;
		memcpy(cat->t.key, have, (size_t)n * sizeof(int));
		cat->t.nkey = n;
		cat->nulls_not_distinct = pq_true(r, i, 2);
		cat->key_deferrable = !pq_true(r, i, 3);
		found = true;
		if (cat->key_deferrable && conf->conflictmode != CONFLICT_STRICT)
			log_warning("sink catalog", "table %s.%s: its primary key is DEFERRABLE, which ON CONFLICT "
				    "cannot use: its INSERTs pass through with the conflict clause (PostgreSQL "
				    "answers 55000)", conf->targetschema, conf->name);
		if (conf->conflictkey)
			log_warning("sink catalog", "table %s.%s has a primary key: conflictkey is not used",
				    conf->targetschema, conf->name);
	}
	if (!found && conf->conflictkey) {
		ck = strdup(conf->conflictkey);
		if (ck == NULL)
			return false;
		for (tok = strtok_r(ck, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			while (*tok == ' ' || *tok == '\t')
				tok++;
			for (p = tok + strlen(tok); p > tok && (p[-1] == ' ' || p[-1] == '\t'); p--)
				p[-1] = '\0';
			if (!conf->casesensitive)
				fold(tok);
			for (k = 0; k < ncols; k++)
				if (strcmp(cat->t.cols[k].name, tok) == 0)
					break;
			if (k == ncols || nwant >= 64) {
				snprintf(msg, sizeof(msg), "conflictkey column \"%s\" of table \"%s\".\"%s\" does not exist",
					 tok, conf->targetschema, conf->name);
				*err = berr_new("42703", msg, NULL, NULL);
				free(ck);
				return true;
			}
			want[nwant++] = k;
		}
		free(ck);
		for (i = 0; i < nidx && !found; i++) {
			n = index_cols(cat, attnums, PQgetvalue(r, i, 1), have, 64);
			if (n != nwant || !pq_true(r, i, 3))
				continue;
			match = true;
			for (k = 0; k < nwant && match; k++) {
				int m;

				match = false;
				for (m = 0; m < n; m++)
					if (have[m] == want[k])
						match = true;
			}
			if (!match)
				continue;
			memcpy(cat->t.key, want, (size_t)nwant * sizeof(int));
			cat->t.nkey = nwant;
			cat->nulls_not_distinct = pq_true(r, i, 2);
			found = true;
		}
		if (!found) {
			snprintf(msg, sizeof(msg),
				 "there is no unique constraint matching the conflictkey of table \"%s\".\"%s\"",
				 conf->targetschema, conf->name);
			*err = berr_new("42P10", msg, conf->conflictkey, NULL);
			return true;
		}
	}
	cat->kinds = calloc((size_t)cat->t.nkey + 1, sizeof(*cat->kinds));
	cat->kmodes = calloc((size_t)cat->t.nkey + 1, sizeof(*cat->kmodes));
	cat->kcollate = calloc((size_t)cat->t.nkey + 1, sizeof(*cat->kcollate));
	cat->kmaxlen = calloc((size_t)cat->t.nkey + 1, sizeof(*cat->kmaxlen));
	if (!cat->kinds || !cat->kmodes || !cat->kcollate || !cat->kmaxlen)
		return false;
	cat->key_unique_default = cat->t.nkey > 0;
	for (k = 0; k < cat->t.nkey; k++) {
		const struct ccol *cx;

		i = cat->t.key[k];
		cx = &cat->cx[i];
		cat->t.cols[i].key = true;
		cat->kinds[k] = key_kind_for_type(cx->basetype);
		/* the database identifies values of types without a parser, and
		 * text under a collation where different bytes may be equal */
		cat->kmodes[k] = cat->kinds[k] == KEY_RAW || cx->nondet_collation ? KM_DBHASH : KM_CANON;
		cat->key_dbhash |= cat->kmodes[k] == KM_DBHASH;
		if (cx->nondet_collation && cx->collation && (cat->kcollate[k] = strdup(cx->collation)) == NULL)
			return false;
		cat->kmaxlen[k] = cx->basetype == 1043 && cx->typmod >= 4 ? cx->typmod - 4 : -1;
		if (!cx->unique_default)
			cat->key_unique_default = false;
	}
	for (i = 0; i < ncols; i++)
		cat->t.cols[i].settable = cat->t.cols[i].insertable && !cat->t.cols[i].key;
	return true;
}

#define TRIGGER_ROW 1
#define TRIGGER_BEFORE 2
#define TRIGGER_INSERT 4
#define TRIGGER_UPDATE 16

/* Columns 10-14 of the traits query on a Citus coordinator: partmethod,
 * repmodel, the distribution column, the shards, and a hash-distributed
 * table's shards' lower bounds. A citus local table (method 'n', model 's')
 * is the coordinator's like one Citus does not know. */
static bool citus_traits(struct tcat *cat, const PGresult *r)
{
	struct traits *tr = &cat->tr;
	const char *method = PQgetisnull(r, 0, 10) ? "" : PQgetvalue(r, 0, 10);
	const char *model = PQgetisnull(r, 0, 11) ? "" : PQgetvalue(r, 0, 11);
	int i;

	if (strcmp(method, "h") == 0)
		tr->dist = CD_HASH;
	else if (strcmp(method, "n") == 0)
		tr->dist = strcmp(model, "s") == 0 ? CD_LOCAL : CD_REFERENCE;
	else
		tr->dist = method[0] ? CD_OTHER : CD_LOCAL;
	tr->nshards = atoi(PQgetvalue(r, 0, 13));
	if (!PQgetisnull(r, 0, 12) && (tr->dist_col = strdup(PQgetvalue(r, 0, 12))) == NULL)
		return false;
	if (tr->dist != CD_HASH || tr->dist_col == NULL || PQgetisnull(r, 0, 14))
		return true;
	/* rows are grouped by shard only with a hash computed here and a map
	 * that covers every shard (shardmap.h: a miss costs no row) */
	for (i = 0; i < cat->t.ncols && strcmp(cat->t.cols[i].name, tr->dist_col) != 0; i++)
		;
	if (i == cat->t.ncols)
		return true;
	tr->dist_idx = i;
	tr->dist_hash = dist_hash_for(key_kind_for_type(cat->cx[i].basetype), cat->cx[i].nondet_collation);
	if (!shardmap_parse(&tr->shards, PQgetvalue(r, 0, 14)) || tr->shards.n != tr->nshards)
		shardmap_free(&tr->shards);
	return true;
}

bool tcat_traits(struct tcat *cat, const PGresult *r)
{
	struct traits *tr = &cat->tr;
	const char *p;
	char *end;
	unsigned long v;
	int n = 0;

	if (PQntuples(r) != 1 || (PQnfields(r) != 10 && PQnfields(r) != 15))
		return false;
	tr->other_unique = atol(PQgetvalue(r, 0, 0)) > (cat->t.nkey > 0 ? 1 : 0) ||
			   atol(PQgetvalue(r, 0, 1)) > 0;
	for (p = PQgetvalue(r, 0, 2); *p; p++)
		n += *p == ' ';
	tr->fk_rels = calloc((size_t)n + 2, sizeof(*tr->fk_rels));
	if (tr->fk_rels == NULL)
		return false;
	for (p = PQgetvalue(r, 0, 2); *p;) {
		v = strtoul(p, &end, 10);
		if (end == p)
			break;
		tr->fk_rels[tr->nfk_rels++] = (uint32_t)v;
		tr->self_fk |= v == cat->oid;
		p = *end ? end + 1 : end;
	}
	for (p = PQgetvalue(r, 0, 3); *p;) {
		v = strtoul(p, &end, 10);
		if (end == p)
			break;
		if (v & (TRIGGER_INSERT | TRIGGER_UPDATE)) {
			if ((v & TRIGGER_ROW) && (v & TRIGGER_BEFORE))
				tr->row_triggers = true;
			else
				tr->stmt_triggers = true;
		}
		p = *end ? end + 1 : end;
	}
	tr->rules = pq_true(r, 0, 4);
	tr->volatile_defaults = pq_true(r, 0, 5);
	tr->sequence_defaults = pq_true(r, 0, 6);
	tr->session_defaults = pq_true(r, 0, 7);
	tr->other_volatile_defaults = pq_true(r, 0, 8);
	tr->other_code = pq_true(r, 0, 9);
	for (int i = 0; i < cat->t.ncols; i++) {
		tr->volatile_defaults |= cat->cx[i].identity;
		tr->sequence_defaults |= cat->cx[i].identity;
	}
	return PQnfields(r) == 10 || citus_traits(cat, r);
}

/* ---- table classes: how their units are ordered, from their catalogs ---- */

void tcat_classify(struct sink *s)
{
	struct stable *tab, *o;
	const struct tcat *c;
	int i, j, k;

	for (i = 0; i < s->ntables; i++) {
		tab = s->tables[i];
		c = tab->cat;
		if (c == NULL) {
			tab->cls = TC_FREE;
			tab->linked = false;
			continue;
		}
		tab->linked = c->tr.self_fk;
		for (k = 0; k < c->tr.nfk_rels && !tab->linked; k++)
			for (j = 0; j < s->ntables && !tab->linked; j++) {
				o = s->tables[j];
				tab->linked = o != tab && !o->removed && o->cat && o->cat->oid == c->tr.fk_rels[k];
			}
		if (tab->linked || c->tr.stmt_triggers)
			tab->cls = TC_ROWWISE;
		else if (c->tr.other_unique || c->tr.row_triggers || c->tr.rules || c->tr.volatile_defaults)
			tab->cls = TC_ORDERED;
		else
			tab->cls = TC_FREE;
	}
}
