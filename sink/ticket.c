/* Tickets: a client message's rows from submission to settlement; catalog waits, conversion, replies. */
#include "sink/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "proxy/log.h"

static void pop_waiting(struct stable *tab);

/* ---- notifications: every client callback runs from here ---- */

void schedule_notify(struct sink *s)
{
	event_active(s->notify_ev, EV_TIMEOUT, 0);
}

static void notify(struct sink_ticket *t)
{
	struct sink *s = t->s;

	if (t->in_notify)
		return;
	t->in_notify = true;
	t->nnext = NULL;
	if (s->ntail)
		s->ntail->nnext = t;
	else
		s->nhead = t;
	s->ntail = t;
	schedule_notify(s);
}

static void set_text(char **dst, const char *src)
{
	free(*dst);
	*dst = src ? strdup(src) : NULL;
}

/* The ticket's answer is decided: pass through. */
void reply_passthrough(struct sink_ticket *t, enum pass_reason why)
{
	t->s->st.passthrough[why]++;
	t->reply.status = SINK_PASSTHROUGH;
	t->reply.reason = pass_reason_text(why);
	t->reply_due = true;
	t->settle_due = true;
	notify(t);
}

void ticket_error(struct sink_ticket *t, const char *sqlstate, const char *message,
			 const char *detail, const char *hint)
{
	if (t->failed)
		return;
	t->failed = true;
	snprintf(t->sqlstate, sizeof(t->sqlstate), "%s", sqlstate && sqlstate[0] ? sqlstate : "XX000");
	set_text(&t->message, message ? message : "unknown error");
	set_text(&t->detail, detail);
	set_text(&t->hint, hint);
}

static void fill_error_reply(struct sink_ticket *t)
{
	t->reply.status = SINK_ERROR;
	t->reply.sqlstate = t->sqlstate;
	t->reply.severity = "ERROR";
	t->reply.message = t->message ? t->message : "out of memory";
	t->reply.detail = t->detail;
	t->reply.hint = t->hint;
}

static void reply_error(struct sink_ticket *t, const char *sqlstate, const char *message,
			const char *detail, const char *hint)
{
	t->s->st.errors++;
	ticket_error(t, sqlstate, message, detail, hint);
	fill_error_reply(t);
	t->reply_due = true;
	t->settle_due = true;
	notify(t);
}

static bool sink_drained(const struct sink *s)
{
	int i;

	if (s->nhead)
		return false;
	for (i = 0; i < s->ntables; i++) {
		int w;

		if (s->tables[i]->wait_head)
			return false;
		for (w = 0; w < s->nwriters; w++)
			if (s->tables[i]->shards[w].count)
				return false;
	}
	for (i = 0; i < s->nwriters; i++)
		if (writer_busy(s->writers[i]))
			return false;
	return true;
}

void sink_on_notify(evutil_socket_t fd, short what, void *arg)
{
	struct sink *s = arg;
	struct sink_ticket *t;

	(void)fd;
	(void)what;
	while ((t = s->nhead) != NULL) {
		s->nhead = t->nnext;
		if (s->nhead == NULL)
			s->ntail = NULL;
		t->in_notify = false;
		if (t->reply_due && !t->replied) {
			t->replied = true;
			if (!t->forgotten)
				t->c.reply(t->c.arg, &t->reply);
		}
		if (t->settle_due) {
			if (!t->forgotten && t->c.settled)
				t->c.settled(t->c.arg);
			ticket_free(t);
		}
	}
	if (s->room_due) {
		s->room_due = false;
		if (s->room_fn)
			s->room_fn(s->room_arg);
	}
	if (s->draining && !s->drain_reported && sink_drained(s)) {
		s->drain_reported = true;
		log_info(SINK_PREFIX, "drained: every buffered row is committed or failed");
		for (int i = 0; i < s->nwriters; i++)
			writer_kick(s->writers[i]);
		catalog_close_idle(s->catalog);
		if (s->drain_fn)
			s->drain_fn(s->drain_arg);
	}
}

