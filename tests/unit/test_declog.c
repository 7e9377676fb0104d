/* test_declog.c - decision log: writing, reading, filters, pruning, hashes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/declog.h"

#define DAY_US (INT64_C(86400) * 1000000)
/* 2026-11-20T10:00:00Z */
#define T0 (INT64_C(1795168800) * 1000000)

struct fx {
	char dir[64];
	char logdir[96];
	char keyfile[96];
};

static void
rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (d != NULL) {
		while ((de = readdir(d)) != NULL) {
			char sub[512];

			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_rf(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	strcpy(fx->dir, "/tmp/cm-declog.XXXXXX");
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->logdir, sizeof(fx->logdir), "%s/log", fx->dir);
	snprintf(fx->keyfile, sizeof(fx->keyfile), "%s/declog.key", fx->dir);
	umask(022);
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;

	rm_rf(fx->dir);
	free(fx);
	return 0;
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int c;

	if (fp == NULL)
		return NULL;
	while ((c = getc(fp)) != EOF) {
		if (n + 2 > cap) {
			cap = cap ? cap * 2 : 4096;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		buf[n++] = (char)c;
	}
	fclose(fp);
	if (buf == NULL)
		buf = calloc(1, 1);
	else
		buf[n] = '\0';
	*len = n;
	return buf;
}

static cm_declog *
open_log(struct fx *fx, bool hash, unsigned retention)
{
	cm_declog_opts o = {
		.dir = fx->logdir,
		.retention_days = retention,
		.hash_addresses = hash,
		.key_file = fx->keyfile,
	};
	cm_declog *log = NULL;

	assert_int_equal(cm_declog_open(&o, &log), CM_OK);
	return log;
}

static void
add(cm_declog *log, int64_t t, const char *type, const char *campaign,
    const char *rcpt, const char *verdict, const char *reason,
    cm_declog_action a)
{
	cm_declog_rec r = {
		.time_us = t, .queue_id = "4XyzQ1", .message_id = "<m1@x.example>",
		.sender = "news@offers.example.com", .type = type,
		.campaign = campaign, .rcpt = rcpt, .verdict = verdict,
		.reason = reason, .action = a,
	};

	assert_int_equal(cm_declog_add(log, &r), CM_OK);
}

static size_t
count(const char *dir, const cm_declog_filter *f)
{
	cm_declog_reader *r;
	cm_declog_rec rec;
	size_t n = 0;
	cm_status st;

	assert_int_equal(cm_declog_reader_open(dir, f, &r), CM_OK);
	while ((st = cm_declog_reader_next(r, &rec)) == CM_OK)
		n++;
	assert_int_equal(st, CM_NOTFOUND);
	cm_declog_reader_close(r);
	return n;
}

/* ------------------------------------------------------------ JSON */

static void
test_json_escape(void **state)
{
	static const struct {
		const char *in;
		size_t len;
		const char *out;
	} cases[] = {
		{ "plain", 5, "\"plain\"" },
		{ "", 0, "\"\"" },
		{ "a\"b\\c", 5, "\"a\\\"b\\\\c\"" },
		{ "l1\nl2\r\t", 7, "\"l1\\nl2\\r\\t\"" },
		{ "\x01\x1f\x7f", 3, "\"\\u0001\\u001f\\u007f\"" },
		{ "nul\0x", 5, "\"nul\\u0000x\"" },
		{ "caf\xc3\xa9", 5, "\"caf\xc3\xa9\"" },			/* é */
		{ "\xf0\x9f\x98\x80", 4, "\"\xf0\x9f\x98\x80\"" },	/* emoji */
		{ "bad\xff", 4, "\"bad\xef\xbf\xbd\"" },
		{ "\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"" },	/* overlong */
		{ "\xed\xa0\x80", 3,
		    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },	/* surrogate */
		{ "\xf4\x90\x80\x80", 4,
		    "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"" },
		{ "cut\xc3", 4, "\"cut\xef\xbf\xbd\"" },		/* truncated */
		{ "</script>", 9, "\"</script>\"" },
	};
	char buf[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = cm_declog_json_string(cases[i].in, cases[i].len, buf,
		    sizeof(buf));

		assert_string_equal(buf, cases[i].out);
		assert_int_equal(n, strlen(cases[i].out));
	}
	/* too small a buffer is refused, not overrun */
	assert_int_equal(cm_declog_json_string("abcdef", 6, buf, 5), 0);
	/* fields are cut at CM_DECLOG_FIELD_MAX input octets */
	{
		char *big = malloc(5000), *out = malloc(8000);

		assert_non_null(big);
		assert_non_null(out);
		memset(big, 'a', 5000);
		assert_int_equal(cm_declog_json_string(big, 5000, out, 8000),
		    CM_DECLOG_FIELD_MAX + 2);
		free(big);
		free(out);
	}
}

static void
test_action_names(void **state)
{
	cm_declog_action a;

	(void)state;
	assert_string_equal(cm_declog_action_name(CM_DECLOG_REFUSED), "refused");
	assert_string_equal(cm_declog_action_name(CM_DECLOG_TEMPFAILED),
	    "tempfailed");
	assert_string_equal(cm_declog_action_name((cm_declog_action)0), "unknown");
	assert_string_equal(cm_declog_action_name((cm_declog_action)99),
	    "unknown");
	assert_int_equal(cm_declog_action_parse("removed", &a), CM_OK);
	assert_int_equal(a, CM_DECLOG_REMOVED);
	assert_int_equal(cm_declog_action_parse("Removed", &a), CM_EINVAL);
	assert_int_equal(cm_declog_action_parse(NULL, &a), CM_EINVAL);
}

/* ------------------------------------------------------------ write/read */

static void
test_write_read(void **state)
{
	struct fx *fx = *state;
	cm_declog *log = open_log(fx, false, 0);
	cm_declog_reader *r;
	cm_declog_rec rec;
	cm_declog_stats st;
	struct stat sb;
	char path[256], *data;
	size_t len;
	cm_declog_rec odd = {
		.time_us = T0 + 123456, .queue_id = NULL,
		.message_id = "<q\"uote\\d\n@x>", .sender = "s\xff@x",
		.type = "offers", .campaign = "c\x01",
		.rcpt = "b\xc3\xa9@y.example", .verdict = "deny",
		.reason = "no-consent", .action = CM_DECLOG_REMOVED,
	};

	add(log, T0, "offers", "c-1", "bob@y.example", "deny", "no-consent",
	    CM_DECLOG_REFUSED);
	assert_int_equal(cm_declog_add(log, &odd), CM_OK);
	assert_int_equal(cm_declog_flush(log), CM_OK);
	cm_declog_stats_get(log, &st);
	assert_int_equal(st.added, 2);
	assert_int_equal(st.written, 2);
	assert_int_equal(st.dropped, 0);
	assert_true(st.batches >= 1);
	cm_declog_close(log);

	snprintf(path, sizeof(path), "%s/decisions-2026-11-20.jsonl",
	    fx->logdir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0640);
	data = slurp(path, &len);
	assert_non_null(data);
	assert_non_null(strstr(data,
	    "{\"time\":\"2026-11-20T10:00:00Z\",\"queue_id\":\"4XyzQ1\","
	    "\"message_id\":\"<m1@x.example>\",\"sender\":"
	    "\"news@offers.example.com\",\"type\":\"offers\",\"campaign\":"
	    "\"c-1\",\"rcpt\":\"bob@y.example\",\"verdict\":\"deny\","
	    "\"reason\":\"no-consent\",\"action\":\"refused\"}\n"));
	assert_non_null(strstr(data, "\"time\":\"2026-11-20T10:00:00.123456Z\","
	    "\"queue_id\":null,\"message_id\":\"<q\\\"uote\\\\d\\n@x>\","
	    "\"sender\":\"s\xef\xbf\xbd@x\""));
	assert_non_null(strstr(data, "\"campaign\":\"c\\u0001\""));
	free(data);

	assert_int_equal(cm_declog_reader_open(fx->logdir, NULL, &r), CM_OK);
	assert_int_equal(cm_declog_reader_next(r, &rec), CM_OK);
	assert_true(rec.time_us == T0);
	assert_string_equal(rec.rcpt, "bob@y.example");
	assert_string_equal(rec.campaign, "c-1");
	assert_int_equal(rec.action, CM_DECLOG_REFUSED);
	assert_int_equal(cm_declog_reader_next(r, &rec), CM_OK);
	assert_true(rec.time_us == T0 + 123456);
	assert_null(rec.queue_id);
	assert_string_equal(rec.message_id, "<q\"uote\\d\n@x>");
	assert_string_equal(rec.sender, "s\xef\xbf\xbd@x");
	assert_string_equal(rec.campaign, "c\x01");
	assert_string_equal(rec.rcpt, "b\xc3\xa9@y.example");
	assert_int_equal(rec.action, CM_DECLOG_REMOVED);
	assert_int_equal(cm_declog_reader_next(r, &rec), CM_NOTFOUND);
	assert_int_equal(cm_declog_reader_bad(r), 0);
	cm_declog_reader_close(r);
}

/* ------------------------------------------------------------ add_many */

static cm_declog *
open_dir(const char *dir, bool hash, const char *keyfile, size_t queue_max)
{
	cm_declog_opts o = {
		.dir = dir, .hash_addresses = hash, .key_file = keyfile,
		.queue_max = queue_max,
		/* with a queue limit: written only when flushed */
		.flush_ms = queue_max ? 60000 : 0,
	};
	cm_declog *log = NULL;

	assert_int_equal(cm_declog_open(&o, &log), CM_OK);
	return log;
}

/* The contents of DIR's day file for DATE ("" if none). */
static char *
day_contents(const char *dir, const char *date)
{
	char path[256];
	size_t len;
	char *data;

	snprintf(path, sizeof(path), "%s/decisions-%s.jsonl", dir, date);
	data = slurp(path, &len);
	return data != NULL ? data : strdup("");
}

/*
 * cm_declog_add_many writes exactly the lines of as many cm_declog_add
 * calls, in order, also across midnight, with escapes, null fields and
 * hashed addresses.
 */
static void
test_add_many_same_lines(void **state)
{
	struct fx *fx = *state;
	static const int64_t midnight = T0 + 14 * INT64_C(3600) * 1000000;
	const cm_declog_item items[] = {
		{ T0 + 100000, "a@y.example", "allow", "none", CM_DECLOG_ALLOWED },
		{ T0 + 1, "b\"q\\@y", "deny", "no-consent", CM_DECLOG_REFUSED },
		{ T0 + 999999, NULL, NULL, NULL, CM_DECLOG_TEMPFAILED },
		{ midnight - 1, "c\xc3\xa9@y", "deny", "withdrawn",
		  CM_DECLOG_REMOVED },
		{ midnight, "d\x01\xff@y", "deny", "expired",
		  CM_DECLOG_MONITORED },
		{ midnight + 10, "e@y", "allow", "none", CM_DECLOG_ALLOWED },
		{ midnight - 2, "f@y", "allow", "none", CM_DECLOG_ALLOWED },
	};
	const size_t n = sizeof(items) / sizeof(items[0]);
	cm_declog_rec base = {
		.queue_id = "4XyzQ1", .message_id = "<m\n1@x>",
		.sender = "news@offers.example", .type = "offers",
		.campaign = NULL,
	};

	for (int hash = 0; hash <= 1; hash++) {
		char one[128], many[128], *a, *b;
		cm_declog *l1, *l2;
		cm_declog_stats st;

		snprintf(one, sizeof(one), "%s/one%d", fx->dir, hash);
		snprintf(many, sizeof(many), "%s/many%d", fx->dir, hash);
		l1 = open_dir(one, hash, fx->keyfile, 0);
		l2 = open_dir(many, hash, fx->keyfile, 0);
		for (size_t i = 0; i < n; i++) {
			cm_declog_rec r = base;

			r.time_us = items[i].time_us;
			r.rcpt = items[i].rcpt;
			r.verdict = items[i].verdict;
			r.reason = items[i].reason;
			r.action = items[i].action;
			assert_int_equal(cm_declog_add(l1, &r), CM_OK);
		}
		assert_int_equal(cm_declog_add_many(l2, &base, items, n), CM_OK);
		assert_int_equal(cm_declog_flush(l1), CM_OK);
		assert_int_equal(cm_declog_flush(l2), CM_OK);
		cm_declog_stats_get(l2, &st);
		assert_int_equal(st.added, n);
		assert_int_equal(st.written, n);
		cm_declog_close(l1);
		cm_declog_close(l2);
		for (int d = 0; d < 2; d++) {
			const char *date = d ? "2026-11-21" : "2026-11-20";

			a = day_contents(one, date);
			b = day_contents(many, date);
			assert_true(strlen(a) > 100);
			assert_string_equal(a, b);
			if (hash)
				assert_null(strstr(a, "@y"));
			free(a);
			free(b);
		}
	}
	/* the day files hold what the order of the items says */
	{
		char many[128];
		char *a, *b;

		snprintf(many, sizeof(many), "%s/many0", fx->dir);
		a = day_contents(many, "2026-11-20");
		b = day_contents(many, "2026-11-21");
		assert_non_null(strstr(a, "\"time\":\"2026-11-20T10:00:00.1Z\""));
		assert_non_null(strstr(a,
		    "\"time\":\"2026-11-20T10:00:00.000001Z\""));
		assert_non_null(strstr(a,
		    "\"time\":\"2026-11-20T10:00:00.999999Z\",\"queue_id\":"
		    "\"4XyzQ1\",\"message_id\":\"<m\\n1@x>\",\"sender\":"
		    "\"news@offers.example\",\"type\":\"offers\",\"campaign\":"
		    "null,\"rcpt\":null,\"verdict\":null,\"reason\":null,"
		    "\"action\":\"tempfailed\"}\n"));
		assert_non_null(strstr(a, "23:59:59.999999Z"));
		assert_non_null(strstr(a, "23:59:59.999998Z"));
		assert_non_null(strstr(b, "\"time\":\"2026-11-21T00:00:00Z\""));
		assert_non_null(strstr(b, "\"rcpt\":\"d\\u0001\xef\xbf\xbd@y\""));
		assert_non_null(strstr(b, "00:00:00.00001Z"));
		free(a);
		free(b);
	}
}

static void
test_add_many_limits(void **state)
{
	struct fx *fx = *state;
	cm_declog *log = open_dir(fx->logdir, false, NULL, 10);
	cm_declog_stats st;
	cm_declog_rec base = { .type = "offers" };
	cm_declog_item it[4] = {
		{ 1, "a@y", "allow", "none", CM_DECLOG_ALLOWED },
		{ INT64_C(253402300799) * 1000000, "b@y", "allow", "none",
		  CM_DECLOG_ALLOWED },
		{ T0, "c@y", "allow", "none", CM_DECLOG_ALLOWED },
		{ 0, "d@y", "allow", "none", CM_DECLOG_ALLOWED },	/* now */
	};
	char *a;

	assert_int_equal(cm_declog_add_many(NULL, &base, it, 4), CM_EINVAL);
	assert_int_equal(cm_declog_add_many(log, NULL, it, 4), CM_EINVAL);
	assert_int_equal(cm_declog_add_many(log, &base, NULL, 4), CM_EINVAL);
	assert_int_equal(cm_declog_add_many(log, &base, it, 0), CM_OK);
	/* one bad item: nothing queued */
	it[2].action = (cm_declog_action)0;
	assert_int_equal(cm_declog_add_many(log, &base, it, 4), CM_EINVAL);
	it[2].action = CM_DECLOG_ALLOWED;
	it[1].time_us++;	/* after 9999-12-31T23:59:59Z */
	assert_int_equal(cm_declog_add_many(log, &base, it, 4), CM_EINVAL);
	it[1].time_us--;
	it[0].time_us = -1;
	assert_int_equal(cm_declog_add_many(log, &base, it, 4), CM_EINVAL);
	it[0].time_us = 1;
	cm_declog_stats_get(log, &st);
	assert_int_equal(st.added, 0);
	assert_int_equal(st.dropped, 0);
	/* a queue of 10 (not emptied before the flush): 2 + 4 + 4 records
	 * fit, the next ones are dropped */
	assert_int_equal(cm_declog_add_many(log, &base, it + 2, 2), CM_OK);
	assert_int_equal(cm_declog_add_many(log, &base, it, 4), CM_OK);
	assert_int_equal(cm_declog_add_many(log, &base, it, 4), CM_OK);
	assert_int_equal(cm_declog_add_many(log, &base, it, 1), CM_ENOMEM);
	assert_int_equal(cm_declog_add_many(log, &base, it + 2, 2), CM_ENOMEM);
	cm_declog_stats_get(log, &st);
	assert_int_equal(st.added, 10);
	assert_int_equal(st.dropped, 3);
	assert_int_equal(st.written, 0);
	assert_int_equal(cm_declog_flush(log), CM_OK);
	cm_declog_stats_get(log, &st);
	assert_int_equal(st.written, 10);
	cm_declog_close(log);
	a = day_contents(fx->logdir, "1970-01-01");
	assert_non_null(strstr(a, "{\"time\":\"1970-01-01T00:00:00.000001Z\","));
	free(a);
	a = day_contents(fx->logdir, "9999-12-31");
	assert_non_null(strstr(a, "{\"time\":\"9999-12-31T23:59:59Z\","));
	free(a);
}

static void
test_bad_input(void **state)
{
	struct fx *fx = *state;
	cm_declog_opts o = { .dir = fx->logdir };
	cm_declog *log = NULL;
	cm_declog_rec r = { .action = (cm_declog_action)0 };

	assert_int_equal(cm_declog_open(NULL, &log), CM_EINVAL);
	o.dir = "";
	assert_int_equal(cm_declog_open(&o, &log), CM_EINVAL);
	o.dir = fx->logdir;
	o.hash_addresses = true;	/* without key file */
	assert_int_equal(cm_declog_open(&o, &log), CM_EINVAL);
	o.hash_addresses = false;
	o.dir = "/proc/version";	/* exists, not a directory */
	assert_int_not_equal(cm_declog_open(&o, &log), CM_OK);
	log = open_log(fx, false, 0);
	assert_int_equal(cm_declog_add(log, &r), CM_EINVAL);
	r.action = (cm_declog_action)6;
	assert_int_equal(cm_declog_add(log, &r), CM_EINVAL);
	r.action = CM_DECLOG_ALLOWED;
	r.time_us = -5;
	assert_int_equal(cm_declog_add(log, &r), CM_EINVAL);
	r.time_us = 0;	/* now */
	assert_int_equal(cm_declog_add(log, &r), CM_OK);
	assert_int_equal(cm_declog_flush(log), CM_OK);
	cm_declog_close(log);
	cm_declog_close(NULL);
	assert_int_equal(count(fx->logdir, NULL), 1);
}

static void
test_reader_skips_garbage(void **state)
{
	struct fx *fx = *state;
	cm_declog *log = open_log(fx, false, 0);
	cm_declog_reader *r;
	char path[256];
	FILE *fp;
	char *longline;

	add(log, T0, "offers", NULL, "a@x", "allow", "none", CM_DECLOG_ALLOWED);
	assert_int_equal(cm_declog_flush(log), CM_OK);
	cm_declog_close(log);
	snprintf(path, sizeof(path), "%s/decisions-2026-11-20.jsonl",
	    fx->logdir);
	fp = fopen(path, "a");
	assert_non_null(fp);
	fputs("not json\n", fp);
	fputs("{\"time\":\"2026-11-20T10:00:00Z\"}\n", fp);	/* no action */
	fputs("{\"time\":\"yesterday\",\"action\":\"allowed\"}\n", fp);
	fputs("{\"time\":\"2026-11-20T10:00:01Z\",\"action\":\"allowed\","
	    "\"rcpt\":\"\\ud83d\\ude00@x\",\"extra\":12,\"t\":true}\n", fp);
	fputs("{\"time\":\"2026-11-20T10:00:02Z\",\"action\":\"allowed\","
	    "\"rcpt\":\"\\ud83d@x\"}\n", fp);	/* lone surrogate */
	fputs("{\"time\":\"2026-11-20T10:00:02Z\",\"action\":\"nope\"}\n", fp);
	longline = malloc(CM_DECLOG_LINE_MAX + 100);
	assert_non_null(longline);
	memset(longline, 'x', CM_DECLOG_LINE_MAX + 99);
	longline[CM_DECLOG_LINE_MAX + 99] = '\0';
	fprintf(fp, "%s\n", longline);
	free(longline);
	fputs("{\"time\":\"2026-11-20T10:00:03Z\",\"action\":\"removed\"}\n", fp);
	fclose(fp);
	/* a file that is not a day file is ignored */
	snprintf(path, sizeof(path), "%s/decisions-2026-13-01.jsonl",
	    fx->logdir);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("{\"time\":\"2026-11-20T10:00:03Z\",\"action\":\"removed\"}\n", fp);
	fclose(fp);

	assert_int_equal(count(fx->logdir, NULL), 3);
	assert_int_equal(cm_declog_reader_open(fx->logdir, NULL, &r), CM_OK);
	{
		cm_declog_rec rec;

		assert_int_equal(cm_declog_reader_next(r, &rec), CM_OK);
		assert_int_equal(cm_declog_reader_next(r, &rec), CM_OK);
		assert_string_equal(rec.rcpt, "\xf0\x9f\x98\x80@x");
		assert_int_equal(cm_declog_reader_next(r, &rec), CM_OK);
		assert_int_equal(rec.action, CM_DECLOG_REMOVED);
		assert_int_equal(cm_declog_reader_next(r, &rec), CM_NOTFOUND);
	}
	assert_int_equal(cm_declog_reader_bad(r), 6);
	cm_declog_reader_close(r);
	assert_int_equal(cm_declog_reader_open("/nonexistent/x", NULL, &r),
	    CM_NOTFOUND);
}

/* ------------------------------------------------------------ filters */

static void
test_filters(void **state)
{
	struct fx *fx = *state;
	cm_declog *log = open_log(fx, false, 0);
	static const struct {
		cm_declog_filter f;
		size_t n;
	} cases[] = {
		{ { 0 }, 9 },
		{ { .type = "offers" }, 6 },
		{ { .type = "weekly" }, 4 },
		{ { .type = "weekly,offers" }, 1 },	/* several types */
		{ { .type = "offer" }, 0 },
		{ { .type = "none" }, 0 },
		{ { .campaign = "c-1" }, 4 },
		{ { .reason = "no-consent" }, 4 },
		{ { .reason = "withdrawn", .type = "offers" }, 1 },
		{ { .verdict = "allow" }, 3 },
		{ { .action = "removed" }, 3 },
		{ { .action = "refused" }, 2 },
		{ { .rcpt = "bob@y.example" }, 3 },
		{ { .rcpt = "bob@y" }, 0 },
		{ { .since_us = T0 + DAY_US }, 7 },
		{ { .since_us = T0 + DAY_US, .until_us = T0 + 2 * DAY_US }, 3 },
		{ { .until_us = T0 + 1 }, 1 },	/* until is exclusive */
		{ { .since_us = T0 + 1, .until_us = T0 + DAY_US + 1 }, 2 },
		{ { .since_us = T0 + 10 * DAY_US }, 0 },
		{ { .type = "offers", .campaign = "c-2", .verdict = "deny" }, 2 },
	};

	/* day 0 */
	add(log, T0, "offers", "c-1", "bob@y.example", "deny", "no-consent",
	    CM_DECLOG_REMOVED);
	add(log, T0 + 1, "offers", "c-1", "amy@y.example", "allow", "none",
	    CM_DECLOG_ALLOWED);
	/* day 1 */
	add(log, T0 + DAY_US, "weekly", "c-1", "bob@y.example", "deny",
	    "withdrawn", CM_DECLOG_REFUSED);
	add(log, T0 + DAY_US + 5, "offers", "c-2", "bob@y.example", "deny",
	    "withdrawn", CM_DECLOG_REFUSED);
	add(log, T0 + DAY_US + 6, "offers", "c-2", "cy@y.example", "deny",
	    "no-consent", CM_DECLOG_REMOVED);
	/* day 2, added out of order: read back in day order */
	add(log, T0 + 2 * DAY_US, "weekly", "c-1", "dee@y.example", "deny",
	    "no-consent", CM_DECLOG_MONITORED);
	add(log, T0 + 2 * DAY_US + 1, "weekly", NULL, "eve@y.example", "allow",
	    "none", CM_DECLOG_ALLOWED);
	add(log, T0 + 2 * DAY_US + 2, "offers", "c-3", "fay@y.example", "allow",
	    "none", CM_DECLOG_ALLOWED);
	/* a message of two types (issue 12) */
	add(log, T0 + 2 * DAY_US + 3, "weekly,offers", "c-4", "gus@y.example",
	    "deny", "no-consent", CM_DECLOG_REMOVED);
	assert_int_equal(cm_declog_flush(log), CM_OK);
	cm_declog_close(log);

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = count(fx->logdir, &cases[i].f);

		if (n != cases[i].n)
			fail_msg("case %zu: %zu records, want %zu", i, n,
			    cases[i].n);
	}
	/* three day files */
	{
		char p[256];
		struct stat sb;

		snprintf(p, sizeof(p), "%s/decisions-2026-11-21.jsonl",
		    fx->logdir);
		assert_int_equal(stat(p, &sb), 0);
		snprintf(p, sizeof(p), "%s/decisions-2026-11-22.jsonl",
		    fx->logdir);
		assert_int_equal(stat(p, &sb), 0);
	}
	/* order: non-decreasing time */
	{
		cm_declog_reader *r;
		cm_declog_rec rec;
		int64_t last = 0;

		assert_int_equal(cm_declog_reader_open(fx->logdir, NULL, &r),
		    CM_OK);
		while (cm_declog_reader_next(r, &rec) == CM_OK) {
			assert_true(rec.time_us >= last);
			last = rec.time_us;
		}
		cm_declog_reader_close(r);
	}
}

/* ------------------------------------------------------------ pruning */

static void
touch(const char *dir, const char *name)
{
	char p[256];
	FILE *fp;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fp = fopen(p, "w");
	assert_non_null(fp);
	fclose(fp);
}

static bool
exists(const char *dir, const char *name)
{
	char p[256];
	struct stat sb;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return stat(p, &sb) == 0;
}

static void
day_file(int64_t days_ago, char *out, size_t size)
{
	time_t t = time(NULL) - (time_t)days_ago * 86400;
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, size, "decisions-%Y-%m-%d.jsonl", &tm);
}

static void
test_prune(void **state)
{
	struct fx *fx = *state;
	cm_declog *log;
	cm_declog_stats st;
	char d0[64], d3[64], d4[64], d400[64];

	assert_int_equal(mkdir(fx->logdir, 0750), 0);
	day_file(0, d0, sizeof(d0));
	day_file(3, d3, sizeof(d3));
	day_file(4, d4, sizeof(d4));
	day_file(400, d400, sizeof(d400));
	touch(fx->logdir, d0);
	touch(fx->logdir, d3);
	touch(fx->logdir, d4);
	touch(fx->logdir, d400);
	touch(fx->logdir, "decisions-2001-01-01.jsonl.bak");
	touch(fx->logdir, "other.txt");

	log = open_log(fx, false, 3);
	cm_declog_stats_get(log, &st);
	assert_int_equal(st.pruned, 2);
	cm_declog_close(log);
	assert_true(exists(fx->logdir, d0));
	assert_true(exists(fx->logdir, d3));
	assert_false(exists(fx->logdir, d4));
	assert_false(exists(fx->logdir, d400));
	assert_true(exists(fx->logdir, "decisions-2001-01-01.jsonl.bak"));
	assert_true(exists(fx->logdir, "other.txt"));

	/* retention 0 keeps everything */
	touch(fx->logdir, d400);
	log = open_log(fx, false, 0);
	cm_declog_close(log);
	assert_true(exists(fx->logdir, d400));
}

/* ------------------------------------------------------------ hashes */

static bool
contains(const char *dir, const char *needle)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	bool found = false;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL) {
		char p[512], *data;
		size_t len;

		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
		data = slurp(p, &len);
		assert_non_null(data);
		if (memmem(data, len, needle, strlen(needle)) != NULL)
			found = true;
		free(data);
	}
	closedir(d);
	return found;
}

