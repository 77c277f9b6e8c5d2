/* SCRAM-SHA-256 (RFC 5802 / RFC 7677) as PostgreSQL speaks it: server side, client side, verifiers. */
#include "protocol/auth.h"
#include "protocol/base64.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define SCRAM_PREFIX   "SCRAM-SHA-256$"
#define SCRAM_MAX_SALT 1024   /* decoded salt bytes we accept in a stored verifier */

const char *auth_err_str(enum auth_err err)
{
	switch (err) {
	case AUTH_OK:                   return "ok";
	case AUTH_ERR_MALFORMED:        return "malformed SCRAM message";
	case AUTH_ERR_TOO_LONG:         return "SCRAM message too long";
	case AUTH_ERR_CHANNEL_BINDING:  return "channel binding requested or mismatched";
	case AUTH_ERR_AUTHZID:          return "authorization identity not supported";
	case AUTH_ERR_EXTENSION:        return "unsupported mandatory SCRAM extension";
	case AUTH_ERR_NONCE:            return "invalid or mismatched SCRAM nonce";
	case AUTH_ERR_ITERATIONS:       return "invalid SCRAM iteration count";
	case AUTH_ERR_SALT:             return "invalid SCRAM salt";
	case AUTH_ERR_PROOF:            return "wrong password";
	case AUTH_ERR_SERVER_SIGNATURE: return "server signature mismatch";
	case AUTH_ERR_SERVER_REJECTED:  return "server rejected SCRAM authentication";
	case AUTH_ERR_SECRET:           return "stored secret cannot be used for this method";
	case AUTH_ERR_STATE:            return "SCRAM step out of order";
	case AUTH_ERR_INTERNAL:         return "internal error";
	}
	return "unknown error";
}

/* ------------------------------------------------------------ crypto ---- */

static bool sha256(const void *data, size_t len, unsigned char out[SCRAM_KEY_LEN])
{
	unsigned int n = 0;
	return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == SCRAM_KEY_LEN;
}

static bool hmac256(const unsigned char *key, size_t keylen, const void *data, size_t len,
		    unsigned char out[SCRAM_KEY_LEN])
{
	unsigned int n = 0;
	if (keylen > INT_MAX)
		return false;
	return HMAC(EVP_sha256(), key, (int)keylen, data, len, out, &n) != NULL &&
	       n == SCRAM_KEY_LEN;
}

/* SaltedPassword -> ClientKey (optional), StoredKey, ServerKey. */
static bool derive_keys(const char *password, const unsigned char *salt, size_t saltlen,
			int iterations, unsigned char *client_key,
			unsigned char stored_key[SCRAM_KEY_LEN],
			unsigned char server_key[SCRAM_KEY_LEN])
{
	unsigned char salted[SCRAM_KEY_LEN];
	unsigned char ckey[SCRAM_KEY_LEN];
	size_t pwlen = strlen(password);
	bool ok;

	if (pwlen > INT_MAX || saltlen > INT_MAX || iterations < 1)
		return false;
	ok = PKCS5_PBKDF2_HMAC(password, (int)pwlen, salt, (int)saltlen, iterations,
			       EVP_sha256(), SCRAM_KEY_LEN, salted) == 1 &&
	     hmac256(salted, sizeof(salted), "Client Key", 10, ckey) &&
	     sha256(ckey, sizeof(ckey), stored_key) &&
	     hmac256(salted, sizeof(salted), "Server Key", 10, server_key);
	if (ok && client_key != NULL)
		memcpy(client_key, ckey, SCRAM_KEY_LEN);
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(ckey, sizeof(ckey));
	return ok;
}

/* A fresh nonce: SCRAM_NONCE_RAW_LEN random bytes in base64 (never contains ','). */
static char *random_nonce(void)
{
	unsigned char raw[SCRAM_NONCE_RAW_LEN];
	char *s = malloc(BASE64_ENC_LEN(SCRAM_NONCE_RAW_LEN) + 1);

	if (s == NULL)
		return NULL;
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		free(s);
		return NULL;
	}
	base64_encode(raw, sizeof(raw), s);
	return s;
}

