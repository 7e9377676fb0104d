/*
 * token.c - stateless link tokens sealed with ChaCha20-Poly1305.
 * The format and the key ring are described in token.h.
 */
#include "token.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "util.h"

#define NONCE_LEN 12
#define TAG_LEN 16
#define HDR_LEN (1 + NONCE_LEN)
#define FIXED_PT 6		/* purpose, 4 octets minutes, type length */
#define PT_MAX (FIXED_PT + CM_TYPE_ID_MAX + CM_ADDR_KEY_MAX)
#define RAW_MAX (HDR_LEN + PT_MAX + TAG_LEN)
#define RAW_MIN (HDR_LEN + FIXED_PT + 1 + 3 + TAG_LEN)	/* type "x", "a@b" */
#define MIN_US (60LL * 1000000)
#define FUTURE_SKEW_US (5LL * MIN_US)

struct cm_token_ring {
	bool have[256];
	unsigned char key[256][CM_TOKEN_KEY_LEN];
};

const char *
cm_token_purpose_name(cm_token_purpose p)
{
	switch (p) {
	case CM_TOKEN_UNSUBSCRIBE: return "unsubscribe";
	case CM_TOKEN_CONFIRM: return "confirm";
	}
	return "?";
}

cm_status
cm_token_ring_new(cm_token_ring **out)
{
	*out = calloc(1, sizeof **out);
	return *out ? CM_OK : CM_ENOMEM;
}

cm_status
cm_token_ring_add(cm_token_ring *r, unsigned id, const unsigned char *key)
{
	if (id > 255)
		return CM_EINVAL;
	if (r->have[id])
		return CM_EEXIST;
	memcpy(r->key[id], key, CM_TOKEN_KEY_LEN);
	r->have[id] = true;
	return CM_OK;
}

void
cm_token_ring_free(cm_token_ring *r)
{
	if (!r)
		return;
	OPENSSL_cleanse(r, sizeof *r);
	free(r);
}

cm_status
cm_token_ring_current(const cm_token_ring *r, unsigned *id)
{
	for (int i = 255; i >= 0; i--)
		if (r->have[i]) {
			*id = (unsigned)i;
			return CM_OK;
		}
	return CM_NOTFOUND;
}

/* "N.key" with N a decimal 0..255 without leading zeros -> N, else -1 */
static int
key_name_id(const char *name)
{
	const char *p = name;
	int n = 0, digits = 0;

	while (*p >= '0' && *p <= '9') {
		if (digits > 0 && n == 0)
			return -1;
		n = n * 10 + (*p++ - '0');
		if (++digits > 3)
			return -1;
	}
	if (digits == 0 || n > 255 || strcmp(p, ".key") != 0)
		return -1;
	return n;
}

static char errpath_buf[4096];

static cm_status
load_key(int dfd, const char *dir, const char *name, unsigned char *key)
{
	struct stat st;
	cm_status rc = CM_OK;
	ssize_t n;
	int fd;

	snprintf(errpath_buf, sizeof errpath_buf, "%s/%s", dir, name);
	fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return cm_status_errno(errno) == CM_NOTFOUND ? CM_EIO :
		    cm_status_errno(errno);
	if (fstat(fd, &st) != 0)
		rc = CM_EIO;
	else if (!S_ISREG(st.st_mode))
		rc = CM_EFORMAT;
	else if (st.st_mode & 077)
		rc = CM_EPERM;
	else if (st.st_size != CM_TOKEN_KEY_LEN)
		rc = CM_EFORMAT;
	else if ((n = read(fd, key, CM_TOKEN_KEY_LEN)) != CM_TOKEN_KEY_LEN)
		rc = n < 0 ? CM_EIO : CM_EFORMAT;
	close(fd);
	return rc;
}

cm_status
cm_token_ring_load(const char *dir, cm_token_ring **out, const char **errpath)
{
	cm_token_ring *r;
	struct dirent *de;
	cm_status rc = CM_OK;
	int dfd, nkeys = 0;
	DIR *d;

	*out = NULL;
	if (errpath) {
		snprintf(errpath_buf, sizeof errpath_buf, "%s", dir);
		*errpath = errpath_buf;
	}
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return cm_status_errno(errno);
	if (!(d = fdopendir(dfd))) {
		close(dfd);
		return CM_ENOMEM;
	}
	if ((rc = cm_token_ring_new(&r)) != CM_OK) {
		closedir(d);
		return rc;
	}
	while ((de = readdir(d)) != NULL) {
		int id = key_name_id(de->d_name);
		if (id < 0)
			continue;
		if ((rc = load_key(dirfd(d), dir, de->d_name, r->key[id])) != CM_OK)
			break;
		r->have[id] = true;
		nkeys++;
	}
	closedir(d);
	if (rc == CM_OK && nkeys == 0) {
		snprintf(errpath_buf, sizeof errpath_buf, "%s", dir);
		rc = CM_NOTFOUND;
	}
	if (rc != CM_OK) {
		cm_token_ring_free(r);
		return rc;
	}
	*out = r;
	return CM_OK;
}

