/* A client session's way in: its startup packet, authentication, then its login -- checked for a session that may start without a backend (logincache.h), or a backend of its own. */
#include "proxy/clogin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "conf/config.h"
#include "protocol/auth.h"
#include "protocol/pktbuf.h"
#include "protocol/reader.h"
#include "protocol/startup.h"
#include "proxy/backend.h"
#include "proxy/client.h"
#include "proxy/console.h"
#include "proxy/daemon.h"
#include "proxy/intercept.h"
#include "proxy/isess.h"
#include "proxy/logincache.h"
#include "proxy/sock.h"
#include "sink/sink.h"

#define SEAM_CORE
#include "proxy/seam.h"

#define AUTH_MSG_MAX 65535      /* PostgreSQL's PG_MAX_AUTH_TOKEN_LENGTH */

static void write_pkt(struct client *c, struct pktbuf *pb)
{
	if (pkt_ok(pb))
		client_put(c, pb->data, pb->len);
	pkt_free(pb);
}

static void open_backend(struct client *c)
{
	if (!backend_open(c, false))
		client_fatal(c, "08006", "could not connect to the backend", NULL);
}

/* A session that may start without a backend: its database has configured
 * tables, and it is no replication connection. */
static bool may_start_backendless(const struct client *c)
{
	if (!c->d->cfg->lazy_backend || !sink_serves(c->d->sink, c->database))
		return false;
	for (char **p = c->params; p && p[0]; p += 2)
		if (strcmp(p[0], "replication") == 0)
			return false;
	return true;
}

static void auth_ok(struct client *c)
{
	struct pktbuf pb;

	pkt_init(&pb);
	pkt_auth(&pb, 0, NULL, 0);
	write_pkt(c, &pb);
	client_set_state(c, CL_LOGIN);
	log_info(c->prefix, "login: authenticated (%s)",
		 c->d->cfg->auth_type == AUTH_TRUST ? "trust" :
		 c->d->cfg->auth_type == AUTH_MD5 ? "md5" : "scram-sha-256");
	if (console_wanted(c)) {
		console_login(c);
		return;
	}
	if (may_start_backendless(c)) {
		switch (logincache_lookup(c->d, c->user, c->params, &c->login)) {
		case LC_KNOWN:
			client_login_known(c);
			return;
		case LC_WAIT:
			return;         /* client_login_known() */
		case LC_NONE:
			break;
		}
	}
	open_backend(c);
}

static void said_param(struct client *c, const uint8_t *body, uint32_t len)
{
	struct pktreader r;
	const char *name, *value;

	rd_init(&r, body, len);
	if (rd_cstring(&r, &name, NULL) && rd_cstring(&r, &value, NULL))
		intercept_param(c, name, value);
}

void client_login_known(struct client *c)
{
	struct lc_entry *e = c->login;
	const uint8_t *m, *row;
	uint32_t n, rowlen;
	struct pktreader r;
	struct pktbuf pb;
	int ntables;

	if (c->d->shutting_down) {
		client_fatal(c, "57P03", "the database system is shutting down", NULL);
		return;
	}
	if (!lc_accepted(e)) {
		/* the server's own words for this login, as it said them */
		lc_refusal(e, &m, &n);
		client_put(c, m, n);
		client_finish(c, "backend refused the login");
		return;
	}
	if (lc_needs_backend(e)) {
		c->login = NULL;
		lc_unref(e);
		open_backend(c);
		return;
	}
	/* what a backend logging in with this startup packet says, then a key
	 * of pgbatchd's own and ReadyForQuery */
	lc_said(e, &m, &n);
	client_put(c, m, n);
	rd_init(&r, m, n);
	for (;;) {
		uint8_t type;
		uint32_t len;
		const uint8_t *body;

		if (!rd_u8(&r, &type) || !rd_u32(&r, &len) || len < 4 || !rd_bytes(&r, len - 4, &body))
			break;
		if (type == 'S')
			said_param(c, body, len - 4);
	}
	c->key_pid = 0x40000000u | (uint32_t)(c->id & 0x3fffffff);
	if (RAND_bytes((unsigned char *)&c->key_secret, sizeof(c->key_secret)) != 1)
		c->key_secret = (uint32_t)c->id * 2654435761u;
	pkt_init(&pb);
	pkt_backend_key(&pb, c->key_pid, c->key_secret);
	pkt_ready(&pb, 'I');
	write_pkt(c, &pb);
	c->backendless = true;
	c->idle_ms = lc_idle_timeout(e);
	c->tx_status = 'I';
	client_set_state(c, CL_ACTIVE);
	log_info(c->prefix, "login: session ready, without a backend of its own");
	if (lc_view(e, &row, &rowlen, &ntables))
		isess_login_view(c, row, rowlen, ntables);
	sock_kick(c->sk);
}

