/* libFuzzer target: the startup packet (length word, StartupMessage, SSLRequest, GSSENCRequest, CancelRequest). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "protocol/startup.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct startup_packet sp;
	const char *why = NULL;
	long n = startup_packet_length(data, size);

	if (n > 0 && (size_t)n <= size && startup_parse(data, (size_t)n, &sp, &why)) {
		for (int i = 0; i < sp.nparams; i++)
			(void)(strlen(sp.params[i].name) + strlen(sp.params[i].value));
		if (sp.user)
			(void)strlen(sp.user);
	}
	return 0;
}
