#include <errno.h>

#include "status.h"

static const char *const messages[CM_STATUS_MAX] = {
	[CM_OK] = "success",
	[CM_NOTFOUND] = "not found",
	[CM_ENOMEM] = "out of memory",
	[CM_EINVAL] = "invalid argument",
	[CM_EIO] = "input/output error",
	[CM_EDB] = "database error",
	[CM_EFORMAT] = "stored data has an unknown format or is corrupt",
	[CM_ETOOLONG] = "value too long",
	[CM_EEXIST] = "already exists",
	[CM_ESTALE] = "older than the stored state; not applied",
	[CM_EPERM] = "permission denied",
	[CM_EFULL] = "index map full (grown: try again)",
	[CM_EFUTURE] = "dated in the future (beyond the allowed clock skew)",
	[CM_EBUSY] = "index busy (another writer holds it)",
	[CM_EUPGRADE] = ("consent index of format 1, keyed before Unicode "
	    "address normalization: run 'consentctl upgrade'"),
	[CM_EUPSTREAM] = "shared consent store (upstream) unavailable",
	[CM_ADDR_EMPTY] = "empty address",
	[CM_ADDR_NO_AT] = "address has no '@'",
	[CM_ADDR_LOCAL_EMPTY] = "empty local part",
	[CM_ADDR_LOCAL_TOO_LONG] = "local part longer than 64 octets",
	[CM_ADDR_DOMAIN_EMPTY] = "empty domain",
	[CM_ADDR_DOMAIN_TOO_LONG] = "domain longer than 255 octets",
	[CM_ADDR_BAD_DOMAIN] = "invalid domain syntax",
	[CM_ADDR_BAD_IDN] = "invalid internationalized domain name",
	[CM_ADDR_CTRL] = "control character in address",
	[CM_ADDR_NUL] = "NUL byte in address",
	[CM_ADDR_QUOTE] = "unbalanced quotes or bad escape in address",
	[CM_ADDR_BAD_UTF8] = "invalid UTF-8 in address",
	[CM_ADDR_BAD_ROUTE] = "malformed source route",
	[CM_ADDR_BAD_LOCAL] = "invalid local part syntax",
	[CM_ADDR_BRACKET] = "unbalanced angle brackets",
	[CM_ADDR_ROUTED] = "routed local part ('%' or '!') refused",
	[CM_TIME_INVALID] = "not an RFC 3339 date-time",
	[CM_TIME_RANGE] = "date-time out of range",
};

const char *
cm_strerror(int status)
{
	if (status < 0 || status >= CM_STATUS_MAX || messages[status] == 0)
		return "unknown status";
	return messages[status];
}

cm_status
cm_status_errno(int e)
{
	switch (e) {
	case ENOENT:
		return CM_NOTFOUND;
	case EACCES:
	case EPERM:
	case EROFS:
		return CM_EPERM;
	case ENOMEM:
		return CM_ENOMEM;
	default:
		return CM_EIO;
	}
}
