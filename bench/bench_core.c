/*
 * bench_core.c - figures for the consent index and the decision engine.
 *
 *   bench_core build DIR N [B [S]]  add records S..S+N-1 (S = 0) to the
 *                               index in DIR (created if needed, opened in
 *                               bulk mode) in one import transaction,
 *                               B events per batch (10000)
 *   bench_core decide DIR N S   decide for S seconds on a mixed workload
 *   bench_core floor DIR S      LMDB alone on the same index: plain
 *                               mdb_get of existing and missing keys in
 *                               one read transaction, for S seconds: the
 *                               least any decision on this index costs
 *   bench_core sipkey DIR       print the address-key key of the index in
 *                               DIR (32 hex digits), for the do-nothing
 *                               filters' -K: they then look recipients up
 *                               in this very index, by its own keys
 *   bench_core putfloor DIR DST LMDB alone writing what DIR's index
 *                               holds (entries and history, every record
 *                               as stored) into a new environment in DST,
 *                               appended in key order in one transaction
 *                               with a writable map: the least any import
 *                               of these records costs
 *
 * Prints one "name: value" line per figure.  Not a test: asserts
 * nothing, but exits non-zero when an operation fails.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <lmdb.h>

#include "core/addr.h"
#include "core/decide.h"
#include "core/index.h"
#include "core/index_impl.h"	/* sipkey: benchmark floors only */

#define T0 INT64_C(1700000000000000)
#define NTYPES 4

static const char *const types[NTYPES] = {
	"news", "offers", "events", "digest"
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long
maxrss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* RssAnon and RssFile from /proc/self/status, KiB (-1 if unknown). */
static void
rss_split(long *anon, long *file)
{
	FILE *fp = fopen("/proc/self/status", "r");
	char line[256];

	*anon = *file = -1;
	if (fp == NULL)
		return;
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strncmp(line, "RssAnon:", 8) == 0)
			*anon = strtol(line + 8, NULL, 10);
		else if (strncmp(line, "RssFile:", 8) == 0)
			*file = strtol(line + 8, NULL, 10);
	}
	fclose(fp);
}

/* Record I: address and type. */
static void
rec_addr(size_t i, char *buf, size_t len)
{
	snprintf(buf, len, "user%zu@domain%zu.example", i, i % 5000);
}

static int
die(const char *what, cm_status st, cm_index *idx)
{
	fprintf(stderr, "bench_core: %s: %s (%s)\n", what, cm_strerror(st),
	    idx ? cm_index_last_error(idx) : "");
	return 1;
}

