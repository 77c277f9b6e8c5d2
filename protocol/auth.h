/* Authentication primitives over bytes, no sockets: PostgreSQL MD5 and SCRAM-SHA-256 (both sides). */
#ifndef PGBATCHD_PROTOCOL_AUTH_H
#define PGBATCHD_PROTOCOL_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_WUR __attribute__((warn_unused_result))

/* Why an authentication step failed. Every step below sets one on failure. */
enum auth_err {
	AUTH_OK = 0,
	AUTH_ERR_MALFORMED,        /* message does not follow the SCRAM grammar */
	AUTH_ERR_TOO_LONG,         /* message longer than SCRAM_MAX_MESSAGE */
	AUTH_ERR_CHANNEL_BINDING,  /* client asked for channel binding ("p="), or c= does not
	                              match the gs2 header of client-first */
	AUTH_ERR_AUTHZID,          /* client-first carried an authorization identity */
	AUTH_ERR_EXTENSION,        /* mandatory extension ("m=") we do not support */
	AUTH_ERR_NONCE,            /* nonce not printable, or not the one agreed */
	AUTH_ERR_ITERATIONS,       /* iteration count missing, < 1 or > SCRAM_MAX_ITERATIONS */
	AUTH_ERR_SALT,             /* salt empty or not base64 */
	AUTH_ERR_PROOF,            /* wrong password (or a mock exchange for an unknown user) */
	AUTH_ERR_SERVER_SIGNATURE, /* server-final's v= is not what the password implies */
	AUTH_ERR_SERVER_REJECTED,  /* server-final carried e=<reason> */
	AUTH_ERR_SECRET,           /* stored secret is unusable for this method */
	AUTH_ERR_STATE,            /* step called out of order, or after a failure */
	AUTH_ERR_INTERNAL,         /* allocation, random source or OpenSSL failure */
};

/* A short English phrase for logs ("wrong password", "malformed SCRAM message"). */
const char *auth_err_str(enum auth_err err);

/* What kind of secret a stored password string is, judged as PostgreSQL does:
 * "md5" followed by exactly 32 lowercase hex digits is MD5; a string that parses
 * as a full SCRAM-SHA-256 verifier is SCRAM; anything else is a plain password. */
enum auth_secret_kind {
	AUTH_SECRET_PLAIN = 0,
	AUTH_SECRET_MD5,
	AUTH_SECRET_SCRAM,
};
enum auth_secret_kind auth_secret_kind(const char *secret);

/* ------------------------------------------------------------------ MD5 -- */

#define AUTH_MD5_LEN 35   /* "md5" + 32 hex digits, without the NUL */

/* The stored form: "md5" + hex(md5(password || user)). out holds AUTH_MD5_LEN + 1. */
bool auth_md5_stored(const char *password, const char *user, char out[AUTH_MD5_LEN + 1]) AUTH_WUR;

/* The client's reply to AuthenticationMD5Password:
 * "md5" + hex(md5(hex32(stored) || salt)), where stored is computed from a plain
 * `secret`, or taken as is when `secret` is already in md5 form. A SCRAM secret
 * cannot produce it: false. out holds AUTH_MD5_LEN + 1. */
bool auth_md5_response(const char *secret, const char *user, const unsigned char salt[4],
		       char out[AUTH_MD5_LEN + 1]) AUTH_WUR;

/* Server side: does the client's PasswordMessage payload (resp[0..len), without
 * its terminating NUL) match the stored `secret` (plain or md5 form) for `user`
 * and this connection's salt? Constant-time compare. False for a SCRAM secret. */
bool auth_md5_verify(const char *secret, const char *user, const unsigned char salt[4],
		     const char *resp, size_t len) AUTH_WUR;

/* -------------------------------------------------------- SCRAM-SHA-256 -- */

#define SCRAM_MECHANISM          "SCRAM-SHA-256"
#define SCRAM_KEY_LEN            32        /* SHA-256 output */
#define SCRAM_SALT_LEN           16        /* salt of verifiers we generate */
#define SCRAM_NONCE_RAW_LEN      18        /* random bytes behind each nonce (24 chars) */
#define SCRAM_DEFAULT_ITERATIONS 4096
/* Messages come from the network: anything longer is refused (AUTH_ERR_TOO_LONG). */
#define SCRAM_MAX_MESSAGE        4096
/* The client side runs PBKDF2 with the server's count on the caller's thread; a
 * hostile or misconfigured backend must not stall it for minutes. */
#define SCRAM_MAX_ITERATIONS     10000000

/*
 * Message convention for both sides: inputs are (msg, len) and need not be
 * NUL-terminated; a message with an embedded NUL is malformed. Outputs are
 * NUL-terminated strings owned by the state object, valid until the next call on
 * it or its _free; *outlen gets their length (the bytes to put in the SASL message).
 * After any failure the object stays failed: later steps return false with
 * AUTH_ERR_STATE; _error() keeps the first reason.
 *
 * SASLprep: a password that is all ASCII is used as is, which is exactly what
 * SASLprep yields for it. For non-ASCII passwords we do what PostgreSQL does when
 * it cannot normalize (invalid UTF-8, prohibited characters): use the raw bytes.
 * Without NFKC normalization, a non-ASCII password interoperates with libpq and
 * PostgreSQL only if it is already in normalized form (true of ordinary text
 * typed in NFC and free of compatibility characters and non-ASCII spaces).
 */

