/* Unit tests for protocol/auth (MD5, SCRAM-SHA-256 both sides, verifiers) and protocol/base64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "protocol/auth.h"
#include "protocol/base64.h"

/* RFC 7677 section 3 test vector (proof and signature also recomputed with Python hashlib/hmac). */
#define RFC_USER        "user"
#define RFC_PASSWORD    "pencil"
#define RFC_CNONCE      "rOprNGfwEbeRWgbNEkqO"
#define RFC_SNONCE      "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define RFC_SALT64      "W22ZaJ0SNY7soEsUEjb6gQ=="
#define RFC_CLIENT_FIRST "n,,n=user,r=" RFC_CNONCE
#define RFC_SERVER_FIRST "r=" RFC_CNONCE RFC_SNONCE ",s=" RFC_SALT64 ",i=4096"
#define RFC_PROOF       "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define RFC_CLIENT_FINAL "c=biws,r=" RFC_CNONCE RFC_SNONCE ",p=" RFC_PROOF
#define RFC_SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
/* Computed independently with Python's hashlib.pbkdf2_hmac / hmac for the vector's salt. */
#define RFC_VERIFIER \
	"SCRAM-SHA-256$4096:" RFC_SALT64 \
	"$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
/* Stored by PostgreSQL 15 (SELECT rolpassword FROM pg_authid) for password 'pencil'. */
#define PG_VERIFIER_PENCIL \
	"SCRAM-SHA-256$4096:N10w+LQrxhG5sbxWNZtZPQ==$g8Gd8wbl7AH8onXNUSr65h7lQB6da7UlDb47uvSIpWs=:" \
	"Co5R2k8+BdQ5aXxIjD5VoPnHdi2vVN8esHuDvMhgWkU="
/* Stored by PostgreSQL 15 with password_encryption = md5 for role md5u, password 'secret'. */
#define PG_MD5_MD5U "md5ad16ab8cb9f9946be08171afa599199d"

static const unsigned char rfc_salt[16] = {
	0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
	0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81,
};

/* Every message goes in through an exactly sized heap copy with no NUL after it,
 * freed right after the call: ASan catches over-reads and kept pointers. */
static char *heap_copy(const char *m, size_t n)
{
	char *b = malloc(n > 0 ? n : 1);
	assert_non_null(b);
	memcpy(b, m, n);
	return b;
}

static bool srv_first(struct scram_server *s, const char *m, size_t n, const char **out,
		      size_t *outlen)
{
	char *b = heap_copy(m, n);
	bool ok = scram_server_first(s, b, n, out, outlen);
	free(b);
	return ok;
}

static bool srv_final(struct scram_server *s, const char *m, size_t n, const char **out,
		      size_t *outlen)
{
	char *b = heap_copy(m, n);
	bool ok = scram_server_final(s, b, n, out, outlen);
	free(b);
	return ok;
}

static bool cli_final(struct scram_client *c, const char *m, size_t n, const char **out,
		      size_t *outlen)
{
	char *b = heap_copy(m, n);
	bool ok = scram_client_final(c, b, n, out, outlen);
	free(b);
	return ok;
}

static bool cli_verify(struct scram_client *c, const char *m, size_t n)
{
	char *b = heap_copy(m, n);
	bool ok = scram_client_verify(c, b, n);
	free(b);
	return ok;
}

/* ------------------------------------------------------------ base64 ---- */

static void test_base64(void **state)
{
	(void)state;
	static const struct { const char *raw, *enc; } vec[] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
		{ "n,,", "biws" }, { "y,,", "eSws" },
	};
	char enc[64];
	unsigned char dec[64];
	size_t n;

	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		size_t rl = strlen(vec[i].raw);
		assert_int_equal(base64_encode((const unsigned char *)vec[i].raw, rl, enc),
				 strlen(vec[i].enc));
		assert_string_equal(enc, vec[i].enc);
		assert_true(base64_decode(vec[i].enc, strlen(vec[i].enc), dec, sizeof(dec), &n));
		assert_int_equal(n, rl);
		assert_memory_equal(dec, vec[i].raw, rl);
	}
	static const char *bad[] = {
		"Zg=", "Zg", "Z===", "Zh==", "Zm9=", "Zg==Zg==", "Zm 9v", "Zm9v\n", "Zm-v",
		"=Zm9", "Zm=v", "*m9v",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(base64_decode(bad[i], strlen(bad[i]), dec, sizeof(dec), &n));
	/* Destination too small. */
	assert_false(base64_decode("Zm9vYmFy", 8, dec, 5, &n));
	assert_true(base64_decode("Zm9vYmFy", 8, dec, 6, &n));
}

/* ------------------------------------------------------------ MD5 ------- */

static void test_md5_known_values(void **state)
{
	(void)state;
	char out[AUTH_MD5_LEN + 1];
	const unsigned char salt1[4] = { 1, 2, 3, 4 };
	const unsigned char salt2[4] = { 0xde, 0xad, 0xbe, 0xef };

	/* Expected values from: hashlib.md5((password + user).encode()).hexdigest() and
	 * hashlib.md5(stored[3:].encode() + salt).hexdigest(). */
	assert_true(auth_md5_stored("secret", "alice", out));
	assert_string_equal(out, "md54a0a68b43b6cd5cf266fa02f196e2371");
	assert_true(auth_md5_stored("pencil", "user", out));
	assert_string_equal(out, "md520c46e3762c864548e296b33c3406aa9");
	assert_true(auth_md5_stored("secret", "md5u", out));
	assert_string_equal(out, PG_MD5_MD5U);
	assert_true(auth_md5_stored("", "postgres", out));
	assert_string_equal(out, "md5e8a48653851e28c69d0506508fb27fc5");

	assert_true(auth_md5_response("secret", "alice", salt1, out));
	assert_string_equal(out, "md598a0412b9c31436fc53776e863350083");
	/* Same answer from the stored md5 form. */
	assert_true(auth_md5_response("md54a0a68b43b6cd5cf266fa02f196e2371", "alice", salt1, out));
	assert_string_equal(out, "md598a0412b9c31436fc53776e863350083");
	assert_true(auth_md5_response("pencil", "user", salt2, out));
	assert_string_equal(out, "md50f5b636d891e9860623ac8ca91fc9dfc");

	/* A SCRAM secret cannot answer an md5 challenge. */
	assert_false(auth_md5_response(RFC_VERIFIER, "user", salt2, out));
}

