/* libFuzzer target: binary Bind parameters to the text their input reads. The
 * first byte picks a type among those pgbatchd decodes; the rest is the value. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "protocol/binval.h"

static const uint32_t oids[] = {
	16, 17, 18, 19, 20, 21, 23, 25, 26, 114, 142, 700, 701, 1042, 1043, 1082, 1083, 1114, 1184,
	1186, 1266, 1560, 1562, 1700, 2950, 3802, 1000, 1005, 1007, 1009, 1016, 1021, 1022, 1015,
	1115, 1182, 1185, 1231, 2951, 3807, 869, 650, 829, 774, 3904, 3906, 3912, 3926, 0, 705,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bv_text t;
	uint32_t oid;

	if (size < 1)
		return 0;
	oid = oids[data[0] % (sizeof(oids) / sizeof(oids[0]))];
	if (!binval_supported(oid))
		return 0;
	memset(&t, 0, sizeof(t));
	if (binval_text(oid, data + 1, size - 1, &t) == BV_OK && t.s && strlen(t.s) > t.len)
		__builtin_trap();       /* the text is what its length says */
	bv_text_free(&t);
	return 0;
}