cm_status
cm_token_ring_create_key(const char *dir, unsigned *idp)
{
	unsigned char key[CM_TOKEN_KEY_LEN];
	char path[4096], tmp[4096];
	cm_token_ring *r = NULL;
	unsigned id = 0;
	cm_status rc;
	int fd;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return cm_status_errno(errno);
	rc = cm_token_ring_load(dir, &r, NULL);
	if (rc == CM_OK) {
		(void)cm_token_ring_current(r, &id);
		cm_token_ring_free(r);
		if (id == 255)
			return CM_EFULL;
		id++;
	} else if (rc != CM_NOTFOUND) {
		return rc;
	}
	if (RAND_bytes(key, sizeof key) != 1)
		return CM_EIO;
	if (snprintf(path, sizeof path, "%s/%u.key", dir, id) >= (int)sizeof path ||
	    snprintf(tmp, sizeof tmp, "%s/.%u.key.tmp", dir, id) >= (int)sizeof tmp)
		return CM_ETOOLONG;
	(void)unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		OPENSSL_cleanse(key, sizeof key);
		return cm_status_errno(errno);
	}
	if (cm_write_all(fd, key, sizeof key) != 0 || fsync(fd) != 0) {
		rc = cm_status_errno(errno);
		close(fd);
		unlink(tmp);
		OPENSSL_cleanse(key, sizeof key);
		return rc;
	}
	close(fd);
	OPENSSL_cleanse(key, sizeof key);
	/* link() fails if another process created the same id meanwhile */
	if (link(tmp, path) != 0) {
		rc = errno == EEXIST ? CM_EEXIST : cm_status_errno(errno);
		unlink(tmp);
		return rc;
	}
	unlink(tmp);
	cm_fsync_dir(dir);
	if (idp)
		*idp = id;
	return CM_OK;
}

/* --- base64url ---------------------------------------------------------- */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t
b64_encode(const unsigned char *in, size_t n, char *out)
{
	size_t o = 0, i = 0;

	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
		out[o++] = b64[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = b64[v >> 18];
		out[o++] = b64[(v >> 12) & 63];
		out[o++] = b64[(v >> 6) & 63];
	}
	out[o] = '\0';
	return o;
}

static int
b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '-') return 62;
	if (c == '_') return 63;
	return -1;
}

/* Strict: no padding, unused trailing bits must be zero (one text per
 * token).  Returns the octets decoded, or -1. */
static long
b64_decode(const char *in, size_t n, unsigned char *out, size_t outsz)
{
	size_t o = 0, i;
	uint32_t acc = 0;
	int bits = 0;

	if (n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		int v = b64_val((unsigned char)in[i]);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o >= outsz)
				return -1;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		return -1;
	return (long)o;
}

/* --- seal / open ------------------------------------------------------- */

static bool
valid_type(const char *t, size_t n)
{
	if (n == 0 || n > CM_TYPE_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = t[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool
valid_addr(const char *a, size_t n)
{
	const char *at;

	if (n < 3 || n >= CM_ADDR_KEY_MAX || memchr(a, '\0', n))
		return false;
	at = memrchr(a, '@', n);
	return at && at != a && at != a + n - 1;
}

/* AEAD in one direction; returns 0 or -1. */
static int
aead(bool enc, const unsigned char *key, const unsigned char *nonce,
    const unsigned char *ad, size_t adlen, const unsigned char *in,
    size_t n, unsigned char *out, unsigned char *tag)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int len = 0, ok;

	if (!c)
		return -1;
	ok = EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, NULL, NULL,
	    enc ? 1 : 0) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, NONCE_LEN, NULL) == 1 &&
	    EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc ? 1 : 0) == 1 &&
	    (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG_LEN,
	    tag) == 1) &&
	    EVP_CipherUpdate(c, NULL, &len, ad, (int)adlen) == 1 &&
	    EVP_CipherUpdate(c, out, &len, in, (int)n) == 1 &&
	    EVP_CipherFinal_ex(c, out + len, &len) == 1 &&
	    (!enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG_LEN,
	    tag) == 1);
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