static void test_md5_verify(void **state)
{
	(void)state;
	const unsigned char salt[4] = { 1, 2, 3, 4 };
	const unsigned char other[4] = { 1, 2, 3, 5 };
	const char *good = "md598a0412b9c31436fc53776e863350083";
	const char *stored = "md54a0a68b43b6cd5cf266fa02f196e2371";

	assert_true(auth_md5_verify("secret", "alice", salt, good, strlen(good)));
	assert_true(auth_md5_verify(stored, "alice", salt, good, strlen(good)));
	/* Wrong password, user or salt. */
	assert_false(auth_md5_verify("Secret", "alice", salt, good, strlen(good)));
	assert_false(auth_md5_verify("secret", "alicE", salt, good, strlen(good)));
	assert_false(auth_md5_verify(stored, "alice", other, good, strlen(good)));
	/* Malformed responses: truncated, extended, upper-case hex, no prefix. */
	assert_false(auth_md5_verify("secret", "alice", salt, good, strlen(good) - 1));
	assert_false(auth_md5_verify("secret", "alice", salt, "md598A0412B9C31436FC53776E863350083", 35));
	assert_false(auth_md5_verify("secret", "alice", salt, "", 0));
	char longer[40];
	snprintf(longer, sizeof(longer), "%sx", good);
	assert_false(auth_md5_verify("secret", "alice", salt, longer, strlen(longer)));
	/* Non-NUL-terminated response of exact size. */
	char *b = heap_copy(good, 35);
	assert_true(auth_md5_verify("secret", "alice", salt, b, 35));
	free(b);
	/* A SCRAM secret cannot verify md5. */
	assert_false(auth_md5_verify(RFC_VERIFIER, "user", salt, good, strlen(good)));
	/* Round trip with our own response. */
	char out[AUTH_MD5_LEN + 1];
	assert_true(auth_md5_response("hunter2", "bob", other, out));
	assert_true(auth_md5_verify("hunter2", "bob", other, out, strlen(out)));
	assert_true(auth_md5_stored("hunter2", "bob", longer));
	assert_true(auth_md5_verify(longer, "bob", other, out, strlen(out)));
}

static void test_secret_kind(void **state)
{
	(void)state;
	assert_int_equal(auth_secret_kind("md54a0a68b43b6cd5cf266fa02f196e2371"), AUTH_SECRET_MD5);
	assert_int_equal(auth_secret_kind("md54A0a68b43b6cd5cf266fa02f196e2371"), AUTH_SECRET_PLAIN);
	assert_int_equal(auth_secret_kind("md54a0a68b43b6cd5cf266fa02f196e237"), AUTH_SECRET_PLAIN);
	assert_int_equal(auth_secret_kind(RFC_VERIFIER), AUTH_SECRET_SCRAM);
	assert_int_equal(auth_secret_kind(PG_VERIFIER_PENCIL), AUTH_SECRET_SCRAM);
	assert_int_equal(auth_secret_kind("pencil"), AUTH_SECRET_PLAIN);
	static const char *not_scram[] = {
		"SCRAM-SHA-256$",
		"SCRAM-SHA-256$4096:" RFC_SALT64 "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=",
		"SCRAM-SHA-256$0:" RFC_SALT64 "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$x:" RFC_SALT64 "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:" RFC_SALT64 "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4q=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
		"SCRAM-SHA-256$4096:" RFC_SALT64 "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=x",
		"SCRAM-SHA-1$4096:" RFC_SALT64 "$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=",
	};
	for (size_t i = 0; i < sizeof(not_scram) / sizeof(not_scram[0]); i++)
		assert_int_equal(auth_secret_kind(not_scram[i]), AUTH_SECRET_PLAIN);
}

/* ------------------------------------------------------------ verifiers - */

static void test_build_secret(void **state)
{
	(void)state;
	char *s = scram_build_secret(RFC_PASSWORD, rfc_salt, sizeof(rfc_salt), 4096);
	assert_non_null(s);
	assert_string_equal(s, RFC_VERIFIER);
	free(s);

	/* Non-ASCII password: raw UTF-8 bytes (already NFKC), checked against Python. */
	static const unsigned char salt16[16] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
	s = scram_build_secret("p\xc3\xa4ssw\xc3\xb6rd", salt16, sizeof(salt16), 10);
	assert_non_null(s);
	assert_string_equal(s, "SCRAM-SHA-256$10:AAECAwQFBgcICQoLDA0ODw==$"
			       "sW5gBsKATEGZYAC1t5FOjb+TsHJJgCHtGs5ihzPNQ9w=:"
			       "mhtbZTspskFsZL+zwlpFE+WCfnNpbN7n7R/p2WNW+Co=");
	free(s);

	/* Random salt: PostgreSQL's shape, a fresh salt each time. */
	char *a = scram_build_secret("pencil", NULL, 0, SCRAM_DEFAULT_ITERATIONS);
	char *b = scram_build_secret("pencil", NULL, 0, SCRAM_DEFAULT_ITERATIONS);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(strlen(a), strlen(PG_VERIFIER_PENCIL));
	assert_memory_equal(a, "SCRAM-SHA-256$4096:", 19);
	assert_int_equal(auth_secret_kind(a), AUTH_SECRET_SCRAM);
	assert_string_not_equal(a, b);
	free(a);
	free(b);

	assert_null(scram_build_secret("pencil", rfc_salt, sizeof(rfc_salt), 0));
	assert_null(scram_build_secret("pencil", rfc_salt, 0, 4096));
	assert_null(scram_build_secret(NULL, rfc_salt, sizeof(rfc_salt), 4096));
	assert_null(scram_build_secret("pencil", rfc_salt, sizeof(rfc_salt), SCRAM_MAX_ITERATIONS + 1));
}