static void auth_failed(struct client *c, const char *why)
{
	char msg[256];

	log_info(c->prefix, "authentication failed: %s", why);
	snprintf(msg, sizeof(msg), "password authentication failed for user \"%s\"", c->user);
	client_fatal(c, "28P01", msg, NULL);
}

static const char *user_secret(struct client *c)
{
	return c->d->users ? userlist_find(c->d->users, c->user) : NULL;
}

static void start_auth(struct client *c)
{
	struct pktbuf pb;
	const char *secret;
	enum auth_err err;
	static const char *const mechs[] = { SCRAM_MECHANISM, NULL };

	pkt_init(&pb);
	switch (c->d->cfg->auth_type) {
	case AUTH_TRUST:
		pkt_free(&pb);
		auth_ok(c);
		return;
	case AUTH_MD5:
		if (RAND_bytes(c->md5_salt, sizeof(c->md5_salt)) != 1) {
			pkt_free(&pb);
			client_fatal(c, "XX000", "could not generate random salt", NULL);
			return;
		}
		pkt_auth(&pb, 5, c->md5_salt, sizeof(c->md5_salt));
		write_pkt(c, &pb);
		client_set_state(c, CL_AUTH_MD5);
		return;
	case AUTH_SCRAM:
		secret = user_secret(c);
		c->scram = NULL;
		if (secret && auth_secret_kind(secret) != AUTH_SECRET_MD5)
			c->scram = scram_server_new(secret, &err);
		if (c->scram == NULL)
			c->scram = scram_server_new_mock(c->user, c->d->scram_mock_key,
							 sizeof(c->d->scram_mock_key));
		if (c->scram == NULL) {
			pkt_free(&pb);
			client_fatal(c, "53200", "out of memory", NULL);
			return;
		}
		pkt_auth_sasl_mechs(&pb, mechs);
		write_pkt(c, &pb);
		client_set_state(c, CL_AUTH_SASL_INIT);
		return;
	}
}

static char *xstrdup(const char *s)
{
	char *p = strdup(s);

	if (p == NULL)
		abort();
	return p;
}

static bool over_tcp(const struct client *c)
{
	return strcmp(c->peer, "unix") != 0;
}

/* client_tls_sslmode, once the user is known: false when the session is
 * refused (with PostgreSQL's words for a hostssl-only pg_hba.conf and for
 * clientcert=verify-ca / verify-full). */
static bool tls_allows(struct client *c)
{
	enum tls_mode mode = c->d->tls_ctx ? c->d->cfg->client_tls_sslmode : TLS_DISABLE;
	char msg[512], host[64], cn[256];
	size_t hl;

	if (mode < TLS_REQUIRE || !over_tcp(c))
		return true;
	if (!sock_tls(c->sk)) {
		/* the peer's address without its port: "a.b.c.d:p" or "[v6]:p" */
		snprintf(host, sizeof(host), "%s", c->peer[0] == '[' ? c->peer + 1 : c->peer);
		hl = strlen(host);
		while (hl > 0 && host[hl - 1] != ':')
			hl--;
		if (hl > 0)
			host[hl - 1 - (c->peer[0] == '[')] = '\0';
		snprintf(msg, sizeof(msg), "no pg_hba.conf entry for host \"%s\", user \"%s\", database \"%s\", no encryption",
			 host, c->user, c->database);
		client_fatal(c, "28000", msg, NULL);
		return false;
	}
	if (mode < TLS_VERIFY_CA)
		return true;
	if (!sock_tls_peer_cn(c->sk, cn, sizeof(cn))) {
		client_fatal(c, "28000", "connection requires a valid client certificate", NULL);
		return false;
	}
	if (mode == TLS_VERIFY_FULL && strcmp(cn, c->user) != 0) {
		snprintf(msg, sizeof(msg), "certificate validation (clientcert=verify-full) failed for user \"%s\": CN mismatch",
			 c->user);
		client_fatal(c, "28000", msg, NULL);
		return false;
	}
	return true;
}

