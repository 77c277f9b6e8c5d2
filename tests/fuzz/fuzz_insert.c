/* libFuzzer target: the INSERT recognizer (ins_parse, ins_parse_params) and the INSERT finder (ins_find, both string settings) on any text. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "protocol/insert.h"
#include "protocol/insert_find.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ins_stmt st;
	const char *sql = (const char *)data;

	if (ins_parse(sql, size, &st) == INS_OK) {
		/* every string the statement holds is readable */
		for (int i = 0; i < st.ncols; i++)
			(void)strlen(st.cols[i].name);
		for (size_t i = 0; i < (size_t)st.nrows * (size_t)st.nvals; i++)
			if (st.values[i].text)
				(void)strlen(st.values[i].text);
		if (st.end > size)
			__builtin_trap();
		ins_stmt_free(&st);
	}
	if (ins_parse_params(sql, size, &st) == INS_OK)
		ins_stmt_free(&st);
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