/* ------------------------------------------------------------ RFC 7677 -- */

static void test_rfc7677_client(void **state)
{
	(void)state;
	const char *out;
	size_t outlen;
	struct scram_client *c = scram_client_new(RFC_PASSWORD, RFC_USER);

	assert_non_null(c);
	assert_true(scram_client_test_set_nonce(c, RFC_CNONCE));
	assert_true(scram_client_first(c, &out, &outlen));
	assert_string_equal(out, RFC_CLIENT_FIRST);
	assert_int_equal(outlen, strlen(RFC_CLIENT_FIRST));
	assert_true(cli_final(c, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), &out, &outlen));
	assert_string_equal(out, RFC_CLIENT_FINAL);
	assert_int_equal(outlen, strlen(RFC_CLIENT_FINAL));
	assert_false(scram_client_done(c));
	assert_true(cli_verify(c, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL)));
	assert_true(scram_client_done(c));
	assert_int_equal(scram_client_error(c), AUTH_OK);
	/* Nothing after the end. */
	assert_false(cli_verify(c, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL)));
	assert_int_equal(scram_client_error(c), AUTH_ERR_STATE);
	scram_client_free(c);
}

static void test_rfc7677_server(void **state)
{
	(void)state;
	const char *out;
	size_t outlen;
	enum auth_err err = AUTH_ERR_INTERNAL;
	struct scram_server *s = scram_server_new(RFC_VERIFIER, &err);

	assert_non_null(s);
	assert_int_equal(err, AUTH_OK);
	assert_true(scram_server_test_set_nonce(s, RFC_SNONCE));
	assert_true(srv_first(s, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST), &out, &outlen));
	assert_string_equal(out, RFC_SERVER_FIRST);
	assert_int_equal(outlen, strlen(RFC_SERVER_FIRST));
	assert_false(scram_server_done(s));
	assert_true(srv_final(s, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), &out, &outlen));
	assert_string_equal(out, RFC_SERVER_FINAL);
	assert_int_equal(outlen, strlen(RFC_SERVER_FINAL));
	assert_true(scram_server_done(s));
	assert_int_equal(scram_server_error(s), AUTH_OK);
	/* Replaying the final message is out of order. */
	assert_false(srv_final(s, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), &out, &outlen));
	assert_int_equal(scram_server_error(s), AUTH_ERR_STATE);
	scram_server_free(s);
}

/* The vector's proof presented to a server that picked another nonce is refused. */
static void test_rfc7677_replay_other_nonce(void **state)
{
	(void)state;
	const char *out;
	size_t outlen;
	struct scram_server *s = scram_server_new(RFC_VERIFIER, NULL);

	assert_non_null(s);
	assert_true(srv_first(s, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST), &out, &outlen));
	assert_string_not_equal(out, RFC_SERVER_FIRST);
	assert_false(srv_final(s, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), &out, &outlen));
	assert_int_equal(scram_server_error(s), AUTH_ERR_NONCE);
	scram_server_free(s);
}

/* ------------------------------------------------------------ round trips */

/* Runs a whole exchange; returns the step that failed (0 = none). */
static int exchange(const char *client_pw, const char *client_user, const char *secret,
		    enum auth_err *serr, enum auth_err *cerr)
{
	const char *out;
	size_t outlen;
	int failed = 0;
	enum auth_err err;
	struct scram_client *c = scram_client_new(client_pw, client_user);
	struct scram_server *s = scram_server_new(secret, &err);

	assert_non_null(c);
	assert_non_null(s);
	assert_true(scram_client_first(c, &out, &outlen));
	assert_int_equal(outlen, strlen(out));
	if (!srv_first(s, out, outlen, &out, &outlen))
		failed = 1;
	else if (!cli_final(c, out, outlen, &out, &outlen))
		failed = 2;
	else if (!srv_final(s, out, outlen, &out, &outlen))
		failed = 3;
	else if (!cli_verify(c, out, outlen))
		failed = 4;
	else {
		assert_true(scram_server_done(s));
		assert_true(scram_client_done(c));
	}
	*serr = scram_server_error(s);
	*cerr = scram_client_error(c);
	scram_client_free(c);
	scram_server_free(s);
	return failed;
}