static int
build(const char *dir, size_t n, size_t batch, size_t start)
{
	cm_index_opts o = { 0 };
	cm_index *idx = NULL;
	cm_import *im = NULL;
	cm_batch *b = NULL;
	cm_batch_result r;
	cm_index_stats st;
	cm_status s;
	char *addr, *evd;
	double t0, t1 = 0, tadd = 0, c0, c1 = 0, tgen = 0, cgen = 0;
	size_t applied = 0;

	o.create = true;
	o.bulk = true;
	if ((s = cm_index_open(dir, &o, &idx)) != CM_OK)
		return die("open", s, NULL);
	if ((s = cm_batch_new(&b)) != CM_OK)
		return die("batch", s, idx);
	/* the rows of one batch, made before they are timed */
	addr = malloc(batch * 48);
	evd = malloc(batch * 32);
	if (addr == NULL || evd == NULL)
		return die("malloc", CM_ENOMEM, idx);
	t0 = now_s();
	c0 = cpu_s();
	if ((s = cm_index_import_begin(idx, n * 400, &im)) != CM_OK)
		return die("import", s, idx);
	for (size_t i = start; i < start + n; i += batch) {
		double ta = now_s(), ca = cpu_s(), tb;

		for (size_t j = i; j < i + batch && j < start + n; j++) {
			rec_addr(j, addr + (j - i) * 48, 48);
			snprintf(evd + (j - i) * 32, 32,
			    "form=signup ip=192.0.2.%zu", j % 250);
		}
		tb = now_s();
		tgen += tb - ta;
		cgen += cpu_s() - ca;
		cm_batch_clear(b);
		for (size_t j = i; j < i + batch && j < start + n; j++) {
			cm_event ev = { 0 };

			ev.kind = CM_EV_GRANT;
			ev.addr = addr + (j - i) * 48;
			ev.type = types[j % NTYPES];
			ev.at_us = T0 + (int64_t)j;
			ev.source = "import";
			ev.basis = "consent";
			ev.evidence = evd + (j - i) * 32;
			if ((s = cm_batch_add(b, &ev)) != CM_OK)
				return die("batch add", s, idx);
		}
		tadd += now_s() - tb;
		if ((s = cm_import_apply(im, b, &r)) != CM_OK)
			return die("import apply", s, idx);
		applied += r.applied;
	}
	if ((s = cm_import_commit(im)) != CM_OK)
		return die("import commit", s, idx);
	t1 = now_s() - tgen;
	c1 = cpu_s() - cgen;
	free(addr);
	free(evd);
	/* a few erasures and domain suppressions */
	cm_batch_clear(b);
	for (size_t j = 0; j < (start == 0 ? 10 : 0); j++) {
		cm_event ev = { 0 };
		char a2[80];

		snprintf(a2, sizeof(a2), "erased%zu@domain1.example", j);
		ev.kind = CM_EV_ERASE;
		ev.addr = a2;
		if ((s = cm_batch_add(b, &ev)) != CM_OK)
			return die("batch add", s, idx);
		snprintf(a2, sizeof(a2), "suppressed%zu.example", j);
		ev.kind = CM_EV_SUPPRESS_DOMAIN;
		ev.addr = a2;
		if ((s = cm_batch_add(b, &ev)) != CM_OK)
			return die("batch add", s, idx);
	}
	if (cm_batch_count(b) > 0 &&
	    (s = cm_index_apply_batch(idx, b, &r)) != CM_OK)
		return die("apply batch", s, idx);
	if ((s = cm_index_stats_get(idx, &st)) != CM_OK)
		return die("stats", s, idx);
	printf("records: %zu (applied %zu)\n", st.records, applied);
	printf("import: %.0f records/s (%.2f s for %zu records in batches "
	    "of %zu, one transaction; %.2f s of it adding events to "
	    "batches)\n", (double)n / (t1 - t0), t1 - t0, n, batch, tadd);
	printf("import CPU: %.0f records/s of CPU time (%.2f us/record "
	    "user+system; the rest of the wall time is waiting for the "
	    "disk to sync)\n", (double)n / (c1 - c0), (c1 - c0) * 1e6 /
	    (double)n);
	printf("history events: %zu\n", st.history_events);
	printf("index size: %zu octets used, %.1f octets/record "
	    "(map %zu)\n", st.map_used, (double)st.map_used /
	    (double)st.records, st.map_size);
	printf("build peak RSS: %ld KiB\n", maxrss_kib());
	cm_batch_free(b);
	cm_index_close(idx);
	return 0;
}

#define NPROBE 65536

/* Probe addresses, packed (a cm_addr is 650 octets: 64k of them would
 * measure cache misses of the benchmark's own array). */
typedef struct probe {
	char key[80], base[80];
	unsigned char key_len, base_len, domain_off, has_subaddr;
	const char *type;
} probe;

