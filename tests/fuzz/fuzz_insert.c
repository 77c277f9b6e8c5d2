/* libFuzzer target: the INSERT recognizer (ins_parse, ins_parse_params) and the INSERT finder (ins_find, both string settings) on any text. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "protocol/insert.h"
#include "protocol/insert_find.h"

/* A string of the statement that is still in the parser's scratch areas on
 * the stack (a returned frame, near this one) instead of in its arena. */
static void not_on_stack(const char *p, const char *here)
{
	uintptr_t a = (uintptr_t)p, h = (uintptr_t)here;

	if (p && (a > h ? a - h : h - a) < ((uintptr_t)1 << 20))
		__builtin_trap();
	if (p)
		(void)strlen(p);        /* and readable */
}

static void check(const struct ins_stmt *st)
{
	char here;

	not_on_stack(st->table.name, &here);
	not_on_stack(st->schema.name, &here);
	for (int i = 0; i < st->ncols; i++)
		not_on_stack(st->cols[i].name, &here);
	for (size_t i = 0; i < (size_t)st->nrows * (size_t)st->nvals; i++) {
		not_on_stack(st->values[i].text, &here);
		not_on_stack(st->values[i].cast, &here);
	}
}

static bool same_name(const struct ins_name *a, const struct ins_name *b)
{
	return a->quoted == b->quoted && (a->name == NULL ? b->name == NULL : b->name && strcmp(a->name, b->name) == 0);
}

static bool same_text(const char *a, const char *b, size_t n)
{
	return a == NULL ? b == NULL : b && memcmp(a, b, n) == 0;
}

static enum ins_reason parse_as(const char *sql, size_t size, bool params, struct ins_stmt *st)
{
	return params ? ins_parse_params(sql, size, st) : ins_parse(sql, size, st);
}

static void same_stmt(enum ins_reason ra, struct ins_stmt *a, enum ins_reason rb, struct ins_stmt *b)
{
	if (ra != rb)
		__builtin_trap();
	if (ra != INS_OK)
		return;
	if (!same_name(&a->schema, &b->schema) || !same_name(&a->table, &b->table) || a->ncols != b->ncols ||
	    a->nrows != b->nrows || a->nvals != b->nvals || a->end != b->end || a->nparams != b->nparams)
		__builtin_trap();
	for (int i = 0; i < a->ncols; i++)
		if (!same_name(&a->cols[i], &b->cols[i]))
			__builtin_trap();
	for (size_t i = 0; i < (size_t)a->nrows * (size_t)a->nvals; i++) {
		const struct ins_value *x = &a->values[i], *y = &b->values[i];

		if (x->kind != y->kind || x->len != y->len || !same_text(x->text, y->text, x->len) ||
		    !same_text(x->cast, y->cast, x->cast ? strlen(x->cast) + 1 : 0) || x->param != y->param)
			__builtin_trap();
	}
}

/* The parser starts a statement from the last one's kept head when their
 * bytes agree that far: a parse after the previous input's, and one right
 * after its own, are the parse from scratch. */
static void same_as_fresh(const char *sql, size_t size, bool params)
{
	struct ins_stmt a, b, c;
	enum ins_reason ra, rb, rc;

	ra = parse_as(sql, size, params, &a);
	ins_parse_forget();
	rb = parse_as(sql, size, params, &b);
	rc = parse_as(sql, size, params, &c);
	same_stmt(ra, &a, rb, &b);
	same_stmt(rc, &c, rb, &b);
	ins_stmt_free(&a);
	ins_stmt_free(&c);
	/* and rows read by the fast path are the rows the general parser reads */
	ins_parse_slow(true);
	ra = parse_as(sql, size, params, &a);
	ins_parse_slow(false);
	same_stmt(ra, &a, rb, &b);
	ins_stmt_free(&a);
	ins_stmt_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ins_stmt st;
	const char *sql = (const char *)data;

	same_as_fresh(sql, size, false);
	same_as_fresh(sql, size, true);
	if (ins_parse(sql, size, &st) == INS_OK) {
		check(&st);
		if (st.end > size)
			__builtin_trap();
		ins_stmt_free(&st);
	}
	if (ins_parse_params(sql, size, &st) == INS_OK) {
		check(&st);
		ins_stmt_free(&st);
	}
	for (int scs_off = 0; scs_off < 2; scs_off++) {
		struct ins_sites sites;

		if (ins_find(sql, size, scs_off, &sites) == INS_FIND_OK)
			for (int i = 0; i < sites.n; i++)
				if (sites.v[i].at > size || sites.v[i].head.table.name == NULL ||
				    (i > 0 && sites.v[i].at < sites.v[i - 1].at))
					__builtin_trap();
		ins_sites_free(&sites);
	}
	(void)ins_looks_like_insert(sql, size);
	return 0;
}