static void test_round_trip(void **state)
{
	(void)state;
	enum auth_err se, ce;
	char *secret = scram_build_secret("correct horse", NULL, 0, 4096);
	assert_non_null(secret);

	/* Plain stored password, libpq-style empty username. */
	assert_int_equal(exchange("correct horse", NULL, "correct horse", &se, &ce), 0);
	assert_int_equal(se, AUTH_OK);
	assert_int_equal(ce, AUTH_OK);
	/* Stored verifier, a username that needs SASLname escaping. */
	assert_int_equal(exchange("correct horse", "a,b=c", secret, &se, &ce), 0);
	/* A verifier PostgreSQL itself generated. */
	assert_int_equal(exchange("pencil", "", PG_VERIFIER_PENCIL, &se, &ce), 0);
	/* Non-ASCII password used as raw bytes on both sides. */
	assert_int_equal(exchange("p\xc3\xa4ss", "", "p\xc3\xa4ss", &se, &ce), 0);
	/* Empty password (PostgreSQL refuses it at login, the primitives cope). */
	assert_int_equal(exchange("", "", "", &se, &ce), 0);

	/* Wrong password: the server refuses the proof; no server-final to verify. */
	assert_int_equal(exchange("Correct horse", NULL, secret, &se, &ce), 3);
	assert_int_equal(se, AUTH_ERR_PROOF);
	assert_int_equal(exchange("correct horse", NULL, "correct horsE", &se, &ce), 3);
	assert_int_equal(se, AUTH_ERR_PROOF);
	assert_int_equal(exchange("pencil ", NULL, PG_VERIFIER_PENCIL, &se, &ce), 3);
	assert_int_equal(se, AUTH_ERR_PROOF);
	assert_string_equal(auth_err_str(AUTH_ERR_PROOF), "wrong password");
	free(secret);
}

static void test_server_secret_kinds(void **state)
{
	(void)state;
	enum auth_err err = AUTH_OK;

	assert_null(scram_server_new("md54a0a68b43b6cd5cf266fa02f196e2371", &err));
	assert_int_equal(err, AUTH_ERR_SECRET);
	err = AUTH_OK;
	assert_null(scram_server_new(NULL, &err));
	assert_int_equal(err, AUTH_ERR_SECRET);
}

/* A server that signs with the wrong key is caught by the client; so is e=. */
static void test_client_checks_server(void **state)
{
	(void)state;
	static const struct { const char *msg; enum auth_err err; } bad[] = {
		{ "", AUTH_ERR_MALFORMED },
		{ "e=invalid-proof", AUTH_ERR_SERVER_REJECTED },
		{ "e=", AUTH_ERR_SERVER_REJECTED },
		{ "v=", AUTH_ERR_MALFORMED },
		{ "v=" RFC_PROOF, AUTH_ERR_SERVER_SIGNATURE },
		{ "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4", AUTH_ERR_MALFORMED },
		{ "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,", AUTH_ERR_MALFORMED },
		{ "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=x", AUTH_ERR_MALFORMED },
		{ "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95A==", AUTH_ERR_MALFORMED },
		{ "x=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", AUTH_ERR_MALFORMED },
		{ " v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", AUTH_ERR_MALFORMED },
	};
	const char *out;
	size_t outlen;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct scram_client *c = scram_client_new(RFC_PASSWORD, RFC_USER);
		assert_non_null(c);
		assert_true(scram_client_test_set_nonce(c, RFC_CNONCE));
		assert_true(scram_client_first(c, &out, &outlen));
		assert_true(cli_final(c, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), &out, &outlen));
		if (cli_verify(c, bad[i].msg, strlen(bad[i].msg)))
			fail_msg("server-final #%zu accepted: %s", i, bad[i].msg);
		if (scram_client_error(c) != bad[i].err)
			fail_msg("server-final #%zu (%s): got %s", i, bad[i].msg,
				 auth_err_str(scram_client_error(c)));
		assert_false(scram_client_done(c));
		scram_client_free(c);
	}
	/* Extensions after v= are allowed. */
	struct scram_client *c = scram_client_new(RFC_PASSWORD, RFC_USER);
	assert_non_null(c);
	assert_true(scram_client_test_set_nonce(c, RFC_CNONCE));
	assert_true(scram_client_first(c, &out, &outlen));
	assert_true(cli_final(c, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), &out, &outlen));
	assert_true(cli_verify(c, RFC_SERVER_FINAL ",x=ext", strlen(RFC_SERVER_FINAL ",x=ext")));
	scram_client_free(c);
}

/* ------------------------------------------------------------ bad input - */

struct bad_msg {
	const char *msg;
	size_t len;          /* 0: strlen(msg) */
	enum auth_err err;
};

static size_t bad_len(const struct bad_msg *b)
{
	return b->len != 0 ? b->len : strlen(b->msg);
}