static int
decide(const char *dir, size_t n, double secs)
{
	cm_index_opts o = { 0 };
	cm_index *idx = NULL;
	probe *a;
	cm_addr tmp, cur;
	cm_status s;
	char buf[96];
	size_t count = 0, allow = 0;
	long rss0;
	double t0, t1, c0, c1;
	unsigned long long x = 88172645463325252ULL;

	o.readonly = true;
	if ((s = cm_index_open(dir, &o, &idx)) != CM_OK)
		return die("open", s, NULL);
	rss0 = maxrss_kib();
	a = malloc(NPROBE * sizeof(*a));
	if (a == NULL)
		return die("malloc", CM_ENOMEM, idx);
	memset(&cur, 0, sizeof(cur));
	/* half hits (random records, their type), half misses; one in
	 * eight sub-addressed */
	for (size_t i = 0; i < NPROBE; i++) {
		size_t r;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		r = (size_t)(x % n);
		if (i % 2 == 0) {
			rec_addr(r, buf, sizeof(buf));
			a[i].type = types[r % NTYPES];
		} else {
			snprintf(buf, sizeof(buf), "nobody%zu@domain%zu.example",
			    r, r % 5000);
			a[i].type = types[i % NTYPES];
		}
		if (i % 8 == 1) {
			char sub[96];
			char *at = strchr(buf, '@');

			snprintf(sub, sizeof(sub), "%.*s+tag%s",
			    (int)(at - buf), buf, at);
			memcpy(buf, sub, sizeof(buf));
		}
		if ((s = cm_addr_normalize(buf, strlen(buf), NULL, &tmp)) !=
		    CM_OK)
			return die("normalize", s, idx);
		if (tmp.key_len >= sizeof(a[i].key))
			return die("probe too long", CM_ETOOLONG, idx);
		memcpy(a[i].key, tmp.key, tmp.key_len + 1);
		memcpy(a[i].base, tmp.base, tmp.base_len + 1);
		a[i].key_len = (unsigned char)tmp.key_len;
		a[i].base_len = (unsigned char)tmp.base_len;
		a[i].domain_off = (unsigned char)tmp.domain_off;
		a[i].has_subaddr = tmp.has_subaddr;
	}
	/* warm-up pass, not timed: a daemon has the pages mapped */
	for (int pass = 0; pass < 2; pass++) {
		t0 = now_s();
		c0 = cpu_s();
		t1 = t0;
		count = allow = 0;
		while (t1 - t0 < (pass == 0 ? 0.0 : secs) || count == 0) {
		for (size_t i = 0; i < NPROBE; i++) {
			cm_type_policy tp = { a[i].type, CM_REQ_OPT_IN, 0 };
			cm_decision d;

			/* what the milter has after normalizing */
			memcpy(cur.key, a[i].key, a[i].key_len + 1);
			memcpy(cur.base, a[i].base, a[i].base_len + 1);
			cur.key_len = a[i].key_len;
			cur.base_len = a[i].base_len;
			cur.domain_off = a[i].domain_off;
			cur.has_subaddr = a[i].has_subaddr;
			if ((s = cm_decide(idx, &tp, &cur, T0 + 1000000000,
			    &d)) != CM_OK)
				return die("decide", s, idx);
			allow += d.verdict == CM_ALLOW;
		}
		count += NPROBE;
		t1 = now_s();
		}
		c1 = cpu_s();
	}
	printf("decide: %.0f decisions/s, %.0f ns/decision wall (%.1f%% "
	    "allowed, 1 thread, %zu-record index)\n",
	    (double)count / (t1 - t0), (t1 - t0) * 1e9 / (double)count,
	    100.0 * (double)allow / (double)count, n);
	printf("decide CPU: %.0f decisions per CPU second, %.0f ns CPU/"
	    "decision\n", (double)count / (c1 - c0),
	    (c1 - c0) * 1e9 / (double)count);
	{
		long an, fi;

		rss_split(&an, &fi);
		printf("decide peak RSS: %ld KiB (after open %ld KiB); now "
		    "anonymous %ld KiB (incl. %zu KiB probe set), "
		    "file-backed (mapped index pages) %ld KiB\n",
		    maxrss_kib(), rss0, an, NPROBE * sizeof(*a) / 1024, fi);
	}
	free(a);
	cm_index_close(idx);
	return 0;
}

/*
 * The floor: what one lookup in this B-tree costs with nothing around it
 * (no hashing, no transaction per lookup, no decoding).  Keys are taken
 * from the "index" database itself (a random sample; every other one
 * altered to miss), so the accesses are those of decide().
 */
