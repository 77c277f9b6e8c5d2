/* Logging in to the backend as a client's user: the password pgbatchd uses, and the answers to the server's authentication requests. */
#ifndef PGBATCHD_PROXY_LOGIN_H
#define PGBATCHD_PROXY_LOGIN_H

#include <stdbool.h>
#include <stdint.h>

struct daemon;
struct pktbuf;
struct scram_client;

/* One login's authentication exchange. user and secret are not owned. */
struct login_auth {
	const char *user;
	const char *secret;             /* NULL: pgbatchd has no password for the user */
	struct scram_client *scram;     /* SCRAM-SHA-256 in progress */
};

/* Why a login cannot go on, as the client is told (a FATAL). */
struct login_err {
	const char *sqlstate;
	char message[128];
	const char *detail;             /* static, or NULL */
};

/* The password pgbatchd logs in with: the auth_file entry for the user, else
 * [backend] password when the user is [backend] username (or the url's user). */
const char *login_secret(const struct daemon *d, const char *user);

/* Answers one AuthenticationRequest (its body): the answer goes into out
 * (nothing for AuthenticationOk and SCRAM's final message; *ok says the
 * server accepted). False, err set, when the login cannot go on. */
bool login_answer(struct login_auth *a, const uint8_t *body, uint32_t len, struct pktbuf *out, bool *ok,
		  struct login_err *err);

void login_auth_clear(struct login_auth *a);

#endif