static void test_bad_client_first(void **state)
{
	(void)state;
	static const struct bad_msg bad[] = {
		{ "", 0, AUTH_ERR_MALFORMED },
		{ "n", 0, AUTH_ERR_MALFORMED },
		{ "n,", 0, AUTH_ERR_MALFORMED },
		{ "n,,", 0, AUTH_ERR_MALFORMED },
		{ "n,,n=", 0, AUTH_ERR_MALFORMED },
		{ "n,,n=,", 0, AUTH_ERR_MALFORMED },
		{ "n,,n=,r", 0, AUTH_ERR_MALFORMED },
		{ "p=tls-server-end-point,,n=,r=abc", 0, AUTH_ERR_CHANNEL_BINDING },
		{ "p=tls-unique,,n=,r=abc", 0, AUTH_ERR_CHANNEL_BINDING },
		{ "n,a=alice,n=,r=abc", 0, AUTH_ERR_AUTHZID },
		{ "y,a=,n=,r=abc", 0, AUTH_ERR_AUTHZID },
		{ "x,,n=,r=abc", 0, AUTH_ERR_MALFORMED },
		{ "N,,n=,r=abc", 0, AUTH_ERR_MALFORMED },
		{ " n,,n=,r=abc", 0, AUTH_ERR_MALFORMED },
		{ "y,n=,r=abc", 0, AUTH_ERR_MALFORMED },
		{ "nn,,n=,r=abc", 0, AUTH_ERR_MALFORMED },
		{ "n,,m=ext,n=,r=abc", 0, AUTH_ERR_EXTENSION },
		{ "n,,r=abc", 0, AUTH_ERR_MALFORMED },
		{ "n,,r=abc,n=", 0, AUTH_ERR_MALFORMED },
		{ "n,,n=,s=abc", 0, AUTH_ERR_MALFORMED },
		{ "n,,n=,,r=abc", 0, AUTH_ERR_MALFORMED },
		{ "n,,n=,r=", 0, AUTH_ERR_NONCE },
		{ "n,,n=,r=,x=1", 0, AUTH_ERR_NONCE },
		{ "n,,n=,r=ab c", 0, AUTH_ERR_NONCE },
		{ "n,,n=,r=ab\x7f", 0, AUTH_ERR_NONCE },
		{ "n,,n=,r=ab\x01", 0, AUTH_ERR_NONCE },
		{ "n,,n=,r=ab\xc3\xa9", 0, AUTH_ERR_NONCE },
		{ "n,,n=a=b,r=abc", 0, AUTH_ERR_MALFORMED },
		{ "n,,n=a=2,r=abc", 0, AUTH_ERR_MALFORMED },
		{ "n,,n=a=,r=abc", 0, AUTH_ERR_MALFORMED },
		{ "n,,n=,r=abc,", 0, AUTH_ERR_MALFORMED },
		{ "n,,n=,r=abc,=x", 0, AUTH_ERR_MALFORMED },
		{ "n,,n=,r=abc,1=x", 0, AUTH_ERR_MALFORMED },
		{ "n,,n=,r=abc,xy", 0, AUTH_ERR_MALFORMED },
		{ "n,,n=,r=abc,x", 0, AUTH_ERR_MALFORMED },
		{ "n,,n=\0,r=abc", 12, AUTH_ERR_MALFORMED },
		{ "n,,n=,r=abc\0", 12, AUTH_ERR_MALFORMED },
	};
	const char *out;
	size_t outlen;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct scram_server *s = scram_server_new(RFC_VERIFIER, NULL);
		assert_non_null(s);
		if (srv_first(s, bad[i].msg, bad_len(&bad[i]), &out, &outlen))
			fail_msg("client-first #%zu accepted: %s", i, bad[i].msg);
		if (scram_server_error(s) != bad[i].err)
			fail_msg("client-first #%zu (%s): got %s", i, bad[i].msg,
				 auth_err_str(scram_server_error(s)));
		/* Failed for good. */
		assert_false(srv_final(s, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), &out, &outlen));
		assert_int_equal(scram_server_error(s), bad[i].err);
		scram_server_free(s);
	}

	/* Accepted shapes. */
	static const char *good[] = {
		"n,,n=,r=abc", "y,,n=,r=abc", RFC_CLIENT_FIRST, "n,,n=a=2Cb=3D,r=x",
		"n,,n=,r=abc,x=ext", "n,,n=\xc3\xbc,r=abc", "n,,n=,r=!\"#$%&'()*+-./~",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct scram_server *s = scram_server_new(RFC_VERIFIER, NULL);
		assert_non_null(s);
		if (!srv_first(s, good[i], strlen(good[i]), &out, &outlen))
			fail_msg("client-first #%zu refused: %s (%s)", i, good[i],
				 auth_err_str(scram_server_error(s)));
		scram_server_free(s);
	}

	/* Size cap. */
	size_t big = SCRAM_MAX_MESSAGE + 1;
	char *m = malloc(big);
	assert_non_null(m);
	memcpy(m, "n,,n=,r=", 8);
	memset(m + 8, 'a', big - 8);
	struct scram_server *s = scram_server_new(RFC_VERIFIER, NULL);
	assert_non_null(s);
	assert_false(srv_first(s, m, big, &out, &outlen));
	assert_int_equal(scram_server_error(s), AUTH_ERR_TOO_LONG);
	scram_server_free(s);
	s = scram_server_new(RFC_VERIFIER, NULL);
	assert_non_null(s);
	assert_true(srv_first(s, m, SCRAM_MAX_MESSAGE, &out, &outlen));
	scram_server_free(s);
	free(m);
}

/* Server with client nonce "CN" and server nonce "SN": all client-finals below
 * are well-formed only where the comment says so. */
#define WF_PROOF RFC_PROOF