static int
floor_(const char *dir, double secs)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k, v;
	unsigned char (*keys)[16];
	size_t total = 0, m = 0, count = 0, hits = 0;
	unsigned long long x = 88172645463325252ULL;
	double t0, t1;
	int rc;

	if ((keys = malloc(NPROBE * sizeof(*keys))) == NULL)
		return 1;
	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, 8)) != 0 ||
	    (rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, "index", 0, &dbi)) != 0 ||
	    (rc = mdb_cursor_open(txn, dbi, &c)) != 0) {
		fprintf(stderr, "bench_core: floor: %s\n", mdb_strerror(rc));
		return 1;
	}
	/* reservoir sample of the address keys (16 octets) */
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (k.mv_size != 16)
			continue;
		total++;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		if (m < NPROBE)
			memcpy(keys[m++], k.mv_data, 16);
		else if (x % total < NPROBE)
			memcpy(keys[x % total], k.mv_data, 16);
	}
	mdb_cursor_close(c);
	if (m == 0) {
		fprintf(stderr, "bench_core: floor: empty index\n");
		return 1;
	}
	for (size_t i = 1; i < m; i += 2)
		keys[i][15] ^= 0x5a;	/* a miss */
	for (int pass = 0; pass < 2; pass++) {
		t0 = t1 = now_s();
		count = hits = 0;
		while (t1 - t0 < (pass == 0 ? 0.0 : secs) || count == 0) {
			for (size_t i = 0; i < m; i++) {
				k.mv_size = 16;
				k.mv_data = keys[i];
				if (mdb_get(txn, dbi, &k, &v) == 0)
					hits += ((const unsigned char *)
					    v.mv_data)[0] != 0;
			}
			count += m;
			t1 = now_s();
		}
	}
	printf("LMDB floor: %.0f lookups/s, %.0f ns/lookup (mdb_get alone, "
	    "one read transaction, %.0f%% hits, %zu-entry B-tree)\n",
	    (double)count / (t1 - t0), (t1 - t0) * 1e9 / (double)count,
	    100.0 * (double)hits / (double)count, total);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	free(keys);
	return 0;
}

typedef struct kv {
	MDB_val k, v;
} kv;

/* All pairs of database NAME of TXN, copied (into *OUT, *N). */
static int
slurp(MDB_txn *txn, const char *name, kv **out, size_t *n)
{
	MDB_dbi dbi;
	MDB_cursor *c;
	MDB_val k, v;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if ((rc = mdb_dbi_open(txn, name, 0, &dbi)) != 0 ||
	    (rc = mdb_cursor_open(txn, dbi, &c)) != 0)
		return rc;
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		kv *e;

		if (*n == cap) {
			cap = cap ? 2 * cap : 65536;
			if ((e = realloc(*out, cap * sizeof(**out))) == NULL)
				return ENOMEM;
			*out = e;
		}
		e = &(*out)[(*n)++];
		e->k.mv_size = k.mv_size;
		e->v.mv_size = v.mv_size;
		if ((e->k.mv_data = malloc(k.mv_size + v.mv_size)) == NULL)
			return ENOMEM;
		memcpy(e->k.mv_data, k.mv_data, k.mv_size);
		e->v.mv_data = (char *)e->k.mv_data + k.mv_size;
		memcpy(e->v.mv_data, v.mv_data, v.mv_size);
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND ? 0 : rc;
}

