/* test_mailreq.c - the mailto unsubscribe request between the milter and
 * consent-web (core/mailreq.h): the line built and parsed back, every
 * malformed line refused, reply codes, and the socket exchange against
 * a small server thread (answers, silence, a closed connection, no
 * socket). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/mailreq.h"
#include "tests/unit/cmtest.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
test_format_parse(void **state)
{
	char line[CM_MAILREQ_LINE_MAX + 1], big[4000];
	cm_mailreq r;
	size_t n;
	(void)state;

	n = cm_mailreq_format("AbC-_9", 6, "Bob@Example.NET", "192.0.2.7",
	    "<m1@x>", line, sizeof line);
	assert_string_equal(line,
	    "MAILTO AbC-_9 <Bob@Example.NET> 192.0.2.7 <m1@x>\n");
	assert_int_equal(n, strlen(line));
	assert_int_equal(cm_mailreq_parse(line, n, &r), CM_OK);
	assert_string_equal(r.token, "AbC-_9");
	assert_string_equal(r.sender, "<Bob@Example.NET>");
	assert_string_equal(r.client, "192.0.2.7");
	assert_string_equal(r.msgid, "<m1@x>");

	/* the null sender, no client, no Message-ID; spaces and controls
	 * in a field become '_' */
	n = cm_mailreq_format("T", 1, "", NULL, "", line, sizeof line);
	assert_string_equal(line, "MAILTO T <> - -\n");
	assert_int_equal(cm_mailreq_parse(line, n, &r), CM_OK);
	assert_string_equal(r.sender, "<>");
	assert_string_equal(r.client, "");
	assert_string_equal(r.msgid, "");
	n = cm_mailreq_format("T", 1, "a b\r\n@x", "::1", "<a b>\x01", line,
	    sizeof line);
	assert_string_equal(line, "MAILTO T <a_b__@x> ::1 <a_b>_\n");
	assert_int_equal(cm_mailreq_parse(line, n, &r), CM_OK);

	/* long evidence is cut to its limits, and still parses */
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	n = cm_mailreq_format("T", 1, big, "1.2.3.4", big, line, sizeof line);
	assert_true(n > 0 && n <= CM_MAILREQ_LINE_MAX);
	assert_int_equal(cm_mailreq_parse(line, n, &r), CM_OK);
	assert_int_equal(strlen(r.sender), CM_MAILREQ_SENDER_MAX);
	assert_int_equal(strlen(r.msgid), CM_MAILREQ_MSGID_MAX);

	/* no token, a token that is not base64url, a short buffer */
	assert_int_equal(cm_mailreq_format("", 0, "a", "b", "c", line,
	    sizeof line), 0);
	assert_int_equal(cm_mailreq_format("a+b", 3, "a", "b", "c", line,
	    sizeof line), 0);
	assert_int_equal(cm_mailreq_format("T", 1, "a@b", NULL, NULL, line, 12),
	    0);
	assert_string_equal(line, "");
}

static void
test_parse_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"\n",
		"MAILTO\n",
		"MAILTO T <a@b> - \n",
		"MAILTO T <a@b> -\n",
		"MAILTO T <a@b> - - extra\n",
		"mailto T <a@b> - -\n",
		"MAILTOX T <a@b> - -\n",
		"MAILTO  T <a@b> - -\n",
		"MAILTO T  <a@b> - -\n",
		"MAILTO T+ <a@b> - -\n",
		"MAILTO T a@b - -\n",
		"MAILTO T <a@b - -\n",
		"MAILTO T < - -\n",
		"MAILTO T <a@b> 1.2.3.x -\n",
		"MAILTO T <a@b> - <a\tb>\n",
		"MAILTO T <a@b> - <\x7f>\n",
		"MAILTO T <a@b> - <\xc3\xa9>\n",
		"MAILTO T <a@b> - -\n\n",
		" MAILTO T <a@b> - -\n",
	};
	char line[CM_MAILREQ_LINE_MAX + 100];
	cm_mailreq r;
	(void)state;

	for (size_t i = 0; i < NELEM(bad); i++)
		if (cm_mailreq_parse(bad[i], strlen(bad[i]), &r) != CM_EINVAL)
			fail_msg("accepted: '%s'", bad[i]);
	/* a NUL inside */
	assert_int_equal(cm_mailreq_parse("MAILTO T <a\0b> - -\n", 19, &r),
	    CM_EINVAL);
	/* CRLF is fine */
	assert_int_equal(cm_mailreq_parse("MAILTO T <a@b> - -\r\n", 20, &r),
	    CM_OK);
	/* fields over their limits */
	snprintf(line, sizeof line, "MAILTO T <%0*d> - -\n",
	    CM_MAILREQ_SENDER_MAX, 0);
	assert_int_equal(cm_mailreq_parse(line, strlen(line), &r), CM_EINVAL);
	snprintf(line, sizeof line, "MAILTO T <a> %0*d -\n",
	    CM_MAILREQ_CLIENT_MAX + 1, 0);
	assert_int_equal(cm_mailreq_parse(line, strlen(line), &r), CM_EINVAL);
	snprintf(line, sizeof line, "MAILTO T <a> - %0*d\n",
	    CM_MAILREQ_MSGID_MAX + 1, 0);
	assert_int_equal(cm_mailreq_parse(line, strlen(line), &r), CM_EINVAL);
	snprintf(line, sizeof line, "MAILTO %0*d <a> - -\n",
	    CM_TOKEN_TEXT_MAX, 0);
	assert_int_equal(cm_mailreq_parse(line, strlen(line), &r), CM_EINVAL);
	memset(line, 'a', sizeof line);
	assert_int_equal(cm_mailreq_parse(line, CM_MAILREQ_LINE_MAX + 1, &r),
	    CM_ETOOLONG);
}

