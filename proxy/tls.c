/* TLS contexts from the configuration: the server side of clients' TLS (client_tls_*). */
#include "proxy/tls.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "conf/config.h"

#define SEAM_CORE
#include "proxy/seam.h"

static bool ssl_fail(SSL_CTX *ctx, char *err, size_t errlen, const char *what, const char *file)
{
	char buf[160];
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "unknown error");
	snprintf(err, errlen, "%s%s%s: %s", what, file ? " " : "", file ? file : "", buf);
	ERR_clear_error();
	SSL_CTX_free(ctx);
	return false;
}

bool tls_server_ctx(const struct config *cfg, SSL_CTX **out, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	int min = strcmp(cfg->client_tls_protocols, "tlsv1.3") == 0 ? TLS1_3_VERSION : TLS1_2_VERSION;

	*out = NULL;
	if (cfg->client_tls_sslmode == TLS_DISABLE)
		return true;
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return ssl_fail(NULL, err, errlen, "cannot create a TLS context", NULL);
	SSL_CTX_set_min_proto_version(ctx, min);
	/* as PostgreSQL: no compression, no renegotiation, no session cache;
	 * a peer that closes without close_notify is at EOF, not in error */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
				 SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TICKET);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* writes from a socket's output as it is: partial, and retried from
	 * where the bytes are then. Record buffers are kept while a session is
	 * busy (SSL_MODE_RELEASE_BUFFERS cost a free and a malloc per record:
	 * 1,900 instructions an INSERT); idle ones give them back
	 * (sock_tls_trim). */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_set_cipher_list(ctx, cfg->client_tls_ciphers) != 1)
		return ssl_fail(ctx, err, errlen, "client_tls_ciphers", cfg->client_tls_ciphers);
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->client_tls_cert_file) != 1)
		return ssl_fail(ctx, err, errlen, "cannot read client_tls_cert_file", cfg->client_tls_cert_file);
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->client_tls_key_file, SSL_FILETYPE_PEM) != 1)
		return ssl_fail(ctx, err, errlen, "cannot read client_tls_key_file", cfg->client_tls_key_file);
	if (SSL_CTX_check_private_key(ctx) != 1)
		return ssl_fail(ctx, err, errlen, "client_tls_key_file does not match client_tls_cert_file", NULL);
	if (cfg->client_tls_sslmode >= TLS_VERIFY_CA) {
		STACK_OF(X509_NAME) *names;

		if (SSL_CTX_load_verify_locations(ctx, cfg->client_tls_ca_file, NULL) != 1 ||
		    (names = SSL_load_client_CA_file(cfg->client_tls_ca_file)) == NULL)
			return ssl_fail(ctx, err, errlen, "cannot read client_tls_ca_file", cfg->client_tls_ca_file);
		SSL_CTX_set_client_CA_list(ctx, names);
		/* asked for, not required by the handshake: a client without one
		 * is refused after it, with PostgreSQL's words (clogin.c) */
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	*out = ctx;
	return true;
}

bool tls_backend_ctx(const struct config *cfg, SSL_CTX **out, char *err, size_t errlen)
{
	enum tls_mode mode = config_server_tls_mode(cfg);
	const char *host = cfg->backend.host;
	char ca[1024];
	SSL_CTX *ctx;

	*out = NULL;
	if (mode == TLS_DISABLE || host == NULL || host[0] == '/' || host[0] == '@')
		return true;
	ERR_clear_error();
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return ssl_fail(NULL, err, errlen, "cannot create a TLS context", NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (cfg->server_tls_cert_file &&
	    SSL_CTX_use_certificate_chain_file(ctx, cfg->server_tls_cert_file) != 1)
		return ssl_fail(ctx, err, errlen, "cannot read server_tls_cert_file", cfg->server_tls_cert_file);
	if (cfg->server_tls_key_file &&
	    SSL_CTX_use_PrivateKey_file(ctx, cfg->server_tls_key_file, SSL_FILETYPE_PEM) != 1)
		return ssl_fail(ctx, err, errlen, "cannot read server_tls_key_file", cfg->server_tls_key_file);
	if (mode >= TLS_VERIFY_CA) {
		const char *file = cfg->server_tls_ca_file;

		if (file == NULL && backend_addr_option(&cfg->backend, "sslrootcert", ca, sizeof(ca)))
			file = ca;
		if (file == NULL) {
			snprintf(err, errlen, "server_tls_ca_file is required when TLS with the server is %s",
				 mode == TLS_VERIFY_CA ? "verify-ca" : "verify-full");
			SSL_CTX_free(ctx);
			return false;
		}
		if (SSL_CTX_load_verify_locations(ctx, file, NULL) != 1)
			return ssl_fail(ctx, err, errlen, "cannot read server_tls_ca_file", file);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	*out = ctx;
	return true;
}

void tls_ctx_free(SSL_CTX *ctx)
{
	SSL_CTX_free(ctx);
}