static void take_startup(struct client *c, const struct startup_packet *sp)
{
	int i, n = 0;

	c->user = xstrdup(sp->user);
	c->database = xstrdup(sp->database);
	c->version = sp->version;
	c->params = calloc((size_t)sp->nparams * 2 + 5, sizeof(char *));
	if (c->params == NULL)
		abort();
	for (i = 0; i < sp->nparams; i++) {
		c->params[n++] = xstrdup(sp->params[i].name);
		c->params[n++] = xstrdup(sp->params[i].value);
	}
	/* The backend must see the database even when the client left it implicit. */
	if (sp->database == sp->user) {
		bool has_db = false;
		for (i = 0; i < sp->nparams; i++)
			if (strcmp(sp->params[i].name, "database") == 0)
				has_db = true;
		if (!has_db) {
			c->params[n++] = xstrdup("database");
			c->params[n++] = xstrdup(sp->database);
		}
	}
	client_set_prefix(c);
}

static void cancel_landed(void *arg)
{
	struct client *c = arg;

	c->canceller = NULL;
	client_close(c, "cancel request handled");
}

/* The client's connection is closed once the backend's side of the
 * forwarded request was closed by the server, as libpq's PQcancel expects:
 * when it returns, the backend has been signalled. */
static void handle_cancel(struct client *c, const struct startup_packet *sp)
{
	struct client *target = daemon_find_by_key(c->d, sp->cancel_pid, sp->cancel_key);

	if (target) {
		log_info(target->prefix, "cancel request from %s", c->peer);
		if (target->console)
			console_cancel(target);
		else
			intercept_cancel(target);
		/* to its backend with the backend's key (a session given a key of
		 * pgbatchd's own may have opened one since) */
		if (target->be && target->be->state == BE_ACTIVE)
			c->canceller = daemon_send_cancel(c->d, target->be->pid, target->be->key, cancel_landed, c);
		else if (target->be && target->be->joining && evbuffer_get_length(backend_output(target->be)) > 0)
			target->cancel_on_join = true;  /* for what waits for its login: sent then */
		if (c->canceller) {
			sock_read(c->sk, false);
			return;
		}
	} else {
		log_info(c->prefix, "cancel request for an unknown backend key");
	}
	client_close(c, "cancel request handled");
}

/* A FATAL in the pre-3.0 format, as PostgreSQL answers a client that asked
 * for protocol 2: 'E', the text, a newline and a NUL. */
static void v2_fatal(struct client *c, const char *message)
{
	struct evbuffer *out = client_output(c);

	evbuffer_add_printf(out, "EFATAL:  %s\n", message);
	evbuffer_add(out, "", 1);
	client_finish(c, message);
}

/* Returns false when the client was closed. */
bool clogin_read_startup(struct client *c)
{
	struct evbuffer *in = sock_input(c->sk);
	struct startup_packet sp;
	const char *why;
	uint8_t *p;
	long n;
	bool tls;

	while (c->state == CL_STARTUP) {
		if (evbuffer_get_length(in) < 4)
			return true;
		p = evbuffer_pullup(in, 4);
		n = startup_packet_length(p, 4);
		if (n < 0) {
			/* PostgreSQL closes without a word (it only logs it) */
			client_close(c, "invalid length of startup packet");
			return false;
		}
		if (evbuffer_get_length(in) < (size_t)n)
			return true;
		p = evbuffer_pullup(in, n);
		if (!startup_parse(p, (size_t)n, &sp, &why)) {
			if (sp.silent)
				client_close(c, why);
			else if (sp.v2)
				v2_fatal(c, why);
			else
				client_fatal(c, sp.sqlstate, why, NULL);
			return false;
		}
		switch (sp.kind) {
		case STARTUP_SSL:
		case STARTUP_GSSENC:
			c->probed_only = c->probed_only && n == 8;
			evbuffer_drain(in, (size_t)n);
			tls = sp.kind == STARTUP_SSL && c->d->tls_ctx && over_tcp(c);
			if (tls && sock_tls(c->sk)) {
				/* inside TLS already: PostgreSQL reads it as a startup packet */
				client_fatal(c, "08P01", "unsupported frontend protocol 1234.5679: server supports 3.0 to 3.0",
					     NULL);
				return false;
			}
			client_put(c, tls ? "S" : "N", 1);
			/* Bytes sent before the answer could not have been encrypted:
			 * PostgreSQL takes them for an attack (CVE-2021-23214). */
			if (evbuffer_get_length(in) > 0) {
				client_fatal(c, "08P01", sp.kind == STARTUP_SSL ?
					     "received unencrypted data after SSL request" :
					     "received unencrypted data after GSSAPI encryption request",
					     "This could be either a client-software bug or evidence of an "
					     "attempted man-in-the-middle attack.");
				return false;
			}
			if (tls && !sock_start_tls(c->sk, c->d->tls_ctx)) {
				client_close(c, "cannot start TLS");
				return false;
			}
			continue;
		case STARTUP_CANCEL:
			handle_cancel(c, &sp);
			return false;
		case STARTUP_MESSAGE:
			break;
		}
		if (c->d->shutting_down) {
			client_fatal(c, "57P03", "the database system is shutting down", NULL);
			return false;
		}
		take_startup(c, &sp);
		evbuffer_drain(in, (size_t)n);
		if (!tls_allows(c))
			return false;
		if (c->d->nsessions >= c->d->cfg->max_client_conn) {
			client_fatal(c, "53300", "sorry, too many clients already", NULL);
			return false;
		}
		c->counted = true;
		c->d->nsessions++;
		start_auth(c);
		return c->state != CL_CLOSING;
	}
	return true;
}

