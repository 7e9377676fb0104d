/*
 * yamlin.h - streaming reader of a YAML list of flat mappings
 * (prefix ctl_yaml_), for `consentctl import`.
 *
 * The document is a sequence; each item is a mapping of scalar keys to
 * scalar values.  A plain empty, "~" or "null" value is null.  Anchors,
 * aliases, tags and nested collections are errors.  Constant memory: one
 * item at a time (libyaml event API), at most CTL_YAML_ITEM_MAX octets
 * and CTL_YAML_MEMBERS_MAX members.  Lines and columns count from 1.
 */
#ifndef CTL_YAMLIN_H
#define CTL_YAMLIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_YAML_ITEM_MAX (1024 * 1024)
#define CTL_YAML_MEMBERS_MAX 64
/* A record never nests; a nested value is skipped as a bad item, and
 * nesting deeper than this ends the reading (CTL_YAML_FATAL). */
#define CTL_YAML_SKIP_DEPTH_MAX 32

typedef struct ctl_yaml_member {
	const char *key;
	const char *val;	/* NULL for null */
	size_t val_len;
	unsigned long line, col;	/* of the value */
} ctl_yaml_member;

typedef struct ctl_yaml ctl_yaml;

/* A reader of F (not closed by the reader); NULL on out of memory. */
ctl_yaml *ctl_yaml_new(FILE *f);
void ctl_yaml_free(ctl_yaml *r);

typedef enum ctl_yaml_res {
	CTL_YAML_ITEM = 1,
	CTL_YAML_EOF,
	CTL_YAML_BAD,		/* this item is malformed and was skipped */
	CTL_YAML_FATAL		/* syntax error: nothing more can be read */
} ctl_yaml_res;

ctl_yaml_res ctl_yaml_next(ctl_yaml *r);

size_t ctl_yaml_count(const ctl_yaml *r);
const ctl_yaml_member *ctl_yaml_get(const ctl_yaml *r, size_t i);
unsigned long ctl_yaml_line(const ctl_yaml *r);	/* of the item */
const char *ctl_yaml_errmsg(const ctl_yaml *r);
unsigned long ctl_yaml_errline(const ctl_yaml *r);
unsigned long ctl_yaml_errcol(const ctl_yaml *r);
uint64_t ctl_yaml_offset(const ctl_yaml *r);

#endif
