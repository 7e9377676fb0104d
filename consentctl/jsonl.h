/*
 * jsonl.h - strict streaming reader of JSON Lines (prefix ctl_jsonl_).
 *
 * Each non-empty line is one JSON object (RFC 8259) whose values are
 * strings, numbers or null; anything else (arrays, nested objects,
 * true/false, duplicate keys, trailing text, invalid UTF-8, lone
 * surrogates, control characters in strings, "\u0000") is an error with
 * its line and column.  Escapes: \" \\ \/ \b \f \n \r \t \uXXXX,
 * surrogate pairs combined.  Lines end with LF (a CR before it is
 * whitespace).  Constant memory: a line holds at most CTL_JSONL_LINE_MAX
 * octets and CTL_JSONL_MEMBERS_MAX members.
 */
#ifndef CTL_JSONL_H
#define CTL_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_JSONL_LINE_MAX (1024 * 1024)
#define CTL_JSONL_MEMBERS_MAX 64

typedef enum ctl_json_type {
	CTL_JSON_NULL = 1,
	CTL_JSON_STRING,
	CTL_JSON_NUMBER		/* value: the number as written */
} ctl_json_type;

typedef struct ctl_json_member {
	const char *key;
	size_t key_len;
	ctl_json_type type;
	const char *val;	/* NUL-terminated; NULL for null */
	size_t val_len;
	unsigned long col;	/* column of the value */
} ctl_json_member;

typedef struct ctl_jsonl ctl_jsonl;

ctl_jsonl *ctl_jsonl_new(int fd);	/* NULL on out of memory */
void ctl_jsonl_free(ctl_jsonl *r);

typedef enum ctl_jsonl_res {
	CTL_JSONL_OBJECT = 1,	/* an object was read */
	CTL_JSONL_EOF,
	CTL_JSONL_BAD,		/* this line is malformed; reading may go on */
	CTL_JSONL_FATAL		/* I/O error */
} ctl_jsonl_res;

ctl_jsonl_res ctl_jsonl_next(ctl_jsonl *r);

size_t ctl_jsonl_count(const ctl_jsonl *r);
const ctl_json_member *ctl_jsonl_get(const ctl_jsonl *r, size_t i);
unsigned long ctl_jsonl_line(const ctl_jsonl *r);
const char *ctl_jsonl_errmsg(const ctl_jsonl *r);
unsigned long ctl_jsonl_errcol(const ctl_jsonl *r);
uint64_t ctl_jsonl_offset(const ctl_jsonl *r);

/*
 * Parse one object from the LEN octets at S (no reader needed; used by
 * the reader and by tests).  OUT receives up to CTL_JSONL_MEMBERS_MAX
 * members whose strings live in SCRATCH (at least LEN + 1 octets).
 * Returns true, or false with a message in ERR and the 1-based column.
 */
bool ctl_jsonl_parse(const char *s, size_t len, char *scratch,
    ctl_json_member *out, size_t *count, char *err, size_t errsz,
    unsigned long *errcol);

#endif
