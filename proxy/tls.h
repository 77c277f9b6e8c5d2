/* TLS contexts from the configuration: the server side of clients' TLS (client_tls_*). */
#ifndef PGBATCHD_PROXY_TLS_H
#define PGBATCHD_PROXY_TLS_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct ssl_ctx_st;

/* The context client_tls_* describe, its files read now: *out NULL with
 * client_tls_sslmode = disable. False (err says why) when a file cannot be
 * read or the key does not match the certificate. */
bool tls_server_ctx(const struct config *cfg, struct ssl_ctx_st **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* The context for pgbatchd's own connections to the server (pass-through
 * sessions, login checks) by config_server_tls_mode: *out NULL when they
 * do not use TLS (disable, or a unix-socket server). False (err says why)
 * when a file cannot be read. */
bool tls_backend_ctx(const struct config *cfg, struct ssl_ctx_st **out, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* Let go (the sessions using it keep it until they end). */
void tls_ctx_free(struct ssl_ctx_st *ctx);

#endif
