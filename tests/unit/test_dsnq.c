/* test_dsnq.c - DSN spool, SMTP client and retry queue, against an
 * in-process SMTP server on 127.0.0.1. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fcntl.h>

#include "core/dsnq.h"
#include "core/dsnq_spool.h"
#include "core/timefmt.h"

/* ------------------------------------------------------------ fake MTA */

struct srv {
	int lfd;
	int port;
	char path[108];
	pthread_t th;
	volatile int stop;
	pthread_mutex_t mu;
	int rcpt_code;		/* reply to RCPT */
	int end_code;		/* reply after the final dot */
	int silent;		/* never send the greeting */
	int nmsgs;
	char mail[256], rcpt[256];
	char data[65536];	/* last message, un-stuffed */
	size_t data_len;
	int conns;
};

static int
rd_line(int fd, char *buf, size_t n)
{
	size_t o = 0;
	char c;

	for (;;) {
		ssize_t r = recv(fd, &c, 1, 0);

		if (r <= 0)
			return -1;
		if (c == '\n') {
			if (o > 0 && buf[o - 1] == '\r')
				o--;
			buf[o] = '\0';
			return (int)o;
		}
		if (o + 1 < n)
			buf[o++] = c;
	}
}

static void
say(int fd, const char *s)
{
	(void)send(fd, s, strlen(s), MSG_NOSIGNAL);
}

static void
serve(struct srv *s, int fd)
{
	char line[70000], reply[64];

	pthread_mutex_lock(&s->mu);
	s->conns++;
	pthread_mutex_unlock(&s->mu);
	if (s->silent) {
		while (rd_line(fd, line, sizeof(line)) >= 0 && !s->stop)
			;
		return;
	}
	say(fd, "220-fake.example ESMTP\r\n220 ready\r\n");
	while (rd_line(fd, line, sizeof(line)) >= 0) {
		if (strncasecmp(line, "EHLO", 4) == 0) {
			say(fd, "250-fake.example\r\n250-PIPELINING\r\n"
			    "250-8BITMIME\r\n250 SMTPUTF8\r\n");
		} else if (strncasecmp(line, "MAIL", 4) == 0) {
			snprintf(s->mail, sizeof(s->mail), "%.200s", line);
			say(fd, "250 2.1.0 ok\r\n");
		} else if (strncasecmp(line, "RCPT", 4) == 0) {
			snprintf(s->rcpt, sizeof(s->rcpt), "%.200s", line);
			snprintf(reply, sizeof(reply), "%d-x\r\n%d %s\r\n",
			    s->rcpt_code, s->rcpt_code,
			    s->rcpt_code < 300 ? "2.1.5 ok" : "no thanks");
			say(fd, reply);
		} else if (strcasecmp(line, "DATA") == 0) {
			size_t o = 0;
			int n;

			say(fd, "354 go ahead\r\n");
			while ((n = rd_line(fd, line, sizeof(line))) >= 0) {
				const char *p = line;

				if (strcmp(line, ".") == 0)
					break;
				if (line[0] == '.')
					p++;
				size_t l = strlen(p);
				if (o + l + 2 < sizeof(s->data)) {
					memcpy(s->data + o, p, l);
					memcpy(s->data + o + l, "\r\n", 2);
					o += l + 2;
				}
			}
			pthread_mutex_lock(&s->mu);
			s->data[o] = '\0';
			s->data_len = o;
			if (s->end_code < 300)
				s->nmsgs++;
			pthread_mutex_unlock(&s->mu);
			snprintf(reply, sizeof(reply), "%d done\r\n", s->end_code);
			say(fd, reply);
		} else if (strcasecmp(line, "QUIT") == 0) {
			say(fd, "221 bye\r\n");
			break;
		} else {
			say(fd, "500 what\r\n");
		}
	}
}

static void *
srv_main(void *arg)
{
	struct srv *s = arg;

	while (!s->stop) {
		struct pollfd p = { .fd = s->lfd, .events = POLLIN };
		int fd;

		if (poll(&p, 1, 50) <= 0)
			continue;
		fd = accept(s->lfd, NULL, NULL);
		if (fd < 0)
			continue;
		serve(s, fd);
		close(fd);
	}
	return NULL;
}