cm_status
cm_token_seal(const cm_token_ring *r, cm_token_purpose purpose,
    const char *addr, const char *type, int64_t now_us, char *out,
    size_t outsz)
{
	unsigned char pt[PT_MAX], raw[RAW_MAX];
	size_t alen = addr ? strlen(addr) : 0, tlen = type ? strlen(type) : 0;
	size_t ptlen, rawlen;
	int64_t minutes;
	unsigned id;

	if (outsz)
		out[0] = '\0';
	if (cm_token_ring_current(r, &id) != CM_OK)
		return CM_NOTFOUND;
	if ((purpose != CM_TOKEN_UNSUBSCRIBE && purpose != CM_TOKEN_CONFIRM) ||
	    !addr || !type || !valid_type(type, tlen) || !valid_addr(addr, alen))
		return CM_EINVAL;
	minutes = now_us / MIN_US;
	if (now_us < 0 || minutes > UINT32_MAX)
		return CM_EINVAL;
	pt[0] = (unsigned char)purpose;
	pt[1] = (unsigned char)(minutes >> 24);
	pt[2] = (unsigned char)(minutes >> 16);
	pt[3] = (unsigned char)(minutes >> 8);
	pt[4] = (unsigned char)minutes;
	pt[5] = (unsigned char)tlen;
	memcpy(pt + FIXED_PT, type, tlen);
	memcpy(pt + FIXED_PT + tlen, addr, alen);
	ptlen = FIXED_PT + tlen + alen;
	rawlen = HDR_LEN + ptlen + TAG_LEN;
	if ((rawlen + 2) / 3 * 4 + 1 > outsz)
		return CM_ETOOLONG;
	raw[0] = (unsigned char)id;
	if (RAND_bytes(raw + 1, NONCE_LEN) != 1)
		return CM_EIO;
	if (aead(true, r->key[id], raw + 1, raw, 1, pt, ptlen, raw + HDR_LEN,
	    raw + HDR_LEN + ptlen) != 0)
		return CM_EIO;
	b64_encode(raw, rawlen, out);
	OPENSSL_cleanse(pt, sizeof pt);
	return CM_OK;
}

cm_status
cm_token_open(const cm_token_ring *r, const char *text, size_t len,
    int64_t now_us, int64_t max_age_us, cm_token *out)
{
	unsigned char raw[RAW_MAX], pt[PT_MAX];
	size_t ptlen, tlen, alen;
	int64_t minutes, issued;
	long n;

	memset(out, 0, sizeof *out);
	if (len > (RAW_MAX * 4 + 2) / 3)
		return CM_EINVAL;
	n = b64_decode(text, len, raw, sizeof raw);
	if (n < RAW_MIN)
		return CM_EINVAL;
	if (!r->have[raw[0]])
		return CM_NOTFOUND;
	ptlen = (size_t)n - HDR_LEN - TAG_LEN;
	if (aead(false, r->key[raw[0]], raw + 1, raw, 1, raw + HDR_LEN, ptlen,
	    pt, raw + HDR_LEN + ptlen) != 0)
		return CM_EINVAL;
	tlen = pt[5];
	if ((pt[0] != CM_TOKEN_UNSUBSCRIBE && pt[0] != CM_TOKEN_CONFIRM) ||
	    FIXED_PT + tlen > ptlen || !valid_type((char *)pt + FIXED_PT, tlen))
		goto bad;
	alen = ptlen - FIXED_PT - tlen;
	if (!valid_addr((char *)pt + FIXED_PT + tlen, alen))
		goto bad;
	minutes = (int64_t)pt[1] << 24 | (int64_t)pt[2] << 16 |
	    (int64_t)pt[3] << 8 | pt[4];
	issued = minutes * MIN_US;
	if (issued > now_us + FUTURE_SKEW_US) {
		OPENSSL_cleanse(pt, sizeof pt);
		return CM_EFUTURE;
	}
	if (max_age_us > 0 && now_us - issued > max_age_us) {
		OPENSSL_cleanse(pt, sizeof pt);
		return CM_ESTALE;
	}
	out->purpose = (cm_token_purpose)pt[0];
	out->key_id = raw[0];
	out->issued_us = issued;
	memcpy(out->type, pt + FIXED_PT, tlen);
	out->type[tlen] = '\0';
	memcpy(out->addr, pt + FIXED_PT + tlen, alen);
	out->addr[alen] = '\0';
	OPENSSL_cleanse(pt, sizeof pt);
	return CM_OK;
bad:
	OPENSSL_cleanse(pt, sizeof pt);
	return CM_EINVAL;
}
