/*
 * hmac.c - HMAC-SHA256 with precomputed pad states, and SipHash-2-4-128.
 *
 * The SHA256_Init/Update/Final interface is deprecated in OpenSSL 3 but
 * is the only one that lets a prepared state be copied by assignment;
 * the EVP equivalent (EVP_MD_CTX_copy_ex per call) costs two
 * allocations per MAC.  Only this file uses it.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "hmac.h"

struct cm_hmac {
	SHA256_CTX inner;	/* after absorbing key ^ ipad */
	SHA256_CTX outer;	/* after absorbing key ^ opad */
};

cm_status
cm_hmac_new(const unsigned char *key, size_t key_len, cm_hmac **out)
{
	unsigned char block[SHA256_CBLOCK];
	unsigned char kh[SHA256_DIGEST_LENGTH];
	cm_hmac *h;

	if (key == NULL || out == NULL)
		return CM_EINVAL;
	*out = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return CM_ENOMEM;
	memset(block, 0, sizeof(block));
	if (key_len > sizeof(block)) {
		SHA256(key, key_len, kh);
		memcpy(block, kh, sizeof(kh));
	} else {
		memcpy(block, key, key_len);
	}
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] ^= 0x36;
	if (SHA256_Init(&h->inner) != 1 ||
	    SHA256_Update(&h->inner, block, sizeof(block)) != 1)
		goto fail;
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] ^= 0x36 ^ 0x5c;
	if (SHA256_Init(&h->outer) != 1 ||
	    SHA256_Update(&h->outer, block, sizeof(block)) != 1)
		goto fail;
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(kh, sizeof(kh));
	*out = h;
	return CM_OK;
fail:
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(kh, sizeof(kh));
	cm_hmac_free(h);
	return CM_EIO;
}

void
cm_hmac_free(cm_hmac *h)
{
	if (h == NULL)
		return;
	OPENSSL_cleanse(h, sizeof(*h));
	free(h);
}

void
cm_hmac_sha256(const cm_hmac *h, const void *data, size_t len,
    unsigned char *out)
{
	SHA256_CTX c = h->inner;
	unsigned char ih[SHA256_DIGEST_LENGTH];

	/* With a valid context these cannot fail. */
	(void)SHA256_Update(&c, data, len);
	(void)SHA256_Final(ih, &c);
	c = h->outer;
	(void)SHA256_Update(&c, ih, sizeof(ih));
	(void)SHA256_Final(out, &c);
}

/* SipHash-2-4, 128-bit output (Aumasson & Bernstein). */
#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do { \
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
} while (0)

static inline uint64_t
le64(const unsigned char *p)
{
	return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
	    (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 |
	    (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
	    (uint64_t)p[7] << 56;
}

static inline void
put_le64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

void
cm_hmac_sip128(const unsigned char key[16], const void *data, size_t len,
    unsigned char *out)
{
	const unsigned char *in = data;
	uint64_t k0 = le64(key), k1 = le64(key + 8);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1 ^ 0xee;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = (uint64_t)len << 56, m;
	size_t left = len & 7;
	const unsigned char *end = in + (len - left);

	for (; in != end; in += 8) {
		m = le64(in);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	switch (left) {
	case 7: b |= (uint64_t)in[6] << 48; /* FALLTHROUGH */
	case 6: b |= (uint64_t)in[5] << 40; /* FALLTHROUGH */
	case 5: b |= (uint64_t)in[4] << 32; /* FALLTHROUGH */
	case 4: b |= (uint64_t)in[3] << 24; /* FALLTHROUGH */
	case 3: b |= (uint64_t)in[2] << 16; /* FALLTHROUGH */
	case 2: b |= (uint64_t)in[1] << 8; /* FALLTHROUGH */
	case 1: b |= (uint64_t)in[0]; break;
	default: break;
	}
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xee;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	put_le64(out, v0 ^ v1 ^ v2 ^ v3);
	v1 ^= 0xdd;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	put_le64(out + 8, v0 ^ v1 ^ v2 ^ v3);
}
