/*
 * schema.h - a declarative schema for YAML configuration (prefix cm_sch_).
 *
 * A schema is a table of items, one per key of a mapping, in the style
 * of Knot DNS's yp_item_t: key name, value type, flags (required,
 * non-empty), bounds, a default written as YAML text, where the value is
 * stored (an offset into the C struct that mirrors the mapping), and an
 * optional check callback for what one value alone cannot express.
 * cm_sch_apply() walks a cm_ytree against the table, converts and stores
 * every value, fills in defaults, and reports every problem it finds as
 *
 *   FILE:LINE:COLUMN: key 'KEY': WHAT
 *
 * where LINE:COLUMN is the offending node (for a missing required key:
 * the start of the mapping that lacks it).  The wording, fixed here:
 *
 *   key 'k': unknown key, expected one of a, b, c
 *   key 'k': required key is missing
 *   key 'k': expected DESCRIPTION, got a mapping | a sequence |
 *            an empty value | 'VALUE'
 *   key 'k': expected DESCRIPTION, got 'VALUE' (REASON)
 *   key 'k': expected at least N NOUN(s), got M
 *   key 'k': expected at most N NOUN(s), got M
 *
 * Values in messages are quoted by cm_errlist_quote() (errlist.h):
 * non-printable bytes as \xNN, cut after 64 bytes ("...").  Strings are stored NUL-terminated in the
 * context's arena; control characters are refused in every string.
 */
#ifndef CM_SCHEMA_H
#define CM_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "ytree.h"

typedef enum cm_sch_type {
	CM_SCH_STR = 1,	/* const char *; max = longest length (0: 1024) */
	CM_SCH_BOOL,	/* bool: true/false (also yes/no, on/off) */
	CM_SCH_ENUM,	/* int, from the item's enums table */
	CM_SCH_UINT,	/* unsigned, min..max */
	CM_SCH_DURATION, /* int64_t microseconds; NUMBER + s|m|h|d|w
			 * (core/duration.h); min..max seconds */
	CM_SCH_SIZE,	/* size_t bytes; NUMBER [B|KiB|MiB|GiB|TiB]; min..max */
	CM_SCH_MODE,	/* unsigned, octal file mode 000..0777 */
	CM_SCH_SOCKET,	/* const char *: unix:/PATH, inet:PORT@HOST, inet6:PORT@HOST */
	CM_SCH_PATH,	/* const char *: absolute path */
	CM_SCH_CHAR,	/* char: one punctuation character, or "" for 0 */
	CM_SCH_ID,	/* const char *: a newsletter type id,
			 * cm_type_id_valid() (core/names.h) */
	CM_SCH_HDRNAME,	/* const char *: RFC 5322 field name */
	CM_SCH_GLOB,	/* const char *: non-empty glob pattern (glob.h) */
	CM_SCH_CIDR,	/* cm_cidr (cidr.h) */
	CM_SCH_MAP,	/* nested mapping described by sub, stored at off;
			 * an empty value is an empty mapping */
	CM_SCH_LIST	/* sequence: array pointer at off, size_t count at
			 * count_off, elements described by elem (size bytes
			 * each); min..max entries; an empty value is [] */
} cm_sch_type;

#define CM_SCH_REQUIRED 0x1u	/* the key must be present */
#define CM_SCH_NONEMPTY 0x2u	/* STR: "" is refused */
#define CM_SCH_CHECK_ALWAYS 0x4u /* run check even if the value had errors */

typedef struct cm_sch_enum {
	const char *name;
	int value;
} cm_sch_enum;			/* tables end with { NULL, 0 } */

typedef struct cm_sch_ctx cm_sch_ctx;
typedef struct cm_sch_item cm_sch_item;

/*
 * Called after an item's value was stored without error (also for
 * defaults, then with NODE NULL; with CM_SCH_CHECK_ALWAYS also after
 * errors in the value).  BASE is the struct holding the value (for list elements,
 * the element).  Report problems with cm_sch_error().
 */
typedef void (*cm_sch_check_fn)(cm_sch_ctx *ctx, const cm_sch_item *it,
    const cm_ynode *node, void *base);

struct cm_sch_item {
	const char *name;		/* NULL ends a table */
	cm_sch_type type;
	unsigned flags;
	size_t off;			/* where the value is stored */
	const char *def;		/* default as YAML text, or NULL */
	int64_t min, max;		/* bounds (see the types) */
	const cm_sch_enum *enums;	/* ENUM */
	const cm_sch_item *sub;		/* MAP: the keys of the mapping */
	const cm_sch_item *elem;	/* LIST: one element (off 0) */
	size_t size;			/* LIST: bytes per element */
	size_t count_off;		/* LIST: where the count is stored */
	const char *noun;		/* LIST: singular noun for messages */
	cm_sch_check_fn check;
};

struct cm_sch_ctx {
	const char *fname;
	cm_arena *arena;		/* for stored strings and arrays */
	cm_errlist *errs;		/* may be NULL: errors only counted */
	size_t nerr;
	bool oom;
};

/*
 * Apply TABLE to the mapping ROOT, storing into BASE.  Returns true if
 * no error was found (ctx->nerr unchanged and no out of memory).
 */
bool cm_sch_apply(cm_sch_ctx *ctx, const cm_sch_item *table,
    const cm_ynode *root, void *base);

/* Report "FILE:LINE:COL: key 'KEY': " + FMT at node AT. */
void cm_sch_error(cm_sch_ctx *ctx, const cm_ynode *at, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Report "FILE:LINE:COL: " + FMT at LINE:COL. */
void cm_sch_error_at(cm_sch_ctx *ctx, unsigned line, unsigned col,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* The value node of KEY in mapping MAP (first, not dup), or NULL. */
const cm_ynode *cm_sch_lookup(const cm_ynode *map, const char *key);

#endif