static void test_bad_client_final(void **state)
{
	(void)state;
	static const struct { const char *first; struct bad_msg m; } bad[] = {
		{ "n,,n=,r=CN", { "", 0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "c=biws", 0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "c=biws,", 0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "c=biws,r=CNSN", 0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "c=biws,r=CNSN,", 0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "r=CNSN,c=biws,p=" WF_PROOF, 0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "c=eSws,r=CNSN,p=" WF_PROOF, 0, AUTH_ERR_CHANNEL_BINDING } },
		{ "n,,n=,r=CN", { "c=,r=CNSN,p=" WF_PROOF, 0, AUTH_ERR_CHANNEL_BINDING } },
		{ "n,,n=,r=CN", { "c=biws==,r=CNSN,p=" WF_PROOF, 0, AUTH_ERR_CHANNEL_BINDING } },
		{ "n,,n=,r=CN", { "c=cD10bHMtdW5pcXVlLCw=,r=CNSN,p=" WF_PROOF, 0,
				  AUTH_ERR_CHANNEL_BINDING } },
		{ "y,,n=,r=CN", { "c=biws,r=CNSN,p=" WF_PROOF, 0, AUTH_ERR_CHANNEL_BINDING } },
		{ "n,,n=,r=CN", { "c=biws,r=CN,p=" WF_PROOF, 0, AUTH_ERR_NONCE } },
		{ "n,,n=,r=CN", { "c=biws,r=CNSNX,p=" WF_PROOF, 0, AUTH_ERR_NONCE } },
		{ "n,,n=,r=CN", { "c=biws,r=cnsn,p=" WF_PROOF, 0, AUTH_ERR_NONCE } },
		{ "n,,n=,r=CN", { "c=biws,r=,p=" WF_PROOF, 0, AUTH_ERR_NONCE } },
		{ "n,,n=,r=CN", { "c=biws,p=" WF_PROOF, 0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "c=biws,r=CNSN,p=", 0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "c=biws,r=CNSN,p=dHzb", 0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "c=biws,r=CNSN,p=dHzbZapWMB+Ip0nvcSj16b/+kl8jjodAg8b0kENEwGY",
				  0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "c=biws,r=CNSN,p=dHzbZapWMB+Ip0nvcSj16b/+kl8jjodAg8b0kENEwGY=AAAA",
				  0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "c=biws,r=CNSN,p=dHzbZapWMB+Ip0nvcSj16b/+kl8jjodAg8b0kENEwG!=",
				  0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "c=biws,r=CNSN,p=" WF_PROOF ",x=1", 0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "c=biws,r=CNSN,p=" WF_PROOF ",", 0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "c=biws,r=CNSN,p= " WF_PROOF, 0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "c=biws,r=CNSN,1=x,p=" WF_PROOF, 0, AUTH_ERR_MALFORMED } },
		{ "n,,n=,r=CN", { "c=biws,r=CNSN\0,p=" WF_PROOF, 61, AUTH_ERR_MALFORMED } },
		/* Well-formed, but not the password: */
		{ "n,,n=,r=CN", { "c=biws,r=CNSN,p=" WF_PROOF, 0, AUTH_ERR_PROOF } },
		{ "n,,n=,r=CN", { "c=biws,r=CNSN,x=ext,p=" WF_PROOF, 0, AUTH_ERR_PROOF } },
		{ "y,,n=,r=CN", { "c=eSws,r=CNSN,p=" WF_PROOF, 0, AUTH_ERR_PROOF } },
	};
	const char *out;
	size_t outlen;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct scram_server *s = scram_server_new(RFC_VERIFIER, NULL);
		assert_non_null(s);
		assert_true(scram_server_test_set_nonce(s, "SN"));
		assert_true(srv_first(s, bad[i].first, strlen(bad[i].first), &out, &outlen));
		assert_string_equal(out, "r=CNSN,s=" RFC_SALT64 ",i=4096");
		if (srv_final(s, bad[i].m.msg, bad_len(&bad[i].m), &out, &outlen))
			fail_msg("client-final #%zu accepted: %s", i, bad[i].m.msg);
		if (scram_server_error(s) != bad[i].m.err)
			fail_msg("client-final #%zu (%s): got %s", i, bad[i].m.msg,
				 auth_err_str(scram_server_error(s)));
		assert_false(scram_server_done(s));
		scram_server_free(s);
	}
}

static void test_bad_server_first(void **state)
{
	(void)state;
#define S64 ",s=" RFC_SALT64
	static const struct bad_msg bad[] = {
		{ "", 0, AUTH_ERR_MALFORMED },
		{ "r=CN" S64 ",i=4096", 0, AUTH_ERR_NONCE },          /* no server part */
		{ "r=C" S64 ",i=4096", 0, AUTH_ERR_NONCE },
		{ "r=XXSN" S64 ",i=4096", 0, AUTH_ERR_NONCE },
		{ "r=CNS N" S64 ",i=4096", 0, AUTH_ERR_NONCE },
		{ "r=CNS\xc3\xa9" S64 ",i=4096", 0, AUTH_ERR_NONCE },
		{ "r=" S64 ",i=4096", 0, AUTH_ERR_NONCE },
		{ "m=x,r=CNSN" S64 ",i=4096", 0, AUTH_ERR_EXTENSION },
		{ "r=CNSN,s=,i=4096", 0, AUTH_ERR_SALT },
		{ "r=CNSN,s=!!!!,i=4096", 0, AUTH_ERR_SALT },
		{ "r=CNSN,s=W22ZaJ0SNY7soEsUEjb6gQ,i=4096", 0, AUTH_ERR_SALT },
		{ "r=CNSN" S64 ",i=0", 0, AUTH_ERR_ITERATIONS },
		{ "r=CNSN" S64 ",i=-1", 0, AUTH_ERR_ITERATIONS },
		{ "r=CNSN" S64 ",i=+1", 0, AUTH_ERR_ITERATIONS },
		{ "r=CNSN" S64 ",i=", 0, AUTH_ERR_ITERATIONS },
		{ "r=CNSN" S64 ",i=abc", 0, AUTH_ERR_ITERATIONS },
		{ "r=CNSN" S64 ",i=4096 ", 0, AUTH_ERR_ITERATIONS },
		{ "r=CNSN" S64 ",i=10000001", 0, AUTH_ERR_ITERATIONS },
		{ "r=CNSN" S64 ",i=99999999999999999999999", 0, AUTH_ERR_ITERATIONS },
		{ "r=CNSN" S64, 0, AUTH_ERR_MALFORMED },
		{ "r=CNSN,i=4096" S64, 0, AUTH_ERR_MALFORMED },
		{ "s=" RFC_SALT64 ",r=CNSN,i=4096", 0, AUTH_ERR_MALFORMED },
		{ "r=CNSN" S64 ",i=4096,", 0, AUTH_ERR_MALFORMED },
		{ "r=CNSN" S64 ",i=4096,?=1", 0, AUTH_ERR_MALFORMED },
		{ "e=other-error", 0, AUTH_ERR_MALFORMED },
		{ "r=CNSN\0" S64 ",i=4096", 41, AUTH_ERR_MALFORMED },
	};
#undef S64
	const char *out;
	size_t outlen;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct scram_client *c = scram_client_new("pencil", NULL);
		assert_non_null(c);
		assert_true(scram_client_test_set_nonce(c, "CN"));
		assert_true(scram_client_first(c, &out, &outlen));
		assert_string_equal(out, "n,,n=,r=CN");
		if (cli_final(c, bad[i].msg, bad_len(&bad[i]), &out, &outlen))
			fail_msg("server-first #%zu accepted: %s", i, bad[i].msg);
		if (scram_client_error(c) != bad[i].err)
			fail_msg("server-first #%zu (%s): got %s", i, bad[i].msg,
				 auth_err_str(scram_client_error(c)));
		assert_false(scram_client_verify(c, RFC_SERVER_FINAL, strlen(RFC_SERVER_FINAL)));
		assert_int_equal(scram_client_error(c), bad[i].err);
		scram_client_free(c);
	}
}

