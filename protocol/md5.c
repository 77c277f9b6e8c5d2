/* PostgreSQL's MD5 password scheme: stored hash, client response, server-side verify. */
#include "protocol/auth.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define MD5_DIGEST_BYTES 16

/* md5(a || b) as 32 lowercase hex digits plus NUL. */
static bool md5_hex2(const void *a, size_t alen, const void *b, size_t blen, char hex[33])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	bool ok = false;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx == NULL)
		return false;
	if (EVP_DigestInit_ex(ctx, EVP_md5(), NULL) == 1 &&
	    EVP_DigestUpdate(ctx, a, alen) == 1 &&
	    EVP_DigestUpdate(ctx, b, blen) == 1 &&
	    EVP_DigestFinal_ex(ctx, md, &mdlen) == 1 && mdlen == MD5_DIGEST_BYTES)
		ok = true;
	EVP_MD_CTX_free(ctx);
	if (!ok)
		return false;
	for (int i = 0; i < MD5_DIGEST_BYTES; i++) {
		hex[2 * i] = digits[md[i] >> 4];
		hex[2 * i + 1] = digits[md[i] & 15];
	}
	hex[32] = '\0';
	OPENSSL_cleanse(md, sizeof(md));
	return true;
}

bool auth_md5_stored(const char *password, const char *user, char out[AUTH_MD5_LEN + 1])
{
	if (password == NULL || user == NULL)
		return false;
	memcpy(out, "md5", 3);
	return md5_hex2(password, strlen(password), user, strlen(user), out + 3);
}

bool auth_md5_response(const char *secret, const char *user, const unsigned char salt[4],
		       char out[AUTH_MD5_LEN + 1])
{
	char stored[AUTH_MD5_LEN + 1];
	bool ok;

	if (secret == NULL || user == NULL || salt == NULL)
		return false;
	switch (auth_secret_kind(secret)) {
	case AUTH_SECRET_MD5:
		memcpy(stored, secret, AUTH_MD5_LEN + 1);
		break;
	case AUTH_SECRET_PLAIN:
		if (!auth_md5_stored(secret, user, stored))
			return false;
		break;
	case AUTH_SECRET_SCRAM:
	default:
		return false;
	}
	memcpy(out, "md5", 3);
	ok = md5_hex2(stored + 3, 32, salt, 4, out + 3);
	OPENSSL_cleanse(stored, sizeof(stored));
	return ok;
}

bool auth_md5_verify(const char *secret, const char *user, const unsigned char salt[4],
		     const char *resp, size_t len)
{
	char expect[AUTH_MD5_LEN + 1];
	bool ok;

	if (resp == NULL || len != AUTH_MD5_LEN)
		return false;
	if (!auth_md5_response(secret, user, salt, expect))
		return false;
	ok = CRYPTO_memcmp(expect, resp, AUTH_MD5_LEN) == 0;
	OPENSSL_cleanse(expect, sizeof(expect));
	return ok;
}