/* Server side: we authenticate a client (AuthenticationSASL flow). */
struct scram_server;

/* From the user's stored secret: a plain password (a verifier is built with a
 * fresh random SCRAM_SALT_LEN-byte salt and SCRAM_DEFAULT_ITERATIONS) or a
 * "SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>" verifier. An md5 secret
 * cannot do SCRAM: NULL with *err = AUTH_ERR_SECRET (the caller should then run a
 * mock exchange so the client cannot tell). NULL with AUTH_ERR_INTERNAL on
 * allocation or random failure. err may be NULL.
 * Cost: a verifier needs only HMACs per exchange; a plain password runs PBKDF2
 * (SCRAM_DEFAULT_ITERATIONS) here, on the caller's thread, for every exchange,
 * which also makes it measurably slower than scram_server_new_mock. Store
 * verifiers (scram_build_secret) in the auth file. */
struct scram_server *scram_server_new(const char *secret, enum auth_err *err) AUTH_WUR;

/* A doomed exchange for an unknown user (or one whose secret cannot do SCRAM):
 * every message is parsed and answered as for a real user, and the final step
 * fails with AUTH_ERR_PROOF. The salt is derived from SHA-256(mock_key || user),
 * so repeated attempts for the same name see the same salt, as for a real user.
 * mock_key is a server-lifetime random secret (e.g. 32 bytes from RAND_bytes at
 * start-up). NULL only on allocation failure. */
struct scram_server *scram_server_new_mock(const char *user, const unsigned char *mock_key,
					   size_t mock_key_len) AUTH_WUR;

void scram_server_free(struct scram_server *s);

/* Step 1: parse client-first-message (the SASLInitialResponse data) and produce
 * server-first-message "r=<client nonce><server nonce>,s=<salt>,i=<iterations>".
 * Accepts gs2 flags "n,," and "y,,"; rejects "p=..." (we never offer
 * SCRAM-SHA-256-PLUS), any authzid, and "m=". ("y" is fine only because we never
 * advertise PLUS: a server that does must refuse "y" over TLS as a downgrade.) The username attribute may be
 * empty (libpq sends "n=") and is otherwise ignored, as PostgreSQL does: the user
 * is the one from the StartupMessage. */
bool scram_server_first(struct scram_server *s, const char *msg, size_t len,
			const char **out, size_t *outlen) AUTH_WUR;

/* Step 2: parse client-final-message (SASLResponse data), check c= and r=,
 * verify the proof in constant time, and produce server-final "v=<signature>".
 * A wrong password gives false with AUTH_ERR_PROOF. */
bool scram_server_final(struct scram_server *s, const char *msg, size_t len,
			const char **out, size_t *outlen) AUTH_WUR;

enum auth_err scram_server_error(const struct scram_server *s);
/* True once step 2 succeeded: the client proved it knows the password. */
bool scram_server_done(const struct scram_server *s);

/* Test hook: use `nonce` (printable, no ',') as the server nonce continuation
 * instead of a random one. Only before step 1. */
bool scram_server_test_set_nonce(struct scram_server *s, const char *nonce) AUTH_WUR;

/* Client side: the proxy authenticates to a backend with a plain password. */
struct scram_client;

/* user may be NULL or "" (libpq sends "n=" and the server uses the startup user);
 * otherwise it is sent SASLname-escaped. NULL on allocation failure or a NULL
 * password. */
struct scram_client *scram_client_new(const char *password, const char *user) AUTH_WUR;
void scram_client_free(struct scram_client *c);

/* Step 1: client-first-message "n,,n=<user>,r=<nonce>" for SASLInitialResponse. */
bool scram_client_first(struct scram_client *c, const char **out, size_t *outlen) AUTH_WUR;

/* Step 2: parse server-first-message (AuthenticationSASLContinue data): the nonce
 * must extend ours with printable characters, the salt must be non-empty base64,
 * 1 <= iterations <= SCRAM_MAX_ITERATIONS. Produces client-final-message with the
 * proof, for SASLResponse. */
bool scram_client_final(struct scram_client *c, const char *msg, size_t len,
			const char **out, size_t *outlen) AUTH_WUR;

/* Step 3: check server-final-message (AuthenticationSASLFinal data): "v=" must
 * carry the server signature our password implies (constant-time compare);
 * "e=" gives AUTH_ERR_SERVER_REJECTED. */
bool scram_client_verify(struct scram_client *c, const char *msg, size_t len) AUTH_WUR;

enum auth_err scram_client_error(const struct scram_client *c);
/* True once step 3 succeeded: the server proved it knows the verifier. */
bool scram_client_done(const struct scram_client *c);

/* Test hook: use `nonce` (printable, no ',') as the client nonce. Only before step 1. */
bool scram_client_test_set_nonce(struct scram_client *c, const char *nonce) AUTH_WUR;

/* A verifier as PostgreSQL stores it in pg_authid.rolpassword:
 * "SCRAM-SHA-256$<iterations>:<b64 salt>$<b64 StoredKey>:<b64 ServerKey>".
 * salt NULL means a fresh random salt of saltlen bytes (SCRAM_SALT_LEN if
 * saltlen is 0). iterations must be 1..SCRAM_MAX_ITERATIONS. Returns a malloc'd
 * string the caller frees, NULL on bad arguments or allocation failure. */
char *scram_build_secret(const char *password, const unsigned char *salt, size_t saltlen,
			 int iterations) AUTH_WUR;

#endif
