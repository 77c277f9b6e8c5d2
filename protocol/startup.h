/* Startup-family packets: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest. */
#ifndef PGBATCHD_PROTOCOL_STARTUP_H
#define PGBATCHD_PROTOCOL_STARTUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STARTUP_MAX_LEN 10000       /* PostgreSQL's MAX_STARTUP_PACKET_LENGTH */
#define STARTUP_MAX_PARAMS 1024     /* a 10000-byte packet holds at most 2500 */

#define PROTO_SSL_REQUEST    80877103u
#define PROTO_GSSENC_REQUEST 80877104u
#define PROTO_CANCEL_REQUEST 80877102u

enum startup_kind { STARTUP_MESSAGE, STARTUP_SSL, STARTUP_GSSENC, STARTUP_CANCEL };

struct startup_param {
	const char *name;
	const char *value;
};

/* Strings point into the packet passed to startup_parse. */
struct startup_packet {
	enum startup_kind kind;
	uint32_t version;            /* STARTUP_MESSAGE: major << 16 | minor */
	int nparams;
	struct startup_param params[STARTUP_MAX_PARAMS];
	const char *user;            /* NULL if absent */
	const char *database;        /* defaults to user, as PostgreSQL does */
	uint32_t cancel_pid;
	uint32_t cancel_key;
	const char *sqlstate;        /* on failure: 08P01, 0A000 or 28000 */
	/* On failure, how PostgreSQL answers (ProcessStartupPacket): */
	bool silent;                 /* it closes without a word (logged only) */
	bool v2;                     /* its FATAL is in the pre-3.0 format */
	char msg[128];               /* the message, when it has to be made */
};

/* Length prefix check: 0 = need more bytes, -1 = bad length (PostgreSQL then
 * closes without a word), else the total packet length (with the length word). */
long startup_packet_length(const uint8_t *buf, size_t avail);

/* Parses one whole packet (with its length word). On failure returns false,
 * sets *why to the message and out->sqlstate, out->silent and out->v2 to how
 * PostgreSQL answers it. */
bool startup_parse(const uint8_t *pkt, size_t len, struct startup_packet *out, const char **why)
	__attribute__((warn_unused_result));

#endif
