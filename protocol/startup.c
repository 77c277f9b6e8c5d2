/* Startup-family packet parsing, with PostgreSQL's limits and checks. */
#include "protocol/startup.h"

#include <stdio.h>
#include <string.h>

#include "protocol/reader.h"

long startup_packet_length(const uint8_t *buf, size_t avail)
{
	uint32_t n;

	if (avail < 4)
		return 0;
	n = ((uint32_t)buf[0] << 24) | ((uint32_t)buf[1] << 16) | ((uint32_t)buf[2] << 8) | buf[3];
	if (n < 8 || n > STARTUP_MAX_LEN)
		return -1;
	return (long)n;
}

static bool parse_params(struct pktreader *r, struct startup_packet *out, const char **why)
{
	const char *name, *value;
	size_t nlen;

	for (;;) {
		if (!rd_cstring(r, &name, &nlen)) {
			*why = "invalid startup packet layout: expected terminator as last byte";
			return false;
		}
		if (nlen == 0)
			break;
		if (!rd_cstring(r, &value, NULL)) {
			*why = "invalid startup packet layout: expected terminator as last byte";
			return false;
		}
		if (out->nparams >= STARTUP_MAX_PARAMS) {
			*why = "too many startup parameters";
			return false;
		}
		out->params[out->nparams].name = name;
		out->params[out->nparams].value = value;
		out->nparams++;
		if (strcmp(name, "user") == 0)
			out->user = value;
		else if (strcmp(name, "database") == 0)
			out->database = value;
	}
	if (!rd_at_end(r)) {
		*why = "invalid startup packet layout: expected terminator as last byte";
		return false;
	}
	return true;
}

bool startup_parse(const uint8_t *pkt, size_t len, struct startup_packet *out, const char **why)
{
	struct pktreader r;
	uint32_t declared, code;

	memset(out, 0, sizeof(*out));
	out->sqlstate = "08P01";
	out->silent = true;
	*why = "invalid length of startup packet";
	rd_init(&r, pkt, len);
	if (len < 8 || len > STARTUP_MAX_LEN || !rd_u32(&r, &declared) || declared != len)
		return false;
	if (!rd_u32(&r, &code))
		return false;

	switch (code) {
	case PROTO_SSL_REQUEST:
	case PROTO_GSSENC_REQUEST:
		/* PostgreSQL reads the packet's length and answers whatever follows the code */
		out->kind = code == PROTO_SSL_REQUEST ? STARTUP_SSL : STARTUP_GSSENC;
		return true;
	case PROTO_CANCEL_REQUEST:
		out->kind = STARTUP_CANCEL;
		if (!rd_u32(&r, &out->cancel_pid) || !rd_u32(&r, &out->cancel_key) || !rd_at_end(&r))
			return false;
		return true;
	default:
		break;
	}

	out->silent = false;
	out->kind = STARTUP_MESSAGE;
	out->version = code;
	if ((code >> 16) != 3) {
		snprintf(out->msg, sizeof(out->msg),
			 "unsupported frontend protocol %u.%u: server supports 3.0 to 3.0",
			 code >> 16, code & 0xFFFF);
		*why = out->msg;
		out->sqlstate = "0A000";
		out->v2 = (code >> 16) < 3;
		return false;
	}
	if (!parse_params(&r, out, why))
		return false;
	if (out->user == NULL || out->user[0] == '\0') {
		*why = "no PostgreSQL user name specified in startup packet";
		out->sqlstate = "28000";
		return false;
	}
	if (out->database == NULL || out->database[0] == '\0')
		out->database = out->user;
	return true;
}