static void test_out_of_order(void **state)
{
	(void)state;
	const char *out;
	size_t outlen;
	struct scram_server *s = scram_server_new(RFC_VERIFIER, NULL);
	struct scram_client *c = scram_client_new("pencil", NULL);

	assert_non_null(s);
	assert_non_null(c);
	assert_false(srv_final(s, RFC_CLIENT_FINAL, strlen(RFC_CLIENT_FINAL), &out, &outlen));
	assert_int_equal(scram_server_error(s), AUTH_ERR_STATE);
	assert_false(cli_final(c, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), &out, &outlen));
	assert_int_equal(scram_client_error(c), AUTH_ERR_STATE);
	scram_server_free(s);
	scram_client_free(c);

	/* Nonce hooks only before the first step, and only printable nonces. */
	s = scram_server_new(RFC_VERIFIER, NULL);
	c = scram_client_new("pencil", NULL);
	assert_non_null(s);
	assert_non_null(c);
	assert_false(scram_server_test_set_nonce(s, "a,b"));
	assert_false(scram_server_test_set_nonce(s, ""));
	assert_false(scram_client_test_set_nonce(c, "a b"));
	assert_true(scram_client_first(c, &out, &outlen));
	assert_false(scram_client_test_set_nonce(c, "abc"));
	assert_false(scram_client_first(c, &out, &outlen));
	assert_int_equal(scram_client_error(c), AUTH_ERR_STATE);
	assert_true(srv_first(s, "n,,n=,r=abc", 11, &out, &outlen));
	assert_false(scram_server_test_set_nonce(s, "abc"));
	assert_false(srv_first(s, "n,,n=,r=abc", 11, &out, &outlen));
	assert_int_equal(scram_server_error(s), AUTH_ERR_STATE);
	scram_server_free(s);
	scram_client_free(c);
}

/* Every truncation of a valid client-final is refused; every truncation of the
 * other messages is either refused or (when still well-formed) accepted: none
 * crashes or reads past its length under ASan. */
static void test_truncations(void **state)
{
	(void)state;
	const char *out;
	size_t outlen;

	for (size_t n = 0; n < strlen(RFC_CLIENT_FINAL); n++) {
		struct scram_server *s = scram_server_new(RFC_VERIFIER, NULL);
		assert_non_null(s);
		assert_true(scram_server_test_set_nonce(s, RFC_SNONCE));
		assert_true(srv_first(s, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST), &out, &outlen));
		assert_false(srv_final(s, RFC_CLIENT_FINAL, n, &out, &outlen));
		scram_server_free(s);
	}
	for (size_t n = 0; n < strlen(RFC_CLIENT_FIRST); n++) {
		struct scram_server *s = scram_server_new(RFC_VERIFIER, NULL);
		assert_non_null(s);
		bool ok = srv_first(s, RFC_CLIENT_FIRST, n, &out, &outlen);
		/* Only cutting inside the nonce leaves a valid message. */
		assert_int_equal(ok, n > strlen("n,,n=user,r="));
		scram_server_free(s);
	}
	/* server-final truncations, on one completed client each. */
	for (size_t n = 0; n < strlen(RFC_SERVER_FINAL); n++) {
		struct scram_client *c = scram_client_new(RFC_PASSWORD, RFC_USER);
		assert_non_null(c);
		assert_true(scram_client_test_set_nonce(c, RFC_CNONCE));
		assert_true(scram_client_first(c, &out, &outlen));
		assert_true(cli_final(c, RFC_SERVER_FIRST, strlen(RFC_SERVER_FIRST), &out, &outlen));
		assert_false(cli_verify(c, RFC_SERVER_FINAL, n));
		scram_client_free(c);
	}
	/* server-first cut before the iteration count. */
	size_t upto = strlen(RFC_SERVER_FIRST) - strlen("4096");
	for (size_t n = 0; n < upto; n++) {
		struct scram_client *c = scram_client_new(RFC_PASSWORD, RFC_USER);
		assert_non_null(c);
		assert_true(scram_client_test_set_nonce(c, RFC_CNONCE));
		assert_true(scram_client_first(c, &out, &outlen));
		assert_false(cli_final(c, RFC_SERVER_FIRST, n, &out, &outlen));
		scram_client_free(c);
	}
}

