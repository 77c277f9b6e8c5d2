/* libFuzzer target: SCRAM-SHA-256 server messages. The input is a
 * client-first-message and a client-final-message separated by a NUL byte,
 * sent to a server with a stored verifier and to a mock one (unknown user). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/auth.h"

static char *secret;

static void exchange(struct scram_server *s, const uint8_t *data, size_t size)
{
	const uint8_t *sep = memchr(data, 0, size);
	size_t first = sep ? (size_t)(sep - data) : size;
	const char *out;
	size_t outlen;

	if (s == NULL)
		return;
	if (scram_server_first(s, (const char *)data, first, &out, &outlen) && sep)
		(void)scram_server_final(s, (const char *)sep + 1, size - first - 1, &out, &outlen);
	scram_server_free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const unsigned char salt[16] = "pgbatchd-fuzzing";
	static const unsigned char key[32] = "a server-lifetime mock key.....";
	enum auth_err err;

	if (secret == NULL) {
		secret = scram_build_secret("password", salt, sizeof(salt), 4096);
		if (secret == NULL)
			abort();
	}
	exchange(scram_server_new(secret, &err), data, size);
	exchange(scram_server_new_mock("fuzz", key, sizeof(key)), data, size);
	return 0;
}
