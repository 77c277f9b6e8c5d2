/* Logging in to the backend as a client's user: the password, and the answers to authentication requests. */
#include "proxy/login.h"

#include <stdio.h>
#include <string.h>

#include "conf/config.h"
#include "protocol/auth.h"
#include "protocol/pktbuf.h"
#include "protocol/reader.h"
#include "proxy/daemon.h"

#define SEAM_CORE
#include "proxy/seam.h"

const char *login_secret(const struct daemon *d, const char *user)
{
	const struct config *cfg = d->cfg;
	const char *s = d->users ? userlist_find(d->users, user) : NULL;

	if (s == NULL && cfg->username && strcmp(cfg->username, user) == 0)
		s = cfg->password;
	if (s == NULL && cfg->backend.user && strcmp(cfg->backend.user, user) == 0)
		s = cfg->backend.password;
	return s;
}

static bool fail(struct login_err *err, const char *sqlstate, const char *message, const char *detail)
{
	err->sqlstate = sqlstate;
	snprintf(err->message, sizeof(err->message), "%s", message);
	err->detail = detail;
	return false;
}

static bool plain_password(struct login_auth *a, const char **pw, struct login_err *err)
{
	if (a->secret == NULL)
		return fail(err, "28P01", "password authentication failed for the backend",
			    "pgbatchd has no password for this user (auth_file, or [backend] password)");
	if (auth_secret_kind(a->secret) != AUTH_SECRET_PLAIN)
		return fail(err, "28P01", "password authentication failed for the backend",
			    "the backend asks for a password method that needs the plain password, "
			    "and auth_file holds only a hash for this user");
	*pw = a->secret;
	return true;
}

static bool sasl_has_scram(const uint8_t *p, size_t n)
{
	struct pktreader r;
	const char *mech;
	size_t len;

	rd_init(&r, p, n);
	while (rd_cstring(&r, &mech, &len) && len > 0)
		if (strcmp(mech, SCRAM_MECHANISM) == 0)
			return true;
	return false;
}

bool login_answer(struct login_auth *a, const uint8_t *body, uint32_t len, struct pktbuf *out, bool *ok,
		  struct login_err *err)
{
	struct pktreader r;
	uint32_t code;
	const uint8_t *rest;
	const char *pw, *o;
	size_t olen, restlen;
	char md5[AUTH_MD5_LEN + 1];
	char msg[128];

	*ok = false;
	rd_init(&r, body, len);
	if (!rd_u32(&r, &code))
		return fail(err, "08P01", "backend sent an invalid authentication request", NULL);
	restlen = rd_remaining(&r);
	rest = body + 4;
	switch (code) {
	case 0:
		*ok = true;
		return true;
	case 3:
		if (!plain_password(a, &pw, err))
			return false;
		pkt_password(out, pw);
		return true;
	case 5:
		if (restlen != 4 || a->secret == NULL || !auth_md5_response(a->secret, a->user, rest, md5))
			return fail(err, "28P01", "password authentication failed for the backend",
				    a->secret == NULL ? "pgbatchd has no password for this user" :
				    "auth_file's secret for this user cannot answer md5");
		pkt_password(out, md5);
		return true;
	case 10:
		if (!sasl_has_scram(rest, restlen))
			return fail(err, "08004", "backend offers no supported SASL mechanism", NULL);
		if (!plain_password(a, &pw, err))
			return false;
		scram_client_free(a->scram);
		a->scram = scram_client_new(pw, NULL);
		if (a->scram == NULL || !scram_client_first(a->scram, &o, &olen))
			return fail(err, "53200", "out of memory", NULL);
		pkt_sasl_initial(out, SCRAM_MECHANISM, o, olen);
		return true;
	case 11:
		if (a->scram == NULL || !scram_client_final(a->scram, (const char *)rest, restlen, &o, &olen))
			return fail(err, "08P01", "SCRAM exchange with the backend failed",
				    a->scram ? auth_err_str(scram_client_error(a->scram)) : NULL);
		pkt_sasl_response(out, o, olen);
		return true;
	case 12:
		if (a->scram == NULL || !scram_client_verify(a->scram, (const char *)rest, restlen))
			return fail(err, "08P01", "SCRAM exchange with the backend failed",
				    a->scram ? auth_err_str(scram_client_error(a->scram)) : NULL);
		scram_client_free(a->scram);
		a->scram = NULL;
		return true;
	default:
		snprintf(msg, sizeof(msg), "backend requested an unsupported authentication method (%u)", code);
		return fail(err, "08004", msg, NULL);
	}
}

void login_auth_clear(struct login_auth *a)
{
	scram_client_free(a->scram);
	a->scram = NULL;
}