static void
test_reply_code(void **state)
{
	(void)state;
	assert_int_equal(cm_mailreq_reply_code("250 recorded", 12), 250);
	assert_int_equal(cm_mailreq_reply_code("451", 3), 451);
	assert_int_equal(cm_mailreq_reply_code("550\n", 4), 550);
	assert_int_equal(cm_mailreq_reply_code("25", 2), -1);
	assert_int_equal(cm_mailreq_reply_code("2500 x", 6), -1);
	assert_int_equal(cm_mailreq_reply_code("199 x", 5), -1);
	assert_int_equal(cm_mailreq_reply_code("600 x", 5), -1);
	assert_int_equal(cm_mailreq_reply_code("25a x", 5), -1);
}

/* ---- the socket exchange ---------------------------------------------- */

typedef struct server {
	int lfd;
	const char *answer;	/* sent after the request line; NULL: close */
	bool silent;		/* read the line, then wait for the peer */
	char got[CM_MAILREQ_LINE_MAX + 1];
} server;

static void *
serve_one(void *arg)
{
	server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	size_t n = 0;
	char c;

	if (fd < 0)
		return NULL;
	while (n < sizeof s->got - 1 && read(fd, &c, 1) == 1) {
		s->got[n++] = c;
		if (c == '\n')
			break;
	}
	s->got[n] = '\0';
	if (s->silent)
		while (read(fd, &c, 1) > 0)
			;
	else if (s->answer != NULL)
		(void)!write(fd, s->answer, strlen(s->answer));
	close(fd);
	return NULL;
}

static int
listen_at(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof sa.sun_path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
	assert_int_equal(listen(fd, 4), 0);
	return fd;
}

/* One exchange with a server answering ANSWER; the code returned. */
static int
exchange(const char *path, server *s, unsigned timeout_ms, char *reply,
    size_t rsize)
{
	const char req[] = "MAILTO T <a@b> - -\n";
	pthread_t th;
	int code;

	assert_int_equal(pthread_create(&th, NULL, serve_one, s), 0);
	code = cm_mailreq_call(path, timeout_ms, req, strlen(req), reply,
	    rsize);
	pthread_join(th, NULL);
	assert_string_equal(s->got, req);
	return code;
}

static void
test_call(void **state)
{
	char *dir = cmt_mkdtemp(), path[512], reply[CM_MAILREQ_REPLY_MAX];
	server s = { 0 };
	(void)state;

	snprintf(path, sizeof path, "%s/m.sock", dir);
	/* no socket yet */
	assert_int_equal(cm_mailreq_call(path, 500, "X\n", 2, reply,
	    sizeof reply), -1);
	assert_non_null(strstr(reply, "connect"));

	s.lfd = listen_at(path);
	s.answer = "250 recorded\n";
	assert_int_equal(exchange(path, &s, 2000, reply, sizeof reply), 250);
	assert_string_equal(reply, "250 recorded");
	s.answer = "451 busy\r\n";
	assert_int_equal(exchange(path, &s, 2000, reply, sizeof reply), 451);
	assert_string_equal(reply, "451 busy");
	/* cut to the caller's buffer */
	s.answer = "550 invalid token\n";
	assert_int_equal(exchange(path, &s, 2000, reply, 6), 550);
	assert_string_equal(reply, "550 i");
	/* not a reply line; closed without a reply; silence */
	s.answer = "hello\n";
	assert_int_equal(exchange(path, &s, 2000, reply, sizeof reply), -1);
	s.answer = NULL;
	assert_int_equal(exchange(path, &s, 2000, reply, sizeof reply), -1);
	assert_non_null(strstr(reply, "reply"));
	s.answer = "250 no end of line";
	assert_int_equal(exchange(path, &s, 2000, reply, sizeof reply), -1);
	s.silent = true;
	assert_int_equal(exchange(path, &s, 200, reply, sizeof reply), -1);
	assert_non_null(strstr(reply, "no reply in time"));
	close(s.lfd);

	/* a path too long for a unix socket */
	memset(path, 'a', sizeof path - 1);
	path[sizeof path - 1] = '\0';
	assert_int_equal(cm_mailreq_call(path, 100, "X\n", 2, reply,
	    sizeof reply), -1);
	cmt_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_parse),
		cmocka_unit_test(test_parse_refused),
		cmocka_unit_test(test_reply_code),
		cmocka_unit_test(test_call),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