static int
putfloor(const char *dir, const char *dst)
{
	static const char *const names[2] = { "index", "history" };
	MDB_env *env, *out;
	MDB_txn *txn;
	MDB_dbi dbi[2];
	kv *d[2] = { NULL, NULL };
	size_t n[2] = { 0, 0 }, octets = 0;
	double t0, t1, c0, c1;
	int rc;

	if ((rc = mdb_env_create(&env)) != 0 ||
	    (rc = mdb_env_set_maxdbs(env, 8)) != 0 ||
	    (rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) != 0 ||
	    (rc = slurp(txn, names[0], &d[0], &n[0])) != 0 ||
	    (rc = slurp(txn, names[1], &d[1], &n[1])) != 0) {
		fprintf(stderr, "bench_core: putfloor: %s\n", mdb_strerror(rc));
		return 1;
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
	for (int j = 0; j < 2; j++)
		for (size_t i = 0; i < n[j]; i++)
			octets += d[j][i].k.mv_size + d[j][i].v.mv_size;
	t0 = now_s();
	c0 = cpu_s();
	if ((rc = mdb_env_create(&out)) != 0 ||
	    (rc = mdb_env_set_maxdbs(out, 8)) != 0 ||
	    (rc = mdb_env_set_mapsize(out, 4 * octets + (64u << 20))) != 0 ||
	    (rc = mdb_env_open(out, dst, MDB_WRITEMAP | MDB_NOTLS, 0600)) !=
	    0 || (rc = mdb_txn_begin(out, NULL, 0, &txn)) != 0 ||
	    (rc = mdb_dbi_open(txn, names[0], MDB_CREATE, &dbi[0])) != 0 ||
	    (rc = mdb_dbi_open(txn, names[1], MDB_CREATE, &dbi[1])) != 0) {
		fprintf(stderr, "bench_core: putfloor: %s\n", mdb_strerror(rc));
		return 1;
	}
	for (int j = 0; j < 2; j++)
		for (size_t i = 0; i < n[j]; i++)
			if ((rc = mdb_put(txn, dbi[j], &d[j][i].k, &d[j][i].v,
			    MDB_APPEND)) != 0) {
				fprintf(stderr, "bench_core: putfloor: put: "
				    "%s\n", mdb_strerror(rc));
				return 1;
			}
	if ((rc = mdb_txn_commit(txn)) != 0) {
		fprintf(stderr, "bench_core: putfloor: commit: %s\n",
		    mdb_strerror(rc));
		return 1;
	}
	t1 = now_s();
	c1 = cpu_s();
	mdb_env_close(out);
	printf("LMDB floor: %.0f records/s (%.2f s, %.2f s CPU: %zu entries "
	    "and %zu history events, %zu octets, appended in key order in "
	    "one transaction, writable map)\n", (double)n[0] / (t1 - t0),
	    t1 - t0, c1 - c0, n[0], n[1], octets);
	for (int j = 0; j < 2; j++) {
		for (size_t i = 0; i < n[j]; i++)
			free(d[j][i].k.mv_data);
		free(d[j]);
	}
	return 0;
}

/* The key of DIR's address keys, in hex: what a do-nothing filter needs
 * to find a recipient in the same index (bench/noop_key.h). */
static int
sipkey(const char *dir)
{
	cm_index_opts o = { .readonly = true };
	cm_index *idx;
	cm_status st = cm_index_open(dir, &o, &idx);

	if (st != CM_OK) {
		fprintf(stderr, "bench_core: sipkey: %s: %s\n", dir,
		    cm_strerror(st));
		return 1;
	}
	for (size_t i = 0; i < sizeof(idx->sipkey); i++)
		printf("%02x", idx->sipkey[i]);
	printf("\n");
	cm_index_close(idx);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 4 && argc <= 6 && strcmp(argv[1], "build") == 0)
		return build(argv[2], strtoul(argv[3], NULL, 10),
		    argc >= 5 ? strtoul(argv[4], NULL, 10) : 10000,
		    argc == 6 ? strtoul(argv[5], NULL, 10) : 0);
	if (argc == 5 && strcmp(argv[1], "decide") == 0)
		return decide(argv[2], strtoul(argv[3], NULL, 10),
		    strtod(argv[4], NULL));
	if (argc == 4 && strcmp(argv[1], "putfloor") == 0)
		return putfloor(argv[2], argv[3]);
	if (argc == 3 && strcmp(argv[1], "sipkey") == 0)
		return sipkey(argv[2]);
	if (argc == 4 && strcmp(argv[1], "floor") == 0)
		return floor_(argv[2], strtod(argv[3], NULL));
	fprintf(stderr, "usage: bench_core build DIR N [BATCH [START]] | "
	    "decide DIR N SECS | floor DIR SECS | sipkey DIR | "
	    "putfloor DIR DST\n");
	return 2;
}