static void
test_hash_vector(void **state)
{
	/* RFC 4231 test case 2 */
	char out[CM_DECLOG_HASH_BUFSZ];

	(void)state;
	assert_int_equal(cm_declog_hash((const unsigned char *)"Jefe", 4,
	    "what do ya want for nothing?", 28, out), CM_OK);
	assert_string_equal(out, "hmac-sha256:5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843");
	assert_int_equal(cm_declog_hash(NULL, 0, "x", 1, out), CM_EINVAL);
}

static void
test_hashed_log(void **state)
{
	struct fx *fx = *state;
	cm_declog *log = open_log(fx, true, 0);
	cm_declog_filter f = { .rcpt = "bob@y.example" };
	cm_declog_reader *r;
	cm_declog_rec rec;
	unsigned char key[CM_DECLOG_KEY_MAX];
	size_t klen = 0;
	char h[CM_DECLOG_HASH_BUFSZ];
	struct stat sb;

	add(log, T0, "offers", "c-1", "bob@y.example", "deny", "no-consent",
	    CM_DECLOG_REMOVED);
	add(log, T0 + 1, "offers", "c-1", "amy@y.example", "allow", "none",
	    CM_DECLOG_ALLOWED);
	assert_int_equal(cm_declog_flush(log), CM_OK);
	cm_declog_close(log);

	/* key created 0600 with 32 octets */
	assert_int_equal(stat(fx->keyfile, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(sb.st_size, 32);

	/* no address in clear, not even a part of one */
	assert_false(contains(fx->logdir, "bob@y.example"));
	assert_false(contains(fx->logdir, "amy@"));
	assert_false(contains(fx->logdir, "y.example"));
	assert_false(contains(fx->logdir, "news@offers"));
	assert_true(contains(fx->logdir, "hmac-sha256:"));
	assert_true(contains(fx->logdir, "\"campaign\":\"c-1\""));

	/* found by address with the key, not without */
	f.key_file = fx->keyfile;
	assert_int_equal(count(fx->logdir, &f), 1);
	f.key_file = NULL;
	assert_int_equal(count(fx->logdir, &f), 0);
	f.key_file = "/nonexistent/key";
	assert_int_equal(count(fx->logdir, &f), 0);

	/* the stored value is the keyed hash of the address */
	assert_int_equal(cm_declog_key_load(fx->keyfile, false, key,
	    sizeof(key), &klen), CM_OK);
	assert_int_equal(klen, 32);
	assert_int_equal(cm_declog_hash(key, klen, "bob@y.example", 13, h),
	    CM_OK);
	f.key_file = fx->keyfile;
	assert_int_equal(cm_declog_reader_open(fx->logdir, &f, &r), CM_OK);
	assert_int_equal(cm_declog_reader_next(r, &rec), CM_OK);
	assert_string_equal(rec.rcpt, h);
	assert_int_equal(strncmp(rec.sender, "hmac-sha256:", 12), 0);
	assert_int_equal(cm_declog_reader_next(r, &rec), CM_NOTFOUND);
	cm_declog_reader_close(r);

	/* the same key is reused on the next open */
	log = open_log(fx, true, 0);
	add(log, T0 + 2, "offers", "c-2", "bob@y.example", "deny", "withdrawn",
	    CM_DECLOG_REMOVED);
	assert_int_equal(cm_declog_flush(log), CM_OK);
	cm_declog_close(log);
	f.key_file = fx->keyfile;
	assert_int_equal(count(fx->logdir, &f), 2);
}

static void
test_key_file_errors(void **state)
{
	struct fx *fx = *state;
	unsigned char key[CM_DECLOG_KEY_MAX];
	size_t klen;
	FILE *fp;

	assert_int_equal(cm_declog_key_load(fx->keyfile, false, key,
	    sizeof(key), &klen), CM_NOTFOUND);
	fp = fopen(fx->keyfile, "w");
	assert_non_null(fp);
	fputs("short", fp);	/* < 16 octets */
	fclose(fp);
	assert_int_equal(cm_declog_key_load(fx->keyfile, true, key,
	    sizeof(key), &klen), CM_EFORMAT);
	assert_int_equal(cm_declog_key_load(NULL, true, key, sizeof(key),
	    &klen), CM_EINVAL);
	{
		cm_declog_opts o = { .dir = fx->logdir, .hash_addresses = true,
		    .key_file = fx->keyfile };
		cm_declog *log = NULL;

		assert_int_equal(cm_declog_open(&o, &log), CM_EFORMAT);
		assert_null(log);
	}
}

/* ------------------------------------------------------------ queue */

struct errs {
	pthread_mutex_t mu;
	int calls;
	char last[128];
};

static void
on_report(void *arg, const cm_report *r)
{
	struct errs *er = arg;

	pthread_mutex_lock(&er->mu);
	er->calls++;
	snprintf(er->last, sizeof(er->last), "%s", r->text);
	pthread_mutex_unlock(&er->mu);
}

static void
test_queue_full_drops(void **state)
{
	struct fx *fx = *state;
	struct errs er = { .mu = PTHREAD_MUTEX_INITIALIZER };
	cm_declog_opts o = {
		.dir = fx->logdir, .queue_max = 10, .batch_max = 1000,
		.flush_ms = 60000, .report = on_report, .report_arg = &er,
	};
	cm_declog *log = NULL;
	cm_declog_stats st;
	cm_declog_rec r = { .time_us = T0, .rcpt = "x@y", .verdict = "allow",
	    .action = CM_DECLOG_ALLOWED };
	int ok = 0, dropped = 0;

	assert_int_equal(cm_declog_open(&o, &log), CM_OK);
	for (int i = 0; i < 100; i++) {
		cm_status s = cm_declog_add(log, &r);

		if (s == CM_OK)
			ok++;
		else if (s == CM_ENOMEM)
			dropped++;
	}
	assert_int_equal(ok, 10);
	assert_int_equal(dropped, 90);
	assert_int_equal(cm_declog_flush(log), CM_OK);
	cm_declog_stats_get(log, &st);
	assert_int_equal(st.dropped, 90);
	assert_int_equal(st.written, 10);
	cm_declog_close(log);
	assert_int_equal(er.calls, 1);
	assert_string_equal(er.last,
	    "decision log queue full: 90 records dropped");
	assert_int_equal(count(fx->logdir, NULL), 10);
}

#define NTHREADS 4
#define PER_THREAD 5000

static void *
producer(void *arg)
{
	cm_declog *log = arg;
	char rcpt[64];

	for (int i = 0; i < PER_THREAD; i++) {
		cm_declog_rec r = { .time_us = T0 + i, .rcpt = rcpt,
		    .type = "offers", .verdict = "deny", .reason = "no-consent",
		    .action = CM_DECLOG_REFUSED };

		snprintf(rcpt, sizeof(rcpt), "u%d@x.example", i);
		if (cm_declog_add(log, &r) != CM_OK)
			return (void *)1;
	}
	return NULL;
}

static void
test_concurrent_batches(void **state)
{
	struct fx *fx = *state;
	cm_declog_opts o = { .dir = fx->logdir };
	cm_declog *log = NULL;
	pthread_t th[NTHREADS];
	cm_declog_stats st;

	assert_int_equal(cm_declog_open(&o, &log), CM_OK);
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, producer, log), 0);
	for (int i = 0; i < NTHREADS; i++) {
		void *rv;

		pthread_join(th[i], &rv);
		assert_null(rv);
	}
	assert_int_equal(cm_declog_flush(log), CM_OK);
	cm_declog_stats_get(log, &st);
	cm_declog_close(log);
	assert_int_equal(st.written, NTHREADS * PER_THREAD);
	/* batched: far fewer syncs than records */
	assert_true(st.batches * 10 <= st.written);
	assert_int_equal(count(fx->logdir, NULL), NTHREADS * PER_THREAD);
}

/* A record written by a batch appears within a few flush intervals
 * without an explicit flush. */
static void
test_timed_flush(void **state)
{
	struct fx *fx = *state;
	cm_declog_opts o = { .dir = fx->logdir, .flush_ms = 20 };
	cm_declog *log = NULL;
	cm_declog_stats st = { 0 };

	assert_int_equal(cm_declog_open(&o, &log), CM_OK);
	add(log, T0, "offers", "c", "a@b", "allow", "none", CM_DECLOG_ALLOWED);
	for (int i = 0; i < 200 && st.written == 0; i++) {
		usleep(10000);
		cm_declog_stats_get(log, &st);
	}
	assert_int_equal(st.written, 1);
	cm_declog_close(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_escape),
		cmocka_unit_test(test_action_names),
		cmocka_unit_test(test_hash_vector),
		cmocka_unit_test_setup_teardown(test_write_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_add_many_same_lines, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_add_many_limits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reader_skips_garbage, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hashed_log, setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_file_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_queue_full_drops, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_batches, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_timed_flush, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
