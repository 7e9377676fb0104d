/*
 * cmtest.h - helpers shared by the unit tests: temporary directories,
 * opening an index, addresses, and a textual dump of a whole index for
 * before/after comparisons.  Failures abort the running cmocka test.
 */
#ifndef CMTEST_H
#define CMTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/index.h"

/* New empty directory under $CM_TMP (or /tmp); free with cmt_rmdir. */
char *cmt_mkdtemp(void);
/* Remove DIR (one level of files) and free the string. */
void cmt_rmdir(char *dir);

/* Create (or open) an index in DIR with initial map size MAP (0 = default). */
cm_index *cmt_open(const char *dir, size_t map);

/* Normalized address of S (default options: fold case, '+'). */
cm_addr cmt_addr(const char *s);

/* True under valgrind or with CM_TEST_QUICK set: scale loops down. */
bool cmt_quick(void);

/* Text of everything reachable through the API: entries, records,
 * histories of the given addresses, domains.  Free with free(). */
char *cmt_dump(cm_index *idx, const char *const *addrs, size_t naddrs);

/* Shorthands for events. */
cm_status cmt_grant(cm_index *idx, const char *addr, const char *type,
    cm_state st, int64_t at);
cm_status cmt_ev(cm_index *idx, cm_event_kind k, const char *addr,
    const char *type, int64_t at);

#endif
