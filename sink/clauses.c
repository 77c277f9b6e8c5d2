/* The questions of the proxy's clause paths (sink.h): the conflict clause of an INSERT that passes through, and of a COPY through a staging table. */
#include "sink/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum sink_clause sink_clause(struct sink_session *ss, const struct ins_stmt *head, bool width_known,
			     bool can_wait, const char *database, char **clause)
{
	struct sink *s = ss ? ss->s : NULL;
	struct stable *tab;

	*clause = NULL;
	if (s == NULL || !sink_wants(s, head, database) || (tab = find_table(s, head)) == NULL)
		return SINK_CLAUSE_NONE;
	if (table_loading(tab, sink_now_ms()) && (can_wait || tab->cat == NULL)) {
		s->tx_waiting = true;   /* sink_catalog_done wakes the sessions */
		return SINK_CLAUSE_WAIT;
	}
	if (tab->cstate == CAT_MISSING && tab->cat_pass != PASS_CATALOG_LOCKED)
		return SINK_CLAUSE_NONE;    /* no such table: the database's error */
	/* (read again after DDL, or not readable now: the one read before) */
	if (tab->cat == NULL)
		return tab->conf.conflictmode == CONFLICT_STRICT ? SINK_CLAUSE_NONE : SINK_CLAUSE_UNKNOWN;
	if (tab->conf.conflictmode == CONFLICT_STRICT || tab->cat->t.nkey == 0)
		return SINK_CLAUSE_NONE;
	if (head->schema.name == NULL && !session_resolves(ss, tab))
		return SINK_CLAUSE_NONE;    /* the name resolves elsewhere in this session */
	if (!width_known && tab->conf.conflictmode == CONFLICT_UPDATE)
		return SINK_CLAUSE_COLUMNS;     /* it sets the columns the INSERT names */
	*clause = convert_head_clause(s, tab, head);
	return *clause ? SINK_CLAUSE_SOME : SINK_CLAUSE_NONE;
}

enum sink_clause sink_describe(struct sink_session *ss, const struct ins_stmt *tmpl, const char *database,
			       const uint32_t *declared, int ndeclared, uint32_t *out, int nout)
{
	struct sink *s = ss ? ss->s : NULL;
	struct stable *tab;

	if (s == NULL || !sink_wants(s, tmpl, database) || (tab = find_table(s, tmpl)) == NULL)
		return SINK_CLAUSE_NONE;
	if (table_loading(tab, sink_now_ms())) {
		s->tx_waiting = true;   /* sink_catalog_done wakes the sessions */
		return SINK_CLAUSE_WAIT;
	}
	if (tab->cstate != CAT_READY || tab->cat == NULL)
		return SINK_CLAUSE_NONE;
	/* its bare name finds the table in the session: the role may use the
	 * schema (a search_path leaves out a schema it may not), which a
	 * qualified name needs too */
	if (!session_resolves(ss, tab))
		return SINK_CLAUSE_NONE;
	return convert_describe(tab->cat, tmpl, declared, ndeclared, out, nout) ? SINK_CLAUSE_SOME :
										  SINK_CLAUSE_NONE;
}

/* Nothing of the table's, as last read, runs user code on an INSERT. */
static bool table_inert(const struct stable *tab)
{
	const struct traits *tr;

	if (tab == NULL || tab->cat == NULL || tab->cstate != CAT_READY || tab->stale)
		return false;
	tr = &tab->cat->tr;
	return !tr->row_triggers && !tr->stmt_triggers && !tr->rules && !tr->other_volatile_defaults &&
	       !tr->other_code;
}

bool sink_insert_inert(struct sink_session *ss, const struct ins_stmt *head, const char *database)
{
	struct sink *s = ss ? ss->s : NULL;
	struct stable *tab;

	if (s == NULL || !sink_wants(s, head, database) || (tab = find_table(s, head)) == NULL)
		return false;
	if (head->schema.name == NULL && !session_resolves(ss, tab))
		return false;           /* another table of that name: not known */
	return table_inert(tab);
}

bool sink_unit_inert(const struct sink_unit *u)
{
	for (int i = 0; i < u->nstmts; i++)
		if (!u->stmts[i].passed && !table_inert(u->stmts[i].tab))
			return false;
	return true;
}

void sink_clause_error(struct sink_session *ss, const struct ins_stmt *head, char sqlstate[6], char *msg,
		       size_t len)
{
	struct stable *tab = ss ? find_table(ss->s, head) : NULL;
	const char *m = tab && tab->cat_err ? berr_field(tab->cat_err, 'M') : NULL;

	snprintf(sqlstate, 6, "%s", m ? tab->cat_err->sqlstate : "0A000");
	snprintf(msg, len, "%s", m ? m : "");
}

bool sink_copies(struct sink_session *ss, const struct ins_stmt *head)
{
	struct stable *tab = ss ? find_table(ss->s, head) : NULL;

	return tab && tab->conf.copyclause;
}

enum sink_clause sink_copy(struct sink_session *ss, const struct ins_stmt *head, bool can_wait,
			   const char *database, const char *stage, struct sink_copy *out)
{
	struct sink *s = ss ? ss->s : NULL;
	struct stable *tab;
	struct buf b;
	char *clause = NULL;
	enum sink_clause r;

	memset(out, 0, sizeof(*out));
	r = sink_clause(ss, head, true, can_wait, database, &clause);
	free(clause);
	tab = s ? find_table(s, head) : NULL;
	if (tab == NULL || !tab->conf.copyclause || r == SINK_CLAUSE_COLUMNS)
		return SINK_CLAUSE_NONE;
	if (r != SINK_CLAUSE_SOME)
		return r;
	out->oid = tab->cat->oid;
	if (tab->cat->tr.rules) {
		snprintf(out->refusal, sizeof(out->refusal), "COPY into table \"%s\" cannot take its conflict "
			 "clause: the table has rules, which COPY does not run and INSERT does", tab->conf.name);
		return SINK_CLAUSE_SOME;
	}
	out->relname = strdup(tab->conf.name);
	out->schema = strdup(tab->conf.targetschema);
	buf_init(&b);
	if (convert_copy_stage(tab, catalog_version(s->catalog), stage, &b))
		out->create = buf_steal(&b);
	buf_free(&b);
	buf_init(&b);
	if (convert_copy_insert(tab, head, stage, &b))
		out->insert = buf_steal(&b);
	buf_free(&b);
	if (!out->create || !out->insert || !out->relname || !out->schema) {
		free(out->create);
		free(out->insert);
		free(out->relname);
		free(out->schema);
		out->create = out->insert = out->relname = out->schema = NULL;
		snprintf(out->refusal, sizeof(out->refusal), "COPY into table \"%s\" cannot take its conflict "
			 "clause: out of memory, or a column name pgbatchd cannot quote", tab->conf.name);
	}
	return SINK_CLAUSE_SOME;     /* (counted in pass_clauses by sink_clause) */
}

void sink_session_seq_own(struct sink_session *ss, const struct ins_stmt *st)
{
	struct stable *tab = ss ? find_table(ss->s, st) : NULL;

	if (tab && tab->cat && tab->cat->tr.sequence_defaults)
		ss->seq_taken = false;
}

char *sink_head_clause(struct sink_session *ss, const struct ins_stmt *head, const char *database)
{
	char *clause;

	return sink_clause(ss, head, true, false, database, &clause) == SINK_CLAUSE_SOME ? clause : NULL;
}
