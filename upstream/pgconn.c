/*
 * pgconn.c - the connection to the shared consent store (pgstore.h):
 * open (connection string, password file, timeouts), errors, reconnect,
 * and the wait for a push's notification (LISTEN, poll() on PQsocket).
 *
 * Error texts come from libpq at terse verbosity: the server's DETAIL,
 * which may quote a row and with it an address, is never asked for.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pg_int.h"
#include "pgstore.h"

#define PASSWORD_MAX 1024
#define CONNECT_TIMEOUT "5"	/* seconds, unless the conninfo says */

/* --- errors ------------------------------------------------------------ */

/* PG->err as one line: newlines and tabs become spaces, no trailing
 * blanks. */
static void
one_line(char *s)
{
	size_t n;

	for (char *p = s; *p != '\0'; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	n = strlen(s);
	while (n > 0 && s[n - 1] == ' ')
		s[--n] = '\0';
}

cm_status
cm_pg_failf(struct cm_pg *pg, cm_status st, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pg->err, sizeof(pg->err), fmt, ap);
	va_end(ap);
	one_line(pg->err);
	return st;
}

cm_status
cm_pg_fail(struct cm_pg *pg, const char *what, const PGresult *res)
{
	const char *msg = NULL, *state = NULL;

	if (res != NULL) {
		msg = PQresultErrorMessage(res);
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	}
	if ((msg == NULL || *msg == '\0') && pg->conn != NULL)
		msg = PQerrorMessage(pg->conn);
	if (msg == NULL || *msg == '\0')
		msg = res == NULL ? "no connection" :
		    PQresStatus(PQresultStatus(res));
	/* a table or function of the schema is missing */
	if (state != NULL && (strcmp(state, "42P01") == 0 ||
	    strcmp(state, "42883") == 0))
		return cm_pg_failf(pg, CM_EFORMAT, "%s: %s (run 'consentctl "
		    "upstream init')", what, msg);
	return cm_pg_failf(pg, CM_EUPSTREAM, "%s: %s", what, msg);
}

const char *
cm_pg_error(const cm_pg *pg)
{
	if (pg == NULL)
		return "out of memory";
	return pg->err[0] != '\0' ? pg->err : "no error";
}

int
cm_pg_socket(const cm_pg *pg)
{
	if (pg == NULL || pg->conn == NULL ||
	    PQstatus(pg->conn) != CONNECTION_OK)
		return -1;
	return PQsocket(pg->conn);
}

cm_status
cm_pg_exec(struct cm_pg *pg, const char *sql, const char *what)
{
	PGresult *res = PQexec(pg->conn, sql);
	cm_status st = CM_OK;

	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK)
		st = cm_pg_fail(pg, what, res);
	PQclear(res);
	return st;
}

void
cm_pg_rollback(struct cm_pg *pg)
{
	if (pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK &&
	    PQtransactionStatus(pg->conn) != PQTRANS_IDLE)
		PQclear(PQexec(pg->conn, "ROLLBACK"));
}

/* --- connection -------------------------------------------------------- */

/* The server's notices (e.g. "relation ... already exists, skipping")
 * are not errors: not printed. */
static void
no_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/*
 * Read the password: the first line of PATH, which must be a regular
 * file that neither group nor others may access (as libpq asks of
 * ~/.pgpass).
 */