static void sasl_step(struct client *c, const uint8_t *body, uint32_t len)
{
	struct pktreader r;
	const char *mech, *out;
	const uint8_t *data;
	size_t outlen;
	int32_t dlen;
	struct pktbuf pb;
	bool ok;

	rd_init(&r, body, len);
	if (c->state == CL_AUTH_SASL_INIT) {
		if (!rd_cstring(&r, &mech, NULL) || !rd_i32(&r, &dlen) || dlen < 0 ||
		    !rd_bytes(&r, (size_t)dlen, &data) || !rd_at_end(&r)) {
			client_fatal(c, "08P01", "malformed SASLInitialResponse message", NULL);
			return;
		}
		if (strcmp(mech, SCRAM_MECHANISM) != 0) {
			client_fatal(c, "08P01", "client selected an invalid SASL authentication mechanism", NULL);
			return;
		}
		ok = scram_server_first(c->scram, (const char *)data, (size_t)dlen, &out, &outlen);
	} else {
		ok = scram_server_final(c->scram, (const char *)body, len, &out, &outlen);
	}
	if (!ok) {
		enum auth_err err = scram_server_error(c->scram);
		if (err == AUTH_ERR_PROOF) {
			auth_failed(c, "wrong SCRAM proof");
		} else {
			client_fatal(c, "08P01", "malformed SCRAM message", auth_err_str(err));
		}
		return;
	}
	pkt_init(&pb);
	pkt_auth(&pb, c->state == CL_AUTH_SASL_INIT ? 11 : 12, out, outlen);
	write_pkt(c, &pb);
	if (c->state == CL_AUTH_SASL_INIT) {
		client_set_state(c, CL_AUTH_SASL_FINAL);
	} else {
		scram_server_free(c->scram);
		c->scram = NULL;
		auth_ok(c);
	}
}

bool clogin_read_auth(struct client *c)
{
	struct evbuffer *in = sock_input(c->sk);
	uint8_t type, *p;
	uint32_t len;
	const char *resp;
	size_t rlen;
	struct pktreader r;
	const char *secret;

	if (evbuffer_get_length(in) < PKT_HDR_LEN)
		return true;
	p = evbuffer_pullup(in, PKT_HDR_LEN);
	if (pkt_read_header(p, PKT_HDR_LEN, &type, &len) != PKT_HDR_OK || len > AUTH_MSG_MAX) {
		client_fatal(c, "08P01", "invalid message length", NULL);
		return false;
	}
	if (type != 'p') {
		char msg[96];
		snprintf(msg, sizeof(msg), "expected password response, got message type %d", type);
		client_fatal(c, "08P01", msg, NULL);
		return false;
	}
	if (evbuffer_get_length(in) < PKT_HDR_LEN + (size_t)len)
		return true;
	p = evbuffer_pullup(in, PKT_HDR_LEN + (ssize_t)len) + PKT_HDR_LEN;

	if (c->state == CL_AUTH_MD5) {
		rd_init(&r, p, len);
		if (!rd_cstring(&r, &resp, &rlen) || !rd_at_end(&r)) {
			client_fatal(c, "08P01", "invalid password packet size", NULL);
			return false;
		}
		secret = user_secret(c);
		if (secret == NULL || !auth_md5_verify(secret, c->user, c->md5_salt, resp, rlen)) {
			auth_failed(c, secret ? "wrong md5 password" : "user not in auth_file");
			return false;
		}
		evbuffer_drain(in, PKT_HDR_LEN + (size_t)len);
		auth_ok(c);
	} else {
		sasl_step(c, p, len);
		if (c->state == CL_CLOSING)
			return false;
		evbuffer_drain(in, PKT_HDR_LEN + (size_t)len);
	}
	return c->state != CL_CLOSING;
}