static void free_secret_str(char *s)
{
	if (s != NULL) {
		OPENSSL_cleanse(s, strlen(s));
		free(s);
	}
}

/* ------------------------------------------------------------ parsing --- */

/* A read cursor over one message; never reads past len. */
struct cur {
	const char *s;
	size_t len;
	size_t pos;
};

static bool cur_end(const struct cur *c)
{
	return c->pos >= c->len;
}

static int cur_peek(const struct cur *c)
{
	return c->pos < c->len ? (unsigned char)c->s[c->pos] : -1;
}

static bool cur_comma(struct cur *c)
{
	if (cur_peek(c) != ',')
		return false;
	c->pos++;
	return true;
}

/* Reads "<name>=<value>"; the value runs to the next ',' or the end and is left
 * unconsumed after. name 0 accepts any ASCII letter and reports it in *got. */
static bool cur_attr(struct cur *c, char name, char *got, const char **val, size_t *vlen)
{
	if (c->len - c->pos < 2 || c->s[c->pos + 1] != '=')
		return false;
	char n = c->s[c->pos];
	if (name != 0 ? n != name : !((n >= 'a' && n <= 'z') || (n >= 'A' && n <= 'Z')))
		return false;
	if (got != NULL)
		*got = n;
	c->pos += 2;
	size_t start = c->pos;
	while (c->pos < c->len && c->s[c->pos] != ',')
		c->pos++;
	*val = c->s + start;
	*vlen = c->pos - start;
	return true;
}

/* RFC 5802 "printable": %x21-2B / %x2D-7E, at least one. */
static bool printable(const char *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x21 || ch > 0x7E || ch == ',')
			return false;
	}
	return true;
}

/* saslname: '=' only as "=2C" or "=3D" (may be empty, as libpq sends it). */
static bool valid_saslname(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '=')
			continue;
		if (len - i < 3 || !((s[i + 1] == '2' && s[i + 2] == 'C') ||
				     (s[i + 1] == '3' && s[i + 2] == 'D')))
			return false;
		i += 2;
	}
	return true;
}

/* Decimal 1..max, digits only. */
static bool parse_count(const char *s, size_t len, int max, int *out)
{
	long v = 0;

	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
		if (v > max)
			return false;
	}
	if (v < 1)
		return false;
	*out = (int)v;
	return true;
}

/* Common checks for a message from the network. */
static enum auth_err check_message(const char *msg, size_t len)
{
	if (msg == NULL && len > 0)
		return AUTH_ERR_MALFORMED;
	if (len > SCRAM_MAX_MESSAGE)
		return AUTH_ERR_TOO_LONG;
	if (len > 0 && memchr(msg, '\0', len) != NULL)
		return AUTH_ERR_MALFORMED;
	return AUTH_OK;
}