/* ---- tickets ---- */

/* Frees rows converted but not yet buffered. */
static void ticket_drop_rows(struct sink_ticket *t)
{
	size_t i;

	for (i = 0; t->crows && i < t->ncrows; i++)
		if (t->crows[i])
			srow_release(t->crows[i]);
	free(t->crows);
	t->crows = NULL;
	t->ncrows = 0;
}

/* The statement is converted (or dropped): its charge goes. */
static void ticket_release_stmt(struct sink_ticket *t)
{
	if (t->has_st) {
		ins_stmt_free(&t->st);
		t->has_st = false;
	}
	if (t->st_bytes) {
		charge(t->s, -t->st_bytes);
		t->st_bytes = 0;
	}
}

void ticket_free(struct sink_ticket *t)
{
	ticket_drop_rows(t);
	ticket_release_stmt(t);
	t->s->live_tickets--;
	if (t->aprev)
		t->aprev->anext = t->anext;
	else
		t->s->all = t->anext;
	if (t->anext)
		t->anext->aprev = t->aprev;
	free(t->user);
	free(t->prefix);
	for (int i = 0; i < SINK_SETTINGS; i++)
		free(t->settings[i]);
	free(t->message);
	free(t->detail);
	free(t->hint);
	free(t->shard_rows);
	free(t);
}

/* One of the ticket's rows is committed (or failed): the last one settles it. */
void ticket_row_settled(struct sink_ticket *t)
{
	if (t->pending == 0 || --t->pending > 0)
		return;
	if (t->ack == ACK_COMMIT) {
		if (t->failed) {
			t->s->st.errors++;
			fill_error_reply(t);
		} else {
			t->reply.status = SINK_DONE;
			t->reply.rows = t->nrows;
		}
		t->reply_due = true;
	}
	t->settle_due = true;
	notify(t);
}

/* ---- turning a ticket's statement into rows ---- */

static bool find_column(const struct tcat *cat, const char *name, int *col)
{
	int i;

	for (i = 0; i < cat->t.ncols; i++)
		if (strcmp(cat->t.cols[i].name, name) == 0) {
			*col = i;
			return true;
		}
	return false;
}

/* Which writer takes a row: by key, else by session so one client's rows stay in order. */
static int pick_shard(struct sink *s, const struct tcat *cat, enum key_result kr, uint64_t keyhash,
		      uint64_t session)
{
	if (kr == KEY_OK)
		return (int)(keyhash % (uint64_t)s->nwriters);
	if (kr == KEY_DEFAULTED && !cat->key_unique_default)
		return 0;   /* a constant default: every such row is the same key */
	return (int)(session % (uint64_t)s->nwriters);
}

static struct srow *make_row(struct sink *s, struct sink_ticket *t, const struct tcat *cat,
			     const struct sg_val *vals, const struct buf *key, enum key_result kr)
{
	size_t nc = (size_t)cat->t.ncols, text = 0, size, keylen = kr == KEY_OK ? key->len : 0;
	struct srow *r;
	char *p;
	size_t i;

	for (i = 0; i < nc; i++)
		if (vals[i].state == SG_VALUE)
			text += vals[i].len + 1;
	size = sizeof(*r) + nc * sizeof(struct sg_val) + keylen + text;
	r = malloc(size);
	if (r == NULL)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->ticket = t;
	r->bytes = size + ROW_OVERHEAD;
	p = (char *)r + sizeof(*r) + nc * sizeof(struct sg_val);
	if (keylen) {
		memcpy(p, key->data, keylen);
		r->key = (const unsigned char *)p;
		r->keylen = keylen;
		r->hash = key_hash(p, keylen);
		p += keylen;
	}
	for (i = 0; i < nc; i++) {
		r->vals[i] = vals[i];
		if (vals[i].state == SG_VALUE) {
			memcpy(p, vals[i].text, vals[i].len);
			p[vals[i].len] = '\0';
			r->vals[i].text = p;
			p += vals[i].len + 1;
		} else {
			r->vals[i].text = NULL;
			r->vals[i].len = 0;
		}
	}
	(void)s;
	return r;
}

