/*
 * ytree.h - a YAML document as a small tree with positions (prefix cm_ytree_).
 *
 * cm_ytree_parse() reads one YAML document with libyaml's event API into
 * a tree of mappings, sequences and scalars, each carrying the 1-based
 * line and column where it starts.  Only plain YAML is supported:
 * anchors, aliases and explicit tags are errors, as are a second
 * document, nesting deeper than CM_YTREE_DEPTH_MAX, more than
 * CM_YTREE_MAP_MAX keys in one mapping or CM_YTREE_SEQ_MAX entries in one
 * sequence, and NUL characters in scalars.  A duplicate key in a mapping
 * is an error; the pair stays in the tree marked dup.  Errors are
 * appended to ERRS as "FILE:LINE:COLUMN: text"; every error of the
 * document is reported, except that parsing stops at the first YAML
 * syntax error (libyaml cannot go on) and at the first nesting deeper
 * than CM_YTREE_DEPTH_MAX (libyaml's time grows with the square of the
 * depth); no tree is returned then.
 */
#ifndef CM_YTREE_H
#define CM_YTREE_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/status.h"
#include "arena.h"
#include "errlist.h"

#define CM_YTREE_DEPTH_MAX 32
#define CM_YTREE_MAP_MAX 1000
#define CM_YTREE_SEQ_MAX 10000

typedef enum cm_ynode_kind {
	CM_YN_SCALAR = 1, CM_YN_SEQ, CM_YN_MAP
} cm_ynode_kind;

typedef struct cm_ynode cm_ynode;
struct cm_ynode {
	cm_ynode_kind kind;
	unsigned line, col;	/* 1-based start of the node */
	const char *str;	/* scalar: NUL-terminated text (never NULL) */
	size_t len;		/* scalar: length of str */
	bool null;		/* scalar: plain "", "~" or "null" */
	bool dup;		/* mapping key: duplicate of an earlier key */
	size_t n;		/* sequence: entries; mapping: pairs */
	cm_ynode *first;	/* sequence: first entry; mapping: first key */
	cm_ynode *next;		/* next sibling; a key's next is its value */
};

/*
 * Parse the LEN bytes at BUF (named FNAME in messages), allocating from
 * A.  CM_OK: *ROOT is the document's root node, or NULL if the stream has
 * no document (empty file, only comments).  CM_EINVAL: errors were
 * appended to ERRS; *ROOT is still the tree, good for finding further
 * errors, unless a YAML syntax error stopped the parser (then NULL).
 * CM_ENOMEM: out of memory.
 */
cm_status cm_ytree_parse(const char *buf, size_t len, const char *fname,
    cm_arena *a, cm_errlist *errs, cm_ynode **root);

/* "a mapping", "a sequence", "an empty value" or "a scalar". */
const char *cm_ytree_kind_name(const cm_ynode *n);

#endif