static int
free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t l = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static struct srv *
srv_start(int port, const char *path)
{
	struct srv *s = calloc(1, sizeof(*s));
	int one = 1;

	assert_non_null(s);
	pthread_mutex_init(&s->mu, NULL);
	s->rcpt_code = 250;
	s->end_code = 250;
	if (path != NULL) {
		struct sockaddr_un u = { .sun_family = AF_UNIX };

		snprintf(s->path, sizeof(s->path), "%s", path);
		snprintf(u.sun_path, sizeof(u.sun_path), "%s", path);
		unlink(path);
		s->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		assert_int_equal(bind(s->lfd, (struct sockaddr *)&u, sizeof(u)), 0);
	} else {
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t l = sizeof(a);

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a.sin_port = htons((uint16_t)port);
		s->lfd = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(s->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
		getsockname(s->lfd, (struct sockaddr *)&a, &l);
		s->port = ntohs(a.sin_port);
	}
	assert_int_equal(listen(s->lfd, 16), 0);
	assert_int_equal(pthread_create(&s->th, NULL, srv_main, s), 0);
	return s;
}

static void
srv_stop(struct srv *s)
{
	s->stop = 1;
	pthread_join(s->th, NULL);
	close(s->lfd);
	if (s->path[0])
		unlink(s->path);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* ------------------------------------------------------------ fixtures */

static char tmpdir[64];
static char spool[96];

static void
rm_rf(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		char sub[512];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
		rm_rf(sub);
	}
	closedir(d);
	rmdir(path);
}

static int
setup(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/cm-dsnq.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(spool, sizeof(spool), "%s/spool", tmpdir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	rm_rf(tmpdir);
	return 0;
}

static const char MSG[] =
    "From: MAILER-DAEMON@x\r\nTo: <news@x.example>\r\nSubject: t\r\n\r\n"
    "line one\r\n.starts with a dot\r\n..two dots\r\n.\r\nend\r\n";

static int
count_suffix(const char *suffix)
{
	DIR *d = opendir(spool);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name), sl = strlen(suffix);

		if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

/* ------------------------------------------------------------ tests */

static void
test_targets(void **state)
{
	static const struct {
		const char *t;
		cm_status st;
	} cases[] = {
		{ "inet:25@127.0.0.1", CM_OK },
		{ "inet:2525@localhost", CM_OK },
		{ "inet6:25@::1", CM_OK },
		{ "unix:/run/postfix/submit", CM_OK },
		{ "127.0.0.1:25", CM_OK },
		{ "[::1]:25", CM_OK },
		{ "mail.example.com:587", CM_OK },
		{ "inet:0@127.0.0.1", CM_EINVAL },
		{ "inet:65536@127.0.0.1", CM_EINVAL },
		{ "inet:25@", CM_EINVAL },
		{ "inet:25", CM_EINVAL },
		{ "unix:relative/path", CM_EINVAL },
		{ "127.0.0.1", CM_EINVAL },
		{ "::1:25", CM_EINVAL },
		{ "host name:25", CM_EINVAL },
		{ "", CM_EINVAL },
		{ NULL, CM_EINVAL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (cm_dsnq_target_check(cases[i].t) != cases[i].st)
			fail_msg("case %zu (%s)", i, cases[i].t);
}

static void
test_smtp_send(void **state)
{
	struct srv *s = srv_start(0, NULL);
	char target[64], err[CM_DSNQ_ERR_MAX];

	(void)state;
	snprintf(target, sizeof(target), "inet:%d@127.0.0.1", s->port);
	assert_int_equal(cm_dsnq_smtp_send(target, "mx.example", 5000,
	    "<news@x.example>", MSG, strlen(MSG), false, err), 0);
	assert_string_equal(s->mail, "MAIL FROM:<>");
	assert_string_equal(s->rcpt, "RCPT TO:<news@x.example>");
	assert_int_equal(s->data_len, strlen(MSG));
	assert_memory_equal(s->data, MSG, strlen(MSG));
	assert_non_null(strstr(err, "accepted"));

	/* SMTPUTF8 and 8BITMIME when needed and offered; bare LF fixed */
	assert_int_equal(cm_dsnq_smtp_send(target, NULL, 5000,
	    "j\xc3\xb6rg@x.example", "Subject: \xc3\xa9\n\nbody", 17, true,
	    err), 0);
	assert_string_equal(s->mail, "MAIL FROM:<> SMTPUTF8 BODY=8BITMIME");
	assert_string_equal(s->data, "Subject: \xc3\xa9\r\n\r\nbody\r\n");

	/* temporary and permanent refusals */
	s->rcpt_code = 450;
	assert_int_equal(cm_dsnq_smtp_send(target, NULL, 5000, "a@b", MSG,
	    strlen(MSG), false, err), 4);
	assert_non_null(strstr(err, "450"));
	s->rcpt_code = 550;
	assert_int_equal(cm_dsnq_smtp_send(target, NULL, 5000, "a@b", MSG,
	    strlen(MSG), false, err), 5);
	assert_non_null(strstr(err, "RCPT TO:<a@b>: 550-x 550 no thanks"));
	s->rcpt_code = 250;
	s->end_code = 452;
	assert_int_equal(cm_dsnq_smtp_send(target, NULL, 5000, "a@b", MSG,
	    strlen(MSG), false, err), 4);
	assert_non_null(strstr(err, "end of data: 452"));
	s->end_code = 250;
	/* bad recipients are refused before connecting */
	assert_int_equal(cm_dsnq_smtp_send(target, NULL, 5000, "<>", MSG,
	    strlen(MSG), false, err), 5);
	assert_int_equal(cm_dsnq_smtp_send(target, NULL, 5000,
	    "a@b>\r\nRCPT TO:<c@d", MSG, strlen(MSG), false, err), 5);
	/* a server that never greets: timeout */
	s->silent = 1;
	assert_int_equal(cm_dsnq_smtp_send(target, NULL, 300, "a@b", MSG,
	    strlen(MSG), false, err), 4);
	assert_non_null(strstr(err, "timed out"));
	srv_stop(s);
	/* nobody listening */
	assert_int_equal(cm_dsnq_smtp_send(target, NULL, 1000, "a@b", MSG,
	    strlen(MSG), false, err), 4);
	assert_non_null(strstr(err, "connect"));
}

static void
test_smtp_unix(void **state)
{
	char path[128], target[160], err[CM_DSNQ_ERR_MAX];
	struct srv *s;

	(void)state;
	snprintf(path, sizeof(path), "%s/smtp.sock", tmpdir);
	s = srv_start(0, path);
	snprintf(target, sizeof(target), "unix:%s", path);
	assert_int_equal(cm_dsnq_smtp_send(target, NULL, 5000, "a@b.example",
	    MSG, strlen(MSG), false, err), 0);
	assert_int_equal(s->nmsgs, 1);
	srv_stop(s);
}

struct logs {
	pthread_mutex_t mu;
	int info, warn, error;
	char last[CM_DSNQ_ERR_MAX + 128];
};

static void
on_report(void *arg, const cm_report *r)
{
	struct logs *l = arg;

	pthread_mutex_lock(&l->mu);
	if (r->severity == CM_REPORT_INFO)
		l->info++;
	else if (r->severity == CM_REPORT_WARNING)
		l->warn++;
	else
		l->error++;
	snprintf(l->last, sizeof(l->last), "%s", r->text);
	pthread_mutex_unlock(&l->mu);
}

struct listing {
	int n, failed;
	char id[CM_DSNQ_ID_MAX];
	char rcpt[128];
	char error[CM_DSNQ_ERR_MAX];
	unsigned attempts;
	int64_t next_us;
};

static int
list_cb(void *arg, const cm_dsnq_entry *e)
{
	struct listing *l = arg;

	l->n++;
	l->failed += e->failed;
	snprintf(l->id, sizeof(l->id), "%s", e->id);
	snprintf(l->rcpt, sizeof(l->rcpt), "%s", e->rcpt);
	snprintf(l->error, sizeof(l->error), "%s", e->error ? e->error : "");
	l->attempts = e->attempts;
	l->next_us = e->next_us;
	return 0;
}

static void
test_queue_retry_until_back(void **state)
{
	struct logs lg = { .mu = PTHREAD_MUTEX_INITIALIZER };
	int port = free_port();
	char target[64], id[CM_DSNQ_ID_MAX];
	cm_dsnq_opts o = { .spool = spool, .target = target, .attempts = 50,
	    .first_delay_ms = 20, .max_delay_ms = 100, .timeout_ms = 2000,
	    .report = on_report, .report_arg = &lg };
	cm_dsnq *q = NULL;
	cm_dsnq_stats st;
	struct srv *s;
	struct stat sb;
	struct listing l = { 0 };

	(void)state;
	snprintf(target, sizeof(target), "127.0.0.1:%d", port);
	assert_int_equal(cm_dsnq_open(&o, &q), CM_OK);
	assert_int_equal(stat(spool, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(cm_dsnq_submit(q, "<>", MSG, strlen(MSG), false, id),
	    CM_EINVAL);
	assert_int_equal(cm_dsnq_submit(q, "<news@x.example>", MSG, strlen(MSG),
	    false, id), CM_OK);
	/* spooled before any attempt */
	assert_int_equal(count_suffix(".dsn"), 1);
	usleep(300000);
	cm_dsnq_stats_get(q, &st);
	assert_true(st.retried >= 2);
	assert_int_equal(st.delivered, 0);
	assert_int_equal(count_suffix(".dsn"), 1);
	/* the spool file tells consentctl dsn list how it goes; the log
	 * gives the delay in human units */
	assert_int_equal(cm_dsnq_list(spool, list_cb, &l), CM_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.failed, 0);
	assert_true(l.attempts >= 2);
	assert_true(l.next_us > cm_time_now() - 5000000);
	assert_true(l.next_us < cm_time_now() + 5000000);
	assert_true(l.error[0] != '\0');
	pthread_mutex_lock(&lg.mu);
	assert_non_null(strstr(lg.last, "retry in "));
	assert_non_null(strstr(lg.last, "ms: "));
	assert_null(strstr(lg.last, " ms"));
	pthread_mutex_unlock(&lg.mu);
	/* the target comes back */
	s = srv_start(port, NULL);
	assert_true(cm_dsnq_wait_idle(q, 5000));
	cm_dsnq_stats_get(q, &st);
	assert_int_equal(st.delivered, 1);
	assert_int_equal(st.failed, 0);
	assert_int_equal(s->nmsgs, 1);
	assert_memory_equal(s->data, MSG, strlen(MSG));
	assert_int_equal(count_suffix(".dsn"), 0);
	assert_true(lg.warn >= 2);
	assert_int_equal(lg.info, 1);
	cm_dsnq_close(q);
	srv_stop(s);
}

static void
test_queue_gives_up_and_resend(void **state)
{
	struct logs lg = { .mu = PTHREAD_MUTEX_INITIALIZER };
	struct srv *s = srv_start(0, NULL);
	char target[64], id[CM_DSNQ_ID_MAX], err[CM_DSNQ_ERR_MAX];
	cm_dsnq_opts o = { .spool = spool, .target = target, .attempts = 3,
	    .first_delay_ms = 10, .max_delay_ms = 20, .report = on_report,
	    .report_arg = &lg };
	cm_dsnq *q = NULL;
	cm_dsnq_stats st;
	struct listing l = { 0 };

	(void)state;
	snprintf(target, sizeof(target), "inet:%d@127.0.0.1", s->port);
	s->rcpt_code = 451;
	assert_int_equal(cm_dsnq_open(&o, &q), CM_OK);
	assert_int_equal(cm_dsnq_submit(q, "news@x.example", MSG, strlen(MSG),
	    false, id), CM_OK);
	assert_true(cm_dsnq_wait_idle(q, 5000));
	cm_dsnq_stats_get(q, &st);
	assert_int_equal(st.failed, 1);
	assert_int_equal(st.retried, 2);
	assert_int_equal(s->conns, 3);
	assert_int_equal(lg.error, 1);
	assert_non_null(strstr(lg.last, "given up after 3 attempts"));
	cm_dsnq_close(q);

	/* kept and listed */
	assert_int_equal(count_suffix(".failed"), 1);
	assert_int_equal(count_suffix(".dsn"), 0);
	assert_int_equal(cm_dsnq_list(spool, list_cb, &l), CM_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.failed, 1);
	assert_string_equal(l.id, id);
	assert_string_equal(l.rcpt, "news@x.example");
	assert_non_null(strstr(l.error, "451"));
	assert_int_equal(l.attempts, 3);
	assert_int_equal(l.next_us, 0);

	/* a failed DSN is not retried by the next start */
	assert_int_equal(cm_dsnq_open(&o, &q), CM_OK);
	assert_true(cm_dsnq_wait_idle(q, 1000));
	cm_dsnq_close(q);
	assert_int_equal(s->conns, 3);

	/* resend: still refused -> kept; accepted -> gone */
	assert_int_equal(cm_dsnq_resend(spool, id, target, NULL, 5000, err),
	    CM_EIO);
	assert_int_equal(count_suffix(".failed"), 1);
	s->rcpt_code = 250;
	assert_int_equal(cm_dsnq_resend(spool, id, target, NULL, 5000, err),
	    CM_OK);
	assert_int_equal(count_suffix(".failed"), 0);
	assert_int_equal(s->nmsgs, 1);
	assert_memory_equal(s->data, MSG, strlen(MSG));
	assert_int_equal(cm_dsnq_resend(spool, id, target, NULL, 5000, err),
	    CM_NOTFOUND);
	assert_int_equal(cm_dsnq_resend(spool, "../etc/passwd", target, NULL,
	    5000, err), CM_EINVAL);
	srv_stop(s);
}

static void
test_queue_permanent_and_restart(void **state)
{
	struct srv *s = srv_start(0, NULL);
	int down = free_port();
	char target[64], id[CM_DSNQ_ID_MAX];
	cm_dsnq_opts o = { .spool = spool, .target = target, .attempts = 5,
	    .first_delay_ms = 10000 };
	cm_dsnq *q = NULL;
	cm_dsnq_stats st;

	(void)state;
	/* 5xx: given up at once */
	snprintf(target, sizeof(target), "inet:%d@127.0.0.1", s->port);
	s->rcpt_code = 550;
	assert_int_equal(cm_dsnq_open(&o, &q), CM_OK);
	assert_int_equal(cm_dsnq_submit(q, "a@x.example", MSG, strlen(MSG),
	    false, id), CM_OK);
	assert_true(cm_dsnq_wait_idle(q, 5000));
	cm_dsnq_stats_get(q, &st);
	assert_int_equal(st.failed, 1);
	assert_int_equal(s->conns, 1);
	cm_dsnq_close(q);

	/* pending at close (target down, long back-off) ... */
	snprintf(target, sizeof(target), "inet:%d@127.0.0.1", down);
	assert_int_equal(cm_dsnq_open(&o, &q), CM_OK);
	assert_int_equal(cm_dsnq_submit(q, "b@x.example", MSG, strlen(MSG),
	    true, id), CM_OK);
	usleep(100000);
	cm_dsnq_close(q);
	assert_int_equal(count_suffix(".dsn"), 1);
	/* ... is sent by the next start */
	snprintf(target, sizeof(target), "inet:%d@127.0.0.1", s->port);
	s->rcpt_code = 250;
	assert_int_equal(cm_dsnq_open(&o, &q), CM_OK);
	assert_true(cm_dsnq_wait_idle(q, 5000));
	cm_dsnq_close(q);
	assert_int_equal(count_suffix(".dsn"), 0);
	assert_int_equal(s->nmsgs, 1);
	assert_string_equal(s->rcpt, "RCPT TO:<b@x.example>");
	srv_stop(s);
}

/* wait up to 5 s until the queue has made at least N failed attempts */
static void
wait_retried(cm_dsnq *q, uint64_t n)
{
	cm_dsnq_stats st;

	for (int i = 0; i < 500; i++) {
		cm_dsnq_stats_get(q, &st);
		if (st.retried >= n)
			return;
		usleep(10000);
	}
	fail_msg("fewer than %llu failed attempts after 5 s",
	    (unsigned long long)n);
}

static void
test_queue_reconfigure(void **state)
{
	struct srv *s = srv_start(0, NULL);
	int down = free_port();
	char target[64], id[CM_DSNQ_ID_MAX];
	cm_dsnq_opts o = { .spool = spool, .target = target, .attempts = 50,
	    .first_delay_ms = 3600000, .timeout_ms = 2000 };
	cm_dsnq *q = NULL;
	cm_dsnq_stats st;

	(void)state;
	/* waiting an hour for a target that is down ... */
	snprintf(target, sizeof(target), "inet:%d@127.0.0.1", down);
	assert_int_equal(cm_dsnq_open(&o, &q), CM_OK);
	assert_int_equal(cm_dsnq_submit(q, "a@x.example", MSG, strlen(MSG),
	    false, id), CM_OK);
	wait_retried(q, 1);
	/* ... a bad target changes nothing ... */
	o.target = "nowhere";
	assert_int_equal(cm_dsnq_reconfigure(q, &o), CM_EINVAL);
	o.target = target;
	assert_false(cm_dsnq_wait_idle(q, 100));
	/* ... a new one gets it at once, and the DSNs queued after */
	snprintf(target, sizeof(target), "inet:%d@127.0.0.1", s->port);
	assert_int_equal(cm_dsnq_reconfigure(q, &o), CM_OK);
	assert_true(cm_dsnq_wait_idle(q, 5000));
	assert_int_equal(s->nmsgs, 1);
	assert_string_equal(s->rcpt, "RCPT TO:<a@x.example>");
	assert_int_equal(cm_dsnq_submit(q, "b@x.example", MSG, strlen(MSG),
	    false, id), CM_OK);
	assert_true(cm_dsnq_wait_idle(q, 5000));
	assert_int_equal(s->nmsgs, 2);
	assert_string_equal(s->rcpt, "RCPT TO:<b@x.example>");
	assert_int_equal(count_suffix(".dsn"), 0);

	/* fewer attempts for the same target: one more try, then failed */
	snprintf(target, sizeof(target), "inet:%d@127.0.0.1", down);
	o.first_delay_ms = 20;
	o.max_delay_ms = 20;
	assert_int_equal(cm_dsnq_reconfigure(q, &o), CM_OK);
	assert_int_equal(cm_dsnq_submit(q, "c@x.example", MSG, strlen(MSG),
	    false, id), CM_OK);
	wait_retried(q, 3);
	o.attempts = 2;
	assert_int_equal(cm_dsnq_reconfigure(q, &o), CM_OK);
	assert_true(cm_dsnq_wait_idle(q, 5000));
	cm_dsnq_stats_get(q, &st);
	assert_int_equal(st.failed, 1);
	assert_int_equal(count_suffix(".failed"), 1);
	assert_int_equal(count_suffix(".dsn"), 0);
	cm_dsnq_close(q);
	srv_stop(s);
}

/* The lock every change of a spool file holds: it follows a file
 * replaced while it was held (the queue writes a DSN back by rename), and
 * a DSN deleted under it (an erasure) is gone for the next holder, which
 * therefore writes nothing back. */
static void
test_spool_lock(void **state)
{
	const char *id = "lock-test";
	char path[256], tmp[300];
	struct stat a, b;
	int fd, fd2;

	(void)state;
	assert_int_equal(mkdir(spool, 0700), 0);
	assert_int_equal(cm_dsnq_spool_write(spool, id, CM_DSNQ_SUF_PENDING,
	    "eve@example.com", false, 1, NULL, "m\r\n", 3), CM_OK);
	snprintf(path, sizeof(path), "%s/%s%s", spool, id,
	    CM_DSNQ_SUF_PENDING);
	fd = cm_dsnq_spool_lock(AT_FDCWD, path);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &a), 0);
	/* replaced while held: the next holder gets the new file */
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	assert_int_equal(link(path, tmp), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rename(tmp, path), 0);
	close(fd);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &b), 0);
	close(fd);
	/* a lock taken on the unlinked inode is not returned: reopen by name */
	fd = open(path, O_RDONLY);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(cm_dsnq_spool_write(spool, id, CM_DSNQ_SUF_PENDING,
	    "eve@example.com", false, 1, NULL, "m\r\n", 3), CM_OK);
	fd2 = cm_dsnq_spool_lock(AT_FDCWD, path);
	assert_true(fd2 >= 0);
	assert_int_equal(fstat(fd2, &b), 0);
	assert_int_equal(fstat(fd, &a), 0);
	assert_true(a.st_ino != b.st_ino || a.st_nlink == 0);
	assert_true(b.st_nlink > 0);
	close(fd);
	/* deleted under the lock (an erasure): the update finds nothing and
	 * writes nothing back */
	assert_int_equal(unlink(path), 0);
	close(fd2);
	assert_int_equal(cm_dsnq_spool_note_attempt(spool, id, "down", 1),
	    CM_NOTFOUND);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(cm_dsnq_spool_lock(AT_FDCWD, path), -1);
	assert_int_equal(errno, ENOENT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_targets),
		cmocka_unit_test_setup_teardown(test_smtp_send, setup, teardown),
		cmocka_unit_test_setup_teardown(test_smtp_unix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_retry_until_back,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_gives_up_and_resend,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_permanent_and_restart,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_reconfigure,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_spool_lock, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