/* Moves the ticket's converted rows into their shards. */
static void enqueue_rows(struct stable *tab, struct sink_ticket *t)
{
	struct sink *s = tab->s;
	uint64_t session = key_hash(t->prefix, strlen(t->prefix));
	struct srow *r;
	size_t i;
	int w;

	t->nrows = t->ncrows;
	t->pending = t->nrows;
	s->st.rows_in += t->nrows;
	for (i = 0; i < t->ncrows; i++) {
		r = t->crows[i];
		t->crows[i] = NULL;
		w = pick_shard(s, r->cat, (enum key_result)r->kres, r->route, session);
		charge(s, (int64_t)r->bytes);
		t->shard_rows[w]++;
		shard_append(&tab->shards[w], r);
		if (t->barrier)
			shard_barrier(&tab->shards[w]);
		writer_kick(s->writers[w]);
	}
	free(t->crows);
	t->crows = NULL;
	t->ncrows = 0;
	if (t->ack == ACK_IMMEDIATE || t->nrows == 0) {
		t->reply.status = SINK_DONE;
		t->reply.rows = t->nrows;
		t->reply_due = true;
		t->settle_due = t->nrows == 0;
		notify(t);
	}
}

/* True when the database must read a key value of r: one of a type the sink
 * parses but in a spelling it does not (the output form is exact), or, with
 * several writers, one of a type the sink does not parse (its hash in the
 * database picks the writer, so every spelling of a value meets in one). */
static bool needs_canon(const struct tcat *cat, const struct srow *r, int nwriters)
{
	const struct sg_val *v;
	struct buf scratch;
	bool need = false;
	int k;

	buf_init(&scratch);
	for (k = 0; k < cat->t.nkey && !need; k++) {
		v = &r->vals[cat->t.key[k]];
		if (v->state != SG_VALUE)
			continue;
		if (cat->kinds[k] == KEY_RAW) {
			need = nwriters > 1;
		} else if (key_kind_parses(cat->kinds[k]) && !r->exact) {
			buf_reset(&scratch);
			need = !key_canon(cat->kinds[k], v->text, v->len, &scratch);
		}
	}
	buf_free(&scratch);
	return need;
}

/* Converts the ticket's statement with the table's catalog into rows, then
 * buffers them; or answers pass-through. Returns false while the ticket waits
 * for the database to canonicalize key values the sink cannot read itself. */