static char *dup_bytes(const char *s, size_t len)
{
	char *d = malloc(len + 1);
	if (d != NULL) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

/* A stored verifier: SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>. */
struct verifier {
	int iterations;
	unsigned char salt[SCRAM_MAX_SALT];
	size_t saltlen;
	unsigned char stored_key[SCRAM_KEY_LEN];
	unsigned char server_key[SCRAM_KEY_LEN];
};

static bool parse_verifier(const char *secret, struct verifier *v)
{
	size_t plen = strlen(SCRAM_PREFIX);
	const char *p, *colon, *dollar, *colon2;
	size_t n;

	if (strncmp(secret, SCRAM_PREFIX, plen) != 0)
		return false;
	p = secret + plen;
	colon = strchr(p, ':');
	if (colon == NULL || !parse_count(p, (size_t)(colon - p), INT_MAX, &v->iterations))
		return false;
	p = colon + 1;
	dollar = strchr(p, '$');
	if (dollar == NULL || dollar == p ||
	    !base64_decode(p, (size_t)(dollar - p), v->salt, sizeof(v->salt), &v->saltlen) ||
	    v->saltlen == 0)
		return false;
	p = dollar + 1;
	colon2 = strchr(p, ':');
	if (colon2 == NULL ||
	    !base64_decode(p, (size_t)(colon2 - p), v->stored_key, SCRAM_KEY_LEN, &n) ||
	    n != SCRAM_KEY_LEN)
		return false;
	p = colon2 + 1;
	if (!base64_decode(p, strlen(p), v->server_key, SCRAM_KEY_LEN, &n) || n != SCRAM_KEY_LEN)
		return false;
	return true;
}

enum auth_secret_kind auth_secret_kind(const char *secret)
{
	struct verifier v;
	bool scram;

	if (secret == NULL)
		return AUTH_SECRET_PLAIN;
	if (strlen(secret) == AUTH_MD5_LEN && strncmp(secret, "md5", 3) == 0 &&
	    strspn(secret + 3, "0123456789abcdef") == 32)
		return AUTH_SECRET_MD5;
	scram = parse_verifier(secret, &v);
	OPENSSL_cleanse(&v, sizeof(v));
	return scram ? AUTH_SECRET_SCRAM : AUTH_SECRET_PLAIN;
}

char *scram_build_secret(const char *password, const unsigned char *salt, size_t saltlen,
			 int iterations)
{
	unsigned char rsalt[SCRAM_MAX_SALT];
	unsigned char stored[SCRAM_KEY_LEN], server[SCRAM_KEY_LEN];
	char salt64[BASE64_ENC_LEN(SCRAM_MAX_SALT) + 1];
	char stored64[BASE64_ENC_LEN(SCRAM_KEY_LEN) + 1];
	char server64[BASE64_ENC_LEN(SCRAM_KEY_LEN) + 1];
	char *out = NULL;

	if (password == NULL || iterations < 1 || iterations > SCRAM_MAX_ITERATIONS)
		return NULL;
	if (salt == NULL) {
		if (saltlen == 0)
			saltlen = SCRAM_SALT_LEN;
		if (saltlen > sizeof(rsalt) || RAND_bytes(rsalt, (int)saltlen) != 1)
			return NULL;
		salt = rsalt;
	}
	if (saltlen == 0 || saltlen > SCRAM_MAX_SALT)
		return NULL;
	if (derive_keys(password, salt, saltlen, iterations, NULL, stored, server)) {
		base64_encode(salt, saltlen, salt64);
		base64_encode(stored, sizeof(stored), stored64);
		base64_encode(server, sizeof(server), server64);
		if (asprintf(&out, SCRAM_PREFIX "%d:%s$%s:%s", iterations, salt64, stored64,
			     server64) < 0)
			out = NULL;
	}
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(server, sizeof(server));
	OPENSSL_cleanse(server64, sizeof(server64));
	OPENSSL_cleanse(stored64, sizeof(stored64));
	return out;
}

/* AuthMessage = client-first-bare "," server-first "," client-final-without-proof. */
static char *auth_message(const char *bare, const char *server_first, const char *cf,
			  size_t cflen, size_t *len)
{
	char *am = NULL;
	int n = asprintf(&am, "%s,%s,%.*s", bare, server_first, (int)cflen, cf);
	if (n < 0)
		return NULL;
	*len = (size_t)n;
	return am;
}

/* ------------------------------------------------------------ server ---- */

enum scram_step { STEP_INIT = 0, STEP_FIRST, STEP_DONE, STEP_FAILED };

struct scram_server {
	enum scram_step step;
	enum auth_err err;
	bool doomed;                 /* mock exchange: always fails with AUTH_ERR_PROOF */
	struct verifier v;
	char gs2[4];                 /* "n,," or "y,," as received */
	char *test_nonce;
	char *client_first_bare;
	char *server_first;
	char *nonce;                 /* client nonce + server nonce */
	char *out;
};

static bool srv_fail(struct scram_server *s, enum auth_err e)
{
	if (s->err == AUTH_OK)
		s->err = e;
	s->step = STEP_FAILED;
	return false;
}

static void srv_set_out(struct scram_server *s, char *out, const char **o, size_t *olen)
{
	free(s->out);
	s->out = out;
	*o = out;
	*olen = strlen(out);
}

struct scram_server *scram_server_new(const char *secret, enum auth_err *err)
{
	struct scram_server *s;
	enum auth_err dummy;

	if (err == NULL)
		err = &dummy;
	*err = AUTH_OK;
	if (secret == NULL) {
		*err = AUTH_ERR_SECRET;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		*err = AUTH_ERR_INTERNAL;
		return NULL;
	}
	switch (auth_secret_kind(secret)) {
	case AUTH_SECRET_SCRAM:
		if (!parse_verifier(secret, &s->v))
			*err = AUTH_ERR_SECRET;
		break;
	case AUTH_SECRET_PLAIN:
		s->v.iterations = SCRAM_DEFAULT_ITERATIONS;
		s->v.saltlen = SCRAM_SALT_LEN;
		if (RAND_bytes(s->v.salt, SCRAM_SALT_LEN) != 1 ||
		    !derive_keys(secret, s->v.salt, s->v.saltlen, s->v.iterations, NULL,
				 s->v.stored_key, s->v.server_key))
			*err = AUTH_ERR_INTERNAL;
		break;
	case AUTH_SECRET_MD5:
	default:
		*err = AUTH_ERR_SECRET;
		break;
	}
	if (*err != AUTH_OK) {
		scram_server_free(s);
		return NULL;
	}
	return s;
}

struct scram_server *scram_server_new_mock(const char *user, const unsigned char *mock_key,
					   size_t mock_key_len)
{
	struct scram_server *s = calloc(1, sizeof(*s));
	unsigned char md[SCRAM_KEY_LEN];
	unsigned int n = 0;
	bool ok;
	EVP_MD_CTX *ctx;

	if (s == NULL)
		return NULL;
	if (user == NULL)
		user = "";
	ctx = EVP_MD_CTX_new();
	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1 &&
	     (mock_key_len == 0 || EVP_DigestUpdate(ctx, mock_key, mock_key_len) == 1) &&
	     EVP_DigestUpdate(ctx, user, strlen(user)) == 1 &&
	     EVP_DigestFinal_ex(ctx, md, &n) == 1 && n == SCRAM_KEY_LEN;
	EVP_MD_CTX_free(ctx);
	if (!ok) {
		free(s);
		return NULL;
	}
	s->doomed = true;
	s->v.iterations = SCRAM_DEFAULT_ITERATIONS;
	s->v.saltlen = SCRAM_SALT_LEN;
	memcpy(s->v.salt, md, SCRAM_SALT_LEN);
	/* Keys nobody knows: the proof check runs the same code and cannot pass. */
	if (RAND_bytes(s->v.stored_key, SCRAM_KEY_LEN) != 1 ||
	    RAND_bytes(s->v.server_key, SCRAM_KEY_LEN) != 1) {
		free(s);
		return NULL;
	}
	return s;
}

void scram_server_free(struct scram_server *s)
{
	if (s == NULL)
		return;
	free(s->test_nonce);
	free(s->client_first_bare);
	free(s->server_first);
	free(s->nonce);
	free(s->out);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

enum auth_err scram_server_error(const struct scram_server *s)
{
	return s->err;
}

bool scram_server_done(const struct scram_server *s)
{
	return s->step == STEP_DONE;
}

bool scram_server_test_set_nonce(struct scram_server *s, const char *nonce)
{
	if (s->step != STEP_INIT || nonce == NULL || !printable(nonce, strlen(nonce)))
		return false;
	free(s->test_nonce);
	s->test_nonce = strdup(nonce);
	return s->test_nonce != NULL;
}

bool scram_server_first(struct scram_server *s, const char *msg, size_t len,
			const char **out, size_t *outlen)
{
	struct cur c = { msg, len, 0 };
	const char *user, *cnonce, *val;
	size_t ulen, cnlen, vlen, bare_start;
	char salt64[BASE64_ENC_LEN(SCRAM_MAX_SALT) + 1];
	char *snonce, *sf = NULL;
	enum auth_err e;
	int flag;

	if (s->step != STEP_INIT)
		return srv_fail(s, AUTH_ERR_STATE);
	if ((e = check_message(msg, len)) != AUTH_OK)
		return srv_fail(s, e);

	/* gs2-header: cbind flag "," [authzid] "," */
	flag = cur_peek(&c);
	if (flag == 'p')
		return srv_fail(s, AUTH_ERR_CHANNEL_BINDING);
	if (flag != 'n' && flag != 'y')
		return srv_fail(s, AUTH_ERR_MALFORMED);
	c.pos++;
	if (!cur_comma(&c))
		return srv_fail(s, AUTH_ERR_MALFORMED);
	if (cur_peek(&c) == 'a')
		return srv_fail(s, AUTH_ERR_AUTHZID);
	if (!cur_comma(&c))
		return srv_fail(s, AUTH_ERR_MALFORMED);
	bare_start = c.pos;

	/* client-first-message-bare: [reserved-mext ","] username "," nonce ["," extensions] */
	if (cur_peek(&c) == 'm')
		return srv_fail(s, AUTH_ERR_EXTENSION);
	if (!cur_attr(&c, 'n', NULL, &user, &ulen) || !valid_saslname(user, ulen))
		return srv_fail(s, AUTH_ERR_MALFORMED);
	if (!cur_comma(&c) || !cur_attr(&c, 'r', NULL, &cnonce, &cnlen))
		return srv_fail(s, AUTH_ERR_MALFORMED);
	if (!printable(cnonce, cnlen))
		return srv_fail(s, AUTH_ERR_NONCE);
	while (!cur_end(&c)) {
		if (!cur_comma(&c) || !cur_attr(&c, 0, NULL, &val, &vlen))
			return srv_fail(s, AUTH_ERR_MALFORMED);
	}

	s->gs2[0] = (char)flag;
	s->gs2[1] = ',';
	s->gs2[2] = ',';
	s->gs2[3] = '\0';
	s->client_first_bare = dup_bytes(msg + bare_start, len - bare_start);
	snonce = s->test_nonce != NULL ? strdup(s->test_nonce) : random_nonce();
	if (s->client_first_bare == NULL || snonce == NULL ||
	    asprintf(&s->nonce, "%.*s%s", (int)cnlen, cnonce, snonce) < 0) {
		s->nonce = NULL;
		free(snonce);
		return srv_fail(s, AUTH_ERR_INTERNAL);
	}
	free(snonce);
	base64_encode(s->v.salt, s->v.saltlen, salt64);
	if (asprintf(&s->server_first, "r=%s,s=%s,i=%d", s->nonce, salt64, s->v.iterations) < 0) {
		s->server_first = NULL;
		return srv_fail(s, AUTH_ERR_INTERNAL);
	}
	if ((sf = strdup(s->server_first)) == NULL)
		return srv_fail(s, AUTH_ERR_INTERNAL);
	s->step = STEP_FIRST;
	srv_set_out(s, sf, out, outlen);
	return true;
}

bool scram_server_final(struct scram_server *s, const char *msg, size_t len,
			const char **out, size_t *outlen)
{
	struct cur c = { msg, len, 0 };
	const char *cb, *nonce, *val = NULL;
	size_t cblen, nlen, vlen = 0, without_proof = 0, amlen = 0, plen;
	char cb_expect[BASE64_ENC_LEN(3) + 1];
	unsigned char proof[SCRAM_KEY_LEN], sig[SCRAM_KEY_LEN], key[SCRAM_KEY_LEN];
	unsigned char h[SCRAM_KEY_LEN], ssig[SCRAM_KEY_LEN];
	char ssig64[BASE64_ENC_LEN(SCRAM_KEY_LEN) + 1];
	char *am, *sfinal = NULL;
	enum auth_err e;
	char name = 0;
	bool match;

	if (s->step != STEP_FIRST)
		return srv_fail(s, AUTH_ERR_STATE);
	if ((e = check_message(msg, len)) != AUTH_OK)
		return srv_fail(s, e);

	/* channel-binding "," nonce ["," extensions] "," proof */
	if (!cur_attr(&c, 'c', NULL, &cb, &cblen))
		return srv_fail(s, AUTH_ERR_MALFORMED);
	base64_encode((const unsigned char *)s->gs2, 3, cb_expect);
	if (cblen != strlen(cb_expect) || memcmp(cb, cb_expect, cblen) != 0)
		return srv_fail(s, AUTH_ERR_CHANNEL_BINDING);
	if (!cur_comma(&c) || !cur_attr(&c, 'r', NULL, &nonce, &nlen))
		return srv_fail(s, AUTH_ERR_MALFORMED);
	if (nlen != strlen(s->nonce) || memcmp(nonce, s->nonce, nlen) != 0)
		return srv_fail(s, AUTH_ERR_NONCE);
	while (name != 'p') {
		without_proof = c.pos;
		if (!cur_comma(&c) || !cur_attr(&c, 0, &name, &val, &vlen))
			return srv_fail(s, AUTH_ERR_MALFORMED);
	}
	if (!cur_end(&c))
		return srv_fail(s, AUTH_ERR_MALFORMED);
	if (!base64_decode(val, vlen, proof, sizeof(proof), &plen) || plen != SCRAM_KEY_LEN)
		return srv_fail(s, AUTH_ERR_MALFORMED);

	am = auth_message(s->client_first_bare, s->server_first, msg, without_proof, &amlen);
	if (am == NULL)
		return srv_fail(s, AUTH_ERR_INTERNAL);
	/* ClientKey = proof XOR HMAC(StoredKey, AuthMessage); H(ClientKey) must be StoredKey. */
	if (!hmac256(s->v.stored_key, SCRAM_KEY_LEN, am, amlen, sig) ||
	    !hmac256(s->v.server_key, SCRAM_KEY_LEN, am, amlen, ssig)) {
		free(am);
		return srv_fail(s, AUTH_ERR_INTERNAL);
	}
	free(am);
	for (int i = 0; i < SCRAM_KEY_LEN; i++)
		key[i] = proof[i] ^ sig[i];
	if (!sha256(key, sizeof(key), h))
		return srv_fail(s, AUTH_ERR_INTERNAL);
	match = CRYPTO_memcmp(h, s->v.stored_key, SCRAM_KEY_LEN) == 0;
	OPENSSL_cleanse(key, sizeof(key));
	if (!match || s->doomed)
		return srv_fail(s, AUTH_ERR_PROOF);

	base64_encode(ssig, sizeof(ssig), ssig64);
	if (asprintf(&sfinal, "v=%s", ssig64) < 0)
		return srv_fail(s, AUTH_ERR_INTERNAL);
	s->step = STEP_DONE;
	srv_set_out(s, sfinal, out, outlen);
	return true;
}

/* ------------------------------------------------------------ client ---- */

enum cli_step { CLI_INIT = 0, CLI_FIRST_SENT, CLI_FINAL_SENT, CLI_DONE, CLI_FAILED };

struct scram_client {
	enum cli_step step;
	enum auth_err err;
	char *password;
	char *user;                  /* SASLname-escaped */
	char *nonce;                 /* ours */
	char *client_first_bare;
	unsigned char server_sig[SCRAM_KEY_LEN];
	char *out;
};

static bool cli_fail(struct scram_client *c, enum auth_err e)
{
	if (c->err == AUTH_OK)
		c->err = e;
	c->step = CLI_FAILED;
	return false;
}

static void cli_set_out(struct scram_client *c, char *out, const char **o, size_t *olen)
{
	free(c->out);
	c->out = out;
	*o = out;
	*olen = strlen(out);
}

struct scram_client *scram_client_new(const char *password, const char *user)
{
	struct scram_client *c;
	size_t ulen, o = 0;

	if (password == NULL)
		return NULL;
	if (user == NULL)
		user = "";
	ulen = strlen(user);
	if (ulen > SCRAM_MAX_MESSAGE)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	c->password = strdup(password);
	c->user = malloc(3 * ulen + 1);
	if (c->password == NULL || c->user == NULL) {
		scram_client_free(c);
		return NULL;
	}
	for (size_t i = 0; i < ulen; i++) {
		if (user[i] == ',') {
			memcpy(c->user + o, "=2C", 3);
			o += 3;
		} else if (user[i] == '=') {
			memcpy(c->user + o, "=3D", 3);
			o += 3;
		} else {
			c->user[o++] = user[i];
		}
	}
	c->user[o] = '\0';
	return c;
}

void scram_client_free(struct scram_client *c)
{
	if (c == NULL)
		return;
	free_secret_str(c->password);
	free(c->user);
	free(c->nonce);
	free(c->client_first_bare);
	free(c->out);
	OPENSSL_cleanse(c, sizeof(*c));
	free(c);
}

enum auth_err scram_client_error(const struct scram_client *c)
{
	return c->err;
}

bool scram_client_done(const struct scram_client *c)
{
	return c->step == CLI_DONE;
}

bool scram_client_test_set_nonce(struct scram_client *c, const char *nonce)
{
	if (c->step != CLI_INIT || nonce == NULL || !printable(nonce, strlen(nonce)))
		return false;
	free(c->nonce);
	c->nonce = strdup(nonce);
	return c->nonce != NULL;
}

bool scram_client_first(struct scram_client *c, const char **out, size_t *outlen)
{
	char *msg = NULL;

	if (c->step != CLI_INIT)
		return cli_fail(c, AUTH_ERR_STATE);
	if (c->nonce == NULL && (c->nonce = random_nonce()) == NULL)
		return cli_fail(c, AUTH_ERR_INTERNAL);
	if (asprintf(&msg, "n,,n=%s,r=%s", c->user, c->nonce) < 0)
		return cli_fail(c, AUTH_ERR_INTERNAL);
	c->client_first_bare = strdup(msg + 3);
	if (c->client_first_bare == NULL) {
		free(msg);
		return cli_fail(c, AUTH_ERR_INTERNAL);
	}
	c->step = CLI_FIRST_SENT;
	cli_set_out(c, msg, out, outlen);
	return true;
}

bool scram_client_final(struct scram_client *c, const char *msg, size_t len,
			const char **out, size_t *outlen)
{
	struct cur p = { msg, len, 0 };
	const char *nonce, *salt64, *iters, *val;
	size_t nlen, slen, ilen, vlen, saltlen, amlen = 0, ourlen;
	unsigned char salt[BASE64_DEC_MAX(SCRAM_MAX_MESSAGE)];
	unsigned char ckey[SCRAM_KEY_LEN], stored[SCRAM_KEY_LEN], skey[SCRAM_KEY_LEN];
	unsigned char sig[SCRAM_KEY_LEN];
	char proof64[BASE64_ENC_LEN(SCRAM_KEY_LEN) + 1];
	char *sf, *without = NULL, *am, *final = NULL;
	enum auth_err e;
	int iterations, n;
	bool ok;

	if (c->step != CLI_FIRST_SENT)
		return cli_fail(c, AUTH_ERR_STATE);
	if ((e = check_message(msg, len)) != AUTH_OK)
		return cli_fail(c, e);

	/* server-first: [reserved-mext ","] nonce "," salt "," iteration ["," extensions] */
	if (cur_peek(&p) == 'm')
		return cli_fail(c, AUTH_ERR_EXTENSION);
	if (!cur_attr(&p, 'r', NULL, &nonce, &nlen))
		return cli_fail(c, AUTH_ERR_MALFORMED);
	ourlen = strlen(c->nonce);
	if (nlen <= ourlen || memcmp(nonce, c->nonce, ourlen) != 0 || !printable(nonce, nlen))
		return cli_fail(c, AUTH_ERR_NONCE);
	if (!cur_comma(&p) || !cur_attr(&p, 's', NULL, &salt64, &slen))
		return cli_fail(c, AUTH_ERR_MALFORMED);
	if (!base64_decode(salt64, slen, salt, sizeof(salt), &saltlen) || saltlen == 0)
		return cli_fail(c, AUTH_ERR_SALT);
	if (!cur_comma(&p) || !cur_attr(&p, 'i', NULL, &iters, &ilen))
		return cli_fail(c, AUTH_ERR_MALFORMED);
	if (!parse_count(iters, ilen, SCRAM_MAX_ITERATIONS, &iterations))
		return cli_fail(c, AUTH_ERR_ITERATIONS);
	while (!cur_end(&p)) {
		if (!cur_comma(&p) || !cur_attr(&p, 0, NULL, &val, &vlen))
			return cli_fail(c, AUTH_ERR_MALFORMED);
	}

	if (!derive_keys(c->password, salt, saltlen, iterations, ckey, stored, skey))
		return cli_fail(c, AUTH_ERR_INTERNAL);
	/* We never do channel binding and send no authzid: c= is base64("n,,"). */
	n = asprintf(&without, "c=biws,r=%.*s", (int)nlen, nonce);
	sf = dup_bytes(msg, len);
	am = (n < 0 || sf == NULL) ? NULL :
		auth_message(c->client_first_bare, sf, without, (size_t)n, &amlen);
	ok = am != NULL && hmac256(stored, SCRAM_KEY_LEN, am, amlen, sig) &&
	     hmac256(skey, SCRAM_KEY_LEN, am, amlen, c->server_sig);
	if (ok) {
		for (int i = 0; i < SCRAM_KEY_LEN; i++)
			sig[i] ^= ckey[i];         /* ClientProof = ClientKey XOR ClientSignature */
		base64_encode(sig, sizeof(sig), proof64);
		ok = asprintf(&final, "%s,p=%s", without, proof64) >= 0;
	}
	free(sf);
	free(am);
	if (n >= 0)
		free(without);
	OPENSSL_cleanse(ckey, sizeof(ckey));
	OPENSSL_cleanse(skey, sizeof(skey));
	if (!ok)
		return cli_fail(c, AUTH_ERR_INTERNAL);
	c->step = CLI_FINAL_SENT;
	cli_set_out(c, final, out, outlen);
	return true;
}

bool scram_client_verify(struct scram_client *c, const char *msg, size_t len)
{
	struct cur p = { msg, len, 0 };
	const char *v, *val;
	size_t vlen, xlen, n;
	unsigned char sig[SCRAM_KEY_LEN];
	enum auth_err e;

	if (c->step != CLI_FINAL_SENT)
		return cli_fail(c, AUTH_ERR_STATE);
	if ((e = check_message(msg, len)) != AUTH_OK)
		return cli_fail(c, e);
	if (cur_attr(&p, 'e', NULL, &val, &xlen))
		return cli_fail(c, AUTH_ERR_SERVER_REJECTED);
	if (!cur_attr(&p, 'v', NULL, &v, &vlen))
		return cli_fail(c, AUTH_ERR_MALFORMED);
	while (!cur_end(&p)) {
		if (!cur_comma(&p) || !cur_attr(&p, 0, NULL, &val, &xlen))
			return cli_fail(c, AUTH_ERR_MALFORMED);
	}
	if (!base64_decode(v, vlen, sig, sizeof(sig), &n) || n != SCRAM_KEY_LEN)
		return cli_fail(c, AUTH_ERR_MALFORMED);
	if (CRYPTO_memcmp(sig, c->server_sig, SCRAM_KEY_LEN) != 0)
		return cli_fail(c, AUTH_ERR_SERVER_SIGNATURE);
	c->step = CLI_DONE;
	return true;
}
