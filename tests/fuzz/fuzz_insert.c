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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ins_stmt st;
	const char *sql = (const char *)data;

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