static bool convert(struct stable *tab, struct sink_ticket *t)
{
	struct sink *s = tab->s;
	struct tcat *cat = tab->cat;
	const struct ins_stmt *st = &t->st;
	struct srow *r;
	struct sg_val *vals = NULL;
	struct buf key;
	enum pass_reason why = PASS_MEMORY;
	enum key_result kr;
	char name[64];
	int *colmap = NULL, i, c, nv = st->nvals;
	int64_t now = sink_now_ms();
	bool ok = false, exact, canon = false;

	buf_init(&key);
	colmap = calloc((size_t)nv + 1, sizeof(int));
	vals = calloc((size_t)cat->t.ncols + 1, sizeof(*vals));
	t->crows = calloc((size_t)st->nrows + 1, sizeof(*t->crows));
	if (!colmap || !vals || !t->crows)
		goto done;
	for (i = 0; i < SINK_SETTINGS; i++)
		if (t->settings[i] && s->settings[i] && strcmp(t->settings[i], s->settings[i]) != 0) {
			why = PASS_SETTINGS;
			goto done;
		}
	if (st->ncols > 0) {
		for (i = 0; i < st->ncols; i++) {
			ins_name_resolve(&st->cols[i], tab->conf.casesensitive, name, sizeof(name));
			if (!find_column(cat, name, &colmap[i])) {
				why = PASS_UNKNOWN_COLUMN;
				/* maybe a column added since the catalog was read */
				if (now - tab->cat_ms >= RECHECK_MS)
					tab->stale = true;
				goto done;
			}
			for (c = 0; c < i; c++)
				if (colmap[c] == colmap[i]) {
					why = PASS_DUPLICATE_COLUMN;
					goto done;
				}
		}
	} else {
		if (nv > cat->t.ncols) {
			why = PASS_TOO_MANY_VALUES;
			goto done;
		}
		for (i = 0; i < nv; i++)
			colmap[i] = i;
	}
	for (i = 0; i < st->nrows; i++) {
		memset(vals, 0, (size_t)cat->t.ncols * sizeof(*vals));
		for (c = 0; c < nv; c++)
			if (!catalog_value(cat, colmap[c], &st->values[(size_t)i * (size_t)nv + (size_t)c],
					   &vals[colmap[c]], &why))
				goto done;
		exact = true;
		kr = cat->t.nkey ? key_build(&key, cat->kinds, cat->t.key, cat->t.nkey, vals,
					     cat->nulls_not_distinct, &exact) : KEY_NULL;
		if (!buf_ok(&key))
			goto done;
		r = make_row(s, t, cat, vals, &key, kr);
		if (r == NULL)
			goto done;
		t->crows[t->ncrows++] = r;
		r->cat = tcat_ref(cat);
		r->arrival_ms = now;
		r->seq = ++s->seq;
		r->hash = kr == KEY_OK ? r->hash : 0;
		r->route = r->hash;
		r->exact = exact;
		r->kres = (uint8_t)kr;
		if (kr == KEY_OK && needs_canon(cat, r, s->nwriters))
			canon = true;
	}
	ok = true;
done:
	free(colmap);
	free(vals);
	buf_free(&key);
	ticket_release_stmt(t);
	if (!ok) {
		ticket_drop_rows(t);
		reply_passthrough(t, why);
		return true;
	}
	if (canon) {
		t->canon_wait = true;
		catalog_canon(s->catalog, tab, t);
		return false;
	}
	enqueue_rows(tab, t);
	return true;
}

void sink_canon_done(struct sink_ticket *t)
{
	struct stable *tab = t->tab;

	t->canon_wait = false;
	enqueue_rows(tab, t);
	if (tab->wait_head == t)
		pop_waiting(tab);
	process_queue(tab);
}

static struct priv *find_priv(struct stable *tab, const char *role)
{
	struct priv *p;

	for (p = tab->privs; p; p = p->next)
		if (strcmp(p->role, role) == 0)
			return p;
	return NULL;
}

static void drop_priv(struct stable *tab, struct priv *p)
{
	struct priv **pp;

	for (pp = &tab->privs; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			free(p->role);
			free(p);
			return;
		}
}

static void load_catalog(struct stable *tab)
{
	tab->cstate = CAT_LOADING;
	tab->stale = false;
	catalog_load(tab->s->catalog, tab);
}

static void pop_waiting(struct stable *tab)
{
	struct sink_ticket *t = tab->wait_head;

	tab->wait_head = t->wnext;
	if (tab->wait_head == NULL)
		tab->wait_tail = NULL;
	t->wnext = NULL;
}