static cm_status
read_password(struct cm_pg *pg, const char *path, char *pw, size_t size)
{
	struct stat sb;
	size_t len = 0;
	ssize_t r;
	char *nl;
	int fd, e;

	fd = open(path, O_RDONLY | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		return cm_pg_failf(pg, cm_status_errno(e), "password file %s: "
		    "%s", path, strerror(e));
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return cm_pg_failf(pg, CM_EINVAL, "password file %s: not a "
		    "regular file", path);
	}
	if ((sb.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
		close(fd);
		return cm_pg_failf(pg, CM_EPERM, "password file %s: group or "
		    "others may access it (mode %04o); it holds a password: "
		    "chmod 600 it", path, (unsigned)(sb.st_mode & 07777));
	}
	while (len < size - 1) {
		r = read(fd, pw + len, size - 1 - len);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			e = errno;
			close(fd);
			return cm_pg_failf(pg, CM_EIO, "password file %s: %s",
			    path, strerror(e));
		}
		if (r == 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	pw[len] = '\0';
	if ((nl = strchr(pw, '\n')) != NULL)
		*nl = '\0';
	else if (len == size - 1)
		return cm_pg_failf(pg, CM_ETOOLONG, "password file %s: first "
		    "line longer than %d octets", path, PASSWORD_MAX);
	len = strlen(pw);
	if (len > 0 && pw[len - 1] == '\r')
		pw[--len] = '\0';
	if (len == 0)
		return cm_pg_failf(pg, CM_EINVAL, "password file %s: the first "
		    "line is empty", path);
	return CM_OK;
}

/* Check CONNINFO's syntax; *HAS_TIMEOUT: it or the environment sets
 * connect_timeout. */
static cm_status
check_conninfo(struct cm_pg *pg, const char *conninfo, bool *has_timeout)
{
	PQconninfoOption *opts;
	char *errmsg = NULL;
	const char *env = getenv("PGCONNECT_TIMEOUT");

	*has_timeout = env != NULL && *env != '\0';
	/* a plain database name is a conninfo too (expand_dbname) */
	if (strchr(conninfo, '=') == NULL &&
	    strncmp(conninfo, "postgresql://", 13) != 0 &&
	    strncmp(conninfo, "postgres://", 11) != 0)
		return CM_OK;
	opts = PQconninfoParse(conninfo, &errmsg);
	if (opts == NULL) {
		if (errmsg == NULL)
			return cm_pg_failf(pg, CM_ENOMEM, "connection string: "
			    "out of memory");
		/* libpq's text quotes part of the string, which may be a
		 * password: never shown (stderr, the journal, sync --status) */
		PQfreemem(errmsg);
		return cm_pg_failf(pg, CM_EUPSTREAM, "connection string: "
		    "syntax error (not shown: it may hold a password)");
	}
	for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
		if (strcmp(o->keyword, "connect_timeout") == 0 &&
		    o->val != NULL && *o->val != '\0')
			*has_timeout = true;
	PQconninfoFree(opts);
	return CM_OK;
}

cm_status
cm_pg_open(const char *conninfo, const char *password_file, cm_pg **out)
{
	const char *kw[12], *val[12];
	char pw[PASSWORD_MAX + 2];
	bool has_timeout;
	cm_status st;
	int n = 0;
	cm_pg *pg;

	if (out == NULL)
		return CM_EINVAL;
	if ((*out = pg = calloc(1, sizeof(*pg))) == NULL)
		return CM_ENOMEM;
	if (conninfo == NULL)
		conninfo = "";
	if ((st = check_conninfo(pg, conninfo, &has_timeout)) != CM_OK)
		return st;
	pw[0] = '\0';
	if (password_file != NULL &&
	    (st = read_password(pg, password_file, pw, sizeof(pw))) != CM_OK) {
		explicit_bzero(pw, sizeof(pw));
		return st;
	}
	/* keywords before dbname are defaults the conninfo may override;
	 * those after it are forced */
	if (!has_timeout) {
		kw[n] = "connect_timeout";
		val[n++] = CONNECT_TIMEOUT;
	}
	kw[n] = "fallback_application_name";
	val[n++] = "consent-milter";
	/* a server that vanished without closing (TCP) is noticed within
	 * about a minute, not after the kernel's hours */
	kw[n] = "keepalives_idle";
	val[n++] = "30";
	kw[n] = "keepalives_interval";
	val[n++] = "10";
	kw[n] = "keepalives_count";
	val[n++] = "3";
	kw[n] = "tcp_user_timeout";
	val[n++] = "60000";
	kw[n] = "dbname";
	val[n++] = conninfo;
	kw[n] = "client_encoding";
	val[n++] = "UTF8";
	if (pw[0] != '\0') {
		kw[n] = "password";
		val[n++] = pw;
	}
	kw[n] = val[n] = NULL;
	pg->conn = PQconnectdbParams(kw, val, 1);
	explicit_bzero(pw, sizeof(pw));
	if (pg->conn == NULL)
		return cm_pg_failf(pg, CM_ENOMEM, "connect: out of memory");
	if (PQstatus(pg->conn) != CONNECTION_OK)
		return cm_pg_fail(pg, "connect", NULL);
	PQsetErrorVerbosity(pg->conn, PQERRORS_TERSE);
	PQsetNoticeProcessor(pg->conn, no_notice, NULL);
	return CM_OK;
}

void
cm_pg_close(cm_pg *pg)
{
	if (pg == NULL)
		return;
	if (pg->conn != NULL)
		PQfinish(pg->conn);
	explicit_bzero(pg, sizeof(*pg));
	free(pg);
}

cm_status
cm_pg_connected(struct cm_pg *pg)
{
	if (pg->conn == NULL)
		return CM_EUPSTREAM;	/* pg->err says why (open) */
	if (PQstatus(pg->conn) == CONNECTION_OK)
		return CM_OK;
	pg->ready = pg->listening = false;
	PQreset(pg->conn);
	if (PQstatus(pg->conn) != CONNECTION_OK)
		return cm_pg_fail(pg, "connect", NULL);
	PQsetErrorVerbosity(pg->conn, PQERRORS_TERSE);
	PQsetNoticeProcessor(pg->conn, no_notice, NULL);
	pg->reconnected = true;
	return CM_OK;
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

cm_status
cm_pg_wait(cm_pg *pg, int timeout_ms)
{
	struct pollfd pfd;
	PGnotify *nf;
	int64_t deadline;
	bool woken;
	cm_status st;
	int left;

	if (pg == NULL)
		return CM_EINVAL;
	if ((st = cm_pg_connected(pg)) != CM_OK)
		return st;
	/* connected again: notifications may have been missed */
	woken = pg->reconnected;
	pg->reconnected = false;
	if (!pg->listening) {
		if ((st = cm_pg_exec(pg, "LISTEN " CM_PG_CHANNEL, "listen")) !=
		    CM_OK)
			return st;
		pg->listening = true;
	}
	deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		if (!PQconsumeInput(pg->conn))
			return cm_pg_fail(pg, "wait", NULL);
		while ((nf = PQnotifies(pg->conn)) != NULL) {
			woken = true;
			PQfreemem(nf);
		}
		if (woken)
			return CM_OK;
		if ((left = (int)(deadline - now_ms())) <= 0)
			return CM_NOTFOUND;
		if ((pfd.fd = PQsocket(pg->conn)) < 0)
			return cm_pg_fail(pg, "wait", NULL);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, left) < 0 && errno != EINTR)
			return cm_pg_failf(pg, CM_EUPSTREAM, "wait: poll: %s",
			    strerror(errno));
	}
}
