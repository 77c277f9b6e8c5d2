/* Intake: each session's units in the order sent -- the table's catalog, the role's privilege, conversion into rows -- until they are decided or placed. */
#include "sink/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"

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

bool table_loading(struct stable *tab, int64_t now)
{
	struct sink *s = tab->s;

	if (tab->cstate == CAT_LOADING)
		return true;
	if (tab->cstate == CAT_NONE || (tab->cstate == CAT_READY && tab->stale) ||
	    ((tab->cstate == CAT_MISSING || tab->cstate == CAT_FAILED) && now - tab->cat_ms >= RECHECK_MS)) {
		tab->cstate = CAT_LOADING;
		tab->stale = false;
		catalog_load(s->catalog, tab);
		return true;
	}
	return false;
}

bool session_resolves(const struct sink_session *ss, const struct stable *tab)
{
	return ss->resolved && tab->idx < ss->nresolved && tab->cat && ss->resolved[tab->idx] == tab->cat->oid;
}

enum istep { IS_DONE, IS_WAIT, IS_PASS, IS_ERROR };

/* One statement of the session's head unit: its table's catalog and the
 * role's privilege, then its rows. */
static enum istep intake_stmt(struct sink_unit *u, int i, enum pass_reason *why, struct berr **err)
{
	struct sink *s = u->s;
	struct stable *tab = u->stmts[i].tab;
	struct priv *p;
	char msg[256];
	int64_t now;

	if (tab->removed) {
		*why = PASS_REMOVED;
		return IS_PASS;
	}
	if (s->replay_hold && !u->ss->replay)
		return IS_WAIT;         /* the spool's units are read back first (spooled.c) */
	if (tab->stopped && u->tx == UTX_NONE) {
		snprintf(msg, sizeof(msg), "table \"%s\".\"%s\" takes no rows: a row acknowledged earlier was "
			 "rejected (exceptionmode = strict, ackmode = immediate); it is in the rejects file or "
			 "the log, and SIGUSR2 to pgbatchd resumes", tab->conf.targetschema, tab->conf.name);
		*err = berr_new("55000", msg, NULL, NULL);
		return IS_ERROR;
	}
	now = sink_now_ms();
	if (table_loading(tab, now))
		return IS_WAIT;
	if (tab->cstate == CAT_MISSING) {
		*why = tab->cat_pass;
		return IS_PASS;
	}
	if (tab->cstate == CAT_FAILED) {
		*err = berr_ref(tab->cat_err);
		if (*err == NULL)
			*err = berr_new("XX000", "catalog lookup failed", NULL, NULL);
		return IS_ERROR;
	}
	if (u->stmts[i].has_st && u->stmts[i].st.schema.name == NULL && !session_resolves(u->ss, tab)) {
		/* the session's search_path (or a temporary table) puts another
		 * relation of that name first, or where it resolves is unknown */
		*why = PASS_SEARCH_PATH;
		return IS_PASS;
	}
	if (u->tx != UTX_NONE) {
		if (tab->conf.txmode == TXMODE_PASS) {
			*why = PASS_TXMODE;
			return IS_PASS;
		}
		goto convert;   /* the client's own transaction: the database judges it as the client's */
	}
	p = find_priv(tab, u->ss->user);
	if (p == NULL) {
		p = calloc(1, sizeof(*p));
		if (p)
			p->role = strdup(u->ss->user);
		if (p == NULL || p->role == NULL) {
			free(p);
			*why = PASS_MEMORY;
			return IS_PASS;
		}
		p->st = PRIV_CHECKING;
		p->next = tab->privs;
		tab->privs = p;
		catalog_check_priv(s->catalog, tab, u->ss->user);
		return IS_WAIT;
	}
	if (p->st != PRIV_CHECKING && now - p->checked_ms >= PRIV_RECHECK_MS) {
		/* a GRANT or REVOKE since: asked again */
		p->st = PRIV_CHECKING;
		catalog_check_priv(s->catalog, tab, u->ss->user);
		return IS_WAIT;
	}
	switch (p->st) {
	case PRIV_CHECKING:
		return IS_WAIT;
	case PRIV_YES:
		break;
	case PRIV_NO:
		snprintf(msg, sizeof(msg), "permission denied for table %s", tab->conf.name);
		*err = berr_new("42501", msg, NULL, NULL);
		return IS_ERROR;
	case PRIV_NOROLE:
		*why = PASS_ROLE;
		return IS_PASS;
	case PRIV_COLUMNS:
		*why = PASS_COLUMN_PRIVILEGE;
		return IS_PASS;
	case PRIV_FAILED:
		drop_priv(tab, p);
		*why = PASS_PRIVILEGE_CHECK;
		return IS_PASS;
	}
convert:
	switch (convert_stmt(u, i, why)) {
	case CONVERT_OK:
	case CONVERT_CANON:
		return IS_DONE;
	case CONVERT_PASS:
		return IS_PASS;
	}
	return IS_PASS;
}

static void pop_intake(struct sink_session *ss)
{
	struct sink_unit *u = ss->ihead;

	ss->ihead = u->inext;
	if (ss->ihead == NULL)
		ss->itail = NULL;
	u->inext = NULL;
}

