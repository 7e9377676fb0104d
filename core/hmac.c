/*
 * hmac.c - HMAC-SHA256 through OpenSSL's EVP_MAC with a prepared key
 * (see hmac.h).
 */
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdlib.h>
#include <string.h>

#include "hmac.h"

struct cm_hmac {
	EVP_MAC_CTX *ctx;	/* after EVP_MAC_init with the key */
};

cm_status
cm_hmac_new(const unsigned char *key, size_t key_len, cm_hmac **out)
{
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
		    (char *)"SHA256", 0),
		OSSL_PARAM_construct_end()
	};
	EVP_MAC *mac;
	cm_hmac *h;

	if (key == NULL || out == NULL)
		return CM_EINVAL;
	*out = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return CM_ENOMEM;
	if ((mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL) {
		free(h);
		return CM_EIO;
	}
	h->ctx = EVP_MAC_CTX_new(mac);
	EVP_MAC_free(mac);	/* the context keeps its own reference */
	if (h->ctx == NULL || EVP_MAC_init(h->ctx, key, key_len, params) != 1) {
		cm_hmac_free(h);
		return CM_EIO;
	}
	*out = h;
	return CM_OK;
}

void
cm_hmac_free(cm_hmac *h)
{
	if (h == NULL)
		return;
	EVP_MAC_CTX_free(h->ctx);	/* clears the key state */
	free(h);
}

cm_status
cm_hmac_sha256(const cm_hmac *h, const void *data, size_t len,
    unsigned char *out)
{
	EVP_MAC_CTX *c = EVP_MAC_CTX_dup(h->ctx);
	size_t n = 0;
	int ok;

	if (c == NULL) {
		memset(out, 0, CM_HMAC_OUT_LEN);
		return CM_ENOMEM;
	}
	ok = EVP_MAC_update(c, data, len) == 1 &&
	    EVP_MAC_final(c, out, &n, CM_HMAC_OUT_LEN) == 1 &&
	    n == CM_HMAC_OUT_LEN;
	EVP_MAC_CTX_free(c);
	if (!ok) {
		memset(out, 0, CM_HMAC_OUT_LEN);
		return CM_EIO;
	}
	return CM_OK;
}
