/* Where the INSERTs of a Query's text are: every statement, WITH bodies, EXPLAIN, PREPARE, COPY (...) TO; no sockets. */
#ifndef PGBATCHD_PROTOCOL_INSERT_FIND_H
#define PGBATCHD_PROTOCOL_INSERT_FIND_H

#include <stdbool.h>
#include <stddef.h>

#include "protocol/insert.h"

/*
 * An INSERT is found where PostgreSQL's grammar runs one: at the start of a
 * statement of the text (statements split at top-level ';'), after EXPLAIN
 * [options], after PREPARE name [(types)] AS, in a WITH's common table
 * expressions and after them (a data-modifying CTE runs), inside COPY (...)
 * TO. A function body, a rule's action or a DO block is a string or runs
 * later: not found. COPY name FROM, which inserts too, is a site of its own
 * kind (copy).
 */
struct ins_site {
	struct ins_stmt head;   /* schema, table, column list; nvals: how many
	                           columns a list-less one names (see width_known) */
	size_t at;              /* where an ON CONFLICT clause goes: right after its source */
	size_t stmt_start, stmt_end; /* the top-level statement it is in (to its ';' or the end) */
	bool own_clause;        /* it has ON CONFLICT already */
	bool width_known;       /* list-less: its source's width is known (VALUES,
	                           a SELECT list without *, DEFAULT VALUES) */
	bool odd;               /* something in its head the finder cannot read
	                           (a column's subfield or subscript) */
	bool unsure;            /* where its clause goes is not certain (an ON
	                           that is neither a join's nor ON CONFLICT) */
	bool copy;              /* not an INSERT: COPY name [(columns)] FROM ...,
	                           its head the table and column list; no clause
	                           goes in it (its rows go through a staging table) */
	size_t name_start, name_end;    /* copy: the table's name as written */
};

struct ins_sites {
	struct ins_site *v;
	int n, cap;
};

enum ins_find_result {
	INS_FIND_OK = 0,        /* *out holds every site (maybe none) */
	INS_FIND_LEXERR,        /* the text does not lex (PostgreSQL refuses it whole) */
	INS_FIND_NOMEM,
};

/* Finds the INSERT sites of sql[0..len). scs_off: standard_conforming_strings
 * is off. Free *out with ins_sites_free whatever the result. */
enum ins_find_result ins_find(const char *sql, size_t len, bool scs_off, struct ins_sites *out)
	__attribute__((warn_unused_result));
void ins_sites_free(struct ins_sites *s);

/* Cheap test: does the text contain `word` (lower case ASCII) anywhere, in
 * any case? (ins_mentions(sql, len, "insert") before ins_find.) */
bool ins_mentions(const char *sql, size_t len, const char *word);
/* Either of two words, in one pass (non-empty words). */
bool ins_mentions2(const char *sql, size_t len, const char *w1, const char *w2);

#endif