/* Byte flips in the client-final: every one is refused. */
static void test_client_final_bit_flips(void **state)
{
	(void)state;
	const char *out;
	size_t outlen;
	char m[sizeof(RFC_CLIENT_FINAL)];

	for (size_t i = 0; i < strlen(RFC_CLIENT_FINAL); i++) {
		for (int bit = 0; bit < 8; bit += 3) {
			memcpy(m, RFC_CLIENT_FINAL, sizeof(m));
			m[i] = (char)(m[i] ^ (1 << bit));
			struct scram_server *s = scram_server_new(RFC_VERIFIER, NULL);
			assert_non_null(s);
			assert_true(scram_server_test_set_nonce(s, RFC_SNONCE));
			assert_true(srv_first(s, RFC_CLIENT_FIRST, strlen(RFC_CLIENT_FIRST), &out,
					      &outlen));
			if (srv_final(s, m, strlen(RFC_CLIENT_FINAL), &out, &outlen))
				fail_msg("flipped byte %zu bit %d accepted", i, bit);
			scram_server_free(s);
		}
	}
}

/* ------------------------------------------------------------ mock ------ */

static void test_mock_server(void **state)
{
	(void)state;
	const unsigned char key[32] = { 7, 7, 7 };
	const unsigned char key2[32] = { 8 };
	const char *out;
	size_t outlen;
	char first_a[256], first_b[256], first_c[256], first_d[256];

	struct scram_server *s = scram_server_new_mock("ghost", key, sizeof(key));
	assert_non_null(s);
	assert_true(scram_server_test_set_nonce(s, "SN"));
	assert_true(srv_first(s, "n,,n=,r=CN", 10, &out, &outlen));
	snprintf(first_a, sizeof(first_a), "%s", out);
	/* Plausible: the same shape as a real user's server-first. */
	assert_memory_equal(out, "r=CNSN,s=", 9);
	assert_int_equal(outlen, strlen("r=CNSN,s=" RFC_SALT64 ",i=4096"));
	assert_string_equal(out + outlen - 7, ",i=4096");
	/* Any proof fails as a wrong password would. */
	assert_false(srv_final(s, "c=biws,r=CNSN,p=" RFC_PROOF,
			       strlen("c=biws,r=CNSN,p=" RFC_PROOF), &out, &outlen));
	assert_int_equal(scram_server_error(s), AUTH_ERR_PROOF);
	scram_server_free(s);

	/* Stable salt per user name and key; different across names and keys. */
	s = scram_server_new_mock("ghost", key, sizeof(key));
	assert_non_null(s);
	assert_true(scram_server_test_set_nonce(s, "SN"));
	assert_true(srv_first(s, "n,,n=,r=CN", 10, &out, &outlen));
	snprintf(first_b, sizeof(first_b), "%s", out);
	scram_server_free(s);
	s = scram_server_new_mock("ghost2", key, sizeof(key));
	assert_non_null(s);
	assert_true(scram_server_test_set_nonce(s, "SN"));
	assert_true(srv_first(s, "n,,n=,r=CN", 10, &out, &outlen));
	snprintf(first_c, sizeof(first_c), "%s", out);
	scram_server_free(s);
	s = scram_server_new_mock("ghost", key2, sizeof(key2));
	assert_non_null(s);
	assert_true(scram_server_test_set_nonce(s, "SN"));
	assert_true(srv_first(s, "n,,n=,r=CN", 10, &out, &outlen));
	snprintf(first_d, sizeof(first_d), "%s", out);
	scram_server_free(s);
	assert_string_equal(first_a, first_b);
	assert_string_not_equal(first_a, first_c);
	assert_string_not_equal(first_a, first_d);

	/* A real client with some password runs to the end and is refused at the proof. */
	enum auth_err se;
	struct scram_client *c = scram_client_new("anything", NULL);
	s = scram_server_new_mock("ghost", key, sizeof(key));
	assert_non_null(c);
	assert_non_null(s);
	assert_true(scram_client_first(c, &out, &outlen));
	assert_true(srv_first(s, out, outlen, &out, &outlen));
	assert_true(cli_final(c, out, outlen, &out, &outlen));
	assert_false(srv_final(s, out, outlen, &out, &outlen));
	se = scram_server_error(s);
	assert_int_equal(se, AUTH_ERR_PROOF);
	/* Malformed input is still reported as malformed, as for a real user. */
	scram_server_free(s);
	s = scram_server_new_mock("ghost", key, sizeof(key));
	assert_non_null(s);
	assert_false(srv_first(s, "p=tls-unique,,n=,r=x", 20, &out, &outlen));
	assert_int_equal(scram_server_error(s), AUTH_ERR_CHANNEL_BINDING);
	scram_server_free(s);
	scram_client_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_md5_known_values),
		cmocka_unit_test(test_md5_verify),
		cmocka_unit_test(test_secret_kind),
		cmocka_unit_test(test_build_secret),
		cmocka_unit_test(test_rfc7677_client),
		cmocka_unit_test(test_rfc7677_server),
		cmocka_unit_test(test_rfc7677_replay_other_nonce),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_server_secret_kinds),
		cmocka_unit_test(test_client_checks_server),
		cmocka_unit_test(test_bad_client_first),
		cmocka_unit_test(test_bad_client_final),
		cmocka_unit_test(test_bad_server_first),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_truncations),
		cmocka_unit_test(test_client_final_bit_flips),
		cmocka_unit_test(test_mock_server),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