/* A built unit's statement is not taken: its rows leave the unit. */
void intake_stmt_passed(struct sink_unit *u, int i, enum pass_reason why)
{
	struct ustmt *us = &u->stmts[i];
	uint32_t k;

	for (k = 0; k < us->n; k++)
		row_free(u->s, u->rows[us->first + k]);
	if (us->n) {
		memmove(&u->rows[us->first], &u->rows[us->first + us->n],
			(u->nrows - us->first - us->n) * sizeof(*u->rows));
		u->nrows -= us->n;
	}
	us->n = 0;
	us->passed = true;
	us->why = why;
	u->npassed++;
	u->s->st.passthrough[why]++;
}

static enum pass_reason first_pass(const struct sink_unit *u)
{
	for (int i = 0; i < u->nstmts; i++)
		if (u->stmts[i].passed)
			return u->stmts[i].why;
	return PASS_CAST;
}

void intake_run(struct sink_session *ss)
{
	struct sink *s = ss->s;
	struct sink_unit *u;
	enum pass_reason why = PASS_MEMORY;
	struct berr *err = NULL;

	if (ss->running) {
		ss->again = true;
		return;
	}
	ss->running = true;
	do {
		ss->again = false;
		while ((u = ss->ihead) != NULL) {
			enum istep st = IS_DONE;

			while (u->cur < u->nstmts) {
				st = intake_stmt(u, u->cur, &why, &err);
				if (st == IS_WAIT)
					break;
				if (st != IS_DONE && !u->built)
					break;
				if (st != IS_DONE) {
					/* one statement of a built unit: the backend runs it (and
					 * gives its own error) */
					intake_stmt_passed(u, u->cur, why);
					berr_unref(err);
					err = NULL;
					st = IS_DONE;
				}
				unit_release_statement(u, u->cur);
				u->cur++;
				if (u->built)
					unit_notify(u);
			}
			if (st == IS_WAIT) {
				if (!ss->waiting) {
					ss->waiting = true;
					ss->wnext = s->waiting;
					s->waiting = ss;
				}
				break;
			}
			if (st == IS_PASS || st == IS_ERROR) {
				pop_intake(ss);
				if (st == IS_PASS)
					unit_decide_pass(u, why);
				else
					unit_decide_error(u, err);
				berr_unref(err);
				err = NULL;
				continue;
			}
			if (u->canon_pending > 0 || u->open)
				break;      /* sink_canon_done / sink_unit_add / close run it again */
			pop_intake(ss);
			unit_release_statements(u);
			if (u->npassed > 0)
				unit_decide_pass(u, first_pass(u));
			else if (u->cancel)
				unit_decide_error(u, u->cancel);     /* cancelled while read */
			else if (u->nrows == 0)
				unit_decide_empty(u);
			else
				sched_place(u);
		}
	} while (ss->again);
	ss->running = false;
}

void intake_wake(struct sink *s)
{
	struct sink_session *list = s->waiting, *ss;

	s->waiting = NULL;
	while ((ss = list) != NULL) {
		list = ss->wnext;
		ss->wnext = NULL;
		ss->waiting = false;
		intake_run(ss);
	}
}

void sink_canon_done(struct sink_unit *u)
{
	if (--u->canon_pending > 0)
		return;
	if (u->tx && !u->dropped)
		unit_notify(u);      /* its statements are told as decided now */
	if (u->dropped)
		unit_maybe_free(u);
	else if (u->ss->ihead == u)
		intake_run(u->ss);
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
		tcat_classify(tab->s);
		log_debug(SINK_PREFIX, "catalog of %s.%s: %d columns, key of %d columns",
			  tab->conf.targetschema, tab->conf.name, cat->t.ncols, cat->t.nkey);
	} else if (st == CAT_FAILED) {
		log_warning(SINK_PREFIX, "catalog of %s.%s: %s", tab->conf.targetschema, tab->conf.name,
			    err && berr_field(err, 'M') ? berr_field(err, 'M') : "failed");
	}
	if (tab->s->tx_waiting) {
		tab->s->tx_wake_due = true;     /* a session may wait for this catalog's clause */
		schedule_notify(tab->s);
	}
	intake_wake(tab->s);
}

void sink_priv_done(struct stable *tab, const char *role, enum priv_state st, struct berr *err)
{
	struct priv *p = find_priv(tab, role);
	bool said = p == NULL || p->norole_said;

	if (p) {
		p->st = st;
		p->checked_ms = sink_now_ms();
		p->norole_said |= st == PRIV_NOROLE;
	}
	if (st == PRIV_NOROLE && !said)
		log_warning(SINK_PREFIX, "the sink's account cannot SET ROLE to %s: that role's INSERTs into "
			    "%s.%s pass through (GRANT %s TO the account to batch them)", role,
			    tab->conf.targetschema, tab->conf.name, role);
	if (st == PRIV_FAILED)
		log_warning(SINK_PREFIX, "INSERT privilege check of role %s on %s.%s failed: %s", role,
			    tab->conf.targetschema, tab->conf.name,
			    err && berr_field(err, 'M') ? berr_field(err, 'M') : "");
	intake_wake(tab->s);
}


void intake_abort(struct sink_unit *u, struct berr *e)
{
	struct sink_session *ss = u->ss;
	struct sink_unit **pp;

	for (pp = &ss->ihead; *pp; pp = &(*pp)->inext)
		if (*pp == u) {
			*pp = u->inext;
			break;
		}
	ss->itail = NULL;
	for (struct sink_unit *x = ss->ihead; x; x = x->inext)
		ss->itail = x;
	u->inext = NULL;
	unit_decide_error(u, e);
}