/* Works through the table's queue of tickets in order until one must wait. */
void process_queue(struct stable *tab)
{
	struct sink *s = tab->s;
	struct sink_ticket *t;
	struct priv *p;
	char msg[256];
	int64_t now;

	while ((t = tab->wait_head) != NULL) {
		if (t->canon_wait)
			return;
		if (tab->removed) {
			pop_waiting(tab);
			reply_passthrough(t, PASS_REMOVED);
			continue;
		}
		now = sink_now_ms();
		if (tab->cstate == CAT_LOADING)
			return;
		if (tab->cstate == CAT_NONE || (tab->cstate == CAT_READY && tab->stale) ||
		    ((tab->cstate == CAT_MISSING || tab->cstate == CAT_FAILED) &&
		     now - tab->cat_ms >= RECHECK_MS)) {
			load_catalog(tab);
			return;
		}
		if (tab->cstate == CAT_MISSING) {
			pop_waiting(tab);
			reply_passthrough(t, tab->cat_pass);
			continue;
		}
		if (tab->cstate == CAT_FAILED) {
			pop_waiting(tab);
			reply_error(t, tab->cat_err ? tab->cat_err->sqlstate : "XX000",
				    tab->cat_err ? tab->cat_err->message : "catalog lookup failed",
				    tab->cat_err ? tab->cat_err->detail : NULL, NULL);
			continue;
		}
		p = find_priv(tab, t->user);
		if (p == NULL) {
			p = calloc(1, sizeof(*p));
			if (p)
				p->role = strdup(t->user);
			if (p == NULL || p->role == NULL) {
				free(p);
				pop_waiting(tab);
				reply_passthrough(t, PASS_MEMORY);
				continue;
			}
			p->st = PRIV_CHECKING;
			p->next = tab->privs;
			tab->privs = p;
			catalog_check_priv(s->catalog, tab, t->user);
			return;
		}
		switch (p->st) {
		case PRIV_CHECKING:
			return;
		case PRIV_YES:
			if (!convert(tab, t))
				return;     /* its keys are being read by the database */
			pop_waiting(tab);
			break;
		case PRIV_NO:
			pop_waiting(tab);
			snprintf(msg, sizeof(msg), "permission denied for table %s", tab->conf.name);
			reply_error(t, "42501", msg, NULL, NULL);
			break;
		case PRIV_COLUMNS:
			pop_waiting(tab);
			reply_passthrough(t, PASS_COLUMN_PRIVILEGE);
			break;
		case PRIV_FAILED:
			pop_waiting(tab);
			drop_priv(tab, p);
			reply_passthrough(t, PASS_PRIVILEGE_CHECK);
			break;
		}
	}
}

void sink_catalog_done(struct stable *tab, enum cat_state st, struct tcat *cat, enum pass_reason why,
		       struct berr *err)
{
	struct priv *p;

	tab->cstate = st;
	tab->cat_ms = sink_now_ms();
	tab->cat_pass = why;
	berr_unref(tab->cat_err);
	tab->cat_err = berr_ref(err);
	if (st == CAT_READY) {
		if (tab->cat == NULL || tab->cat->oid != cat->oid) {
			/* another table now: privileges are checked again */
			while ((p = tab->privs) != NULL) {
				tab->privs = p->next;
				free(p->role);
				free(p);
			}
		}
		tcat_unref(tab->cat);
		tab->cat = tcat_ref(cat);
		log_debug(SINK_PREFIX, "catalog of %s.%s: %d columns, key of %d columns",
			  tab->conf.targetschema, tab->conf.name, cat->t.ncols, cat->t.nkey);
	} else if (st == CAT_FAILED) {
		log_warning(SINK_PREFIX, "catalog of %s.%s: %s", tab->conf.targetschema, tab->conf.name,
			    err ? err->message : "failed");
	}
	process_queue(tab);
}

void sink_priv_done(struct stable *tab, const char *role, enum priv_state st, struct berr *err)
{
	struct priv *p = find_priv(tab, role);

	if (p)
		p->st = st;
	if (st == PRIV_FAILED)
		log_warning(SINK_PREFIX, "INSERT privilege check of role %s on %s.%s failed: %s", role,
			    tab->conf.targetschema, tab->conf.name, err ? err->message : "");
	process_queue(tab);
}

