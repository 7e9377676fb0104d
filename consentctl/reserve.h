/*
 * reserve.h - the disk space an import asks for up front (prefix
 * ctl_reserve_).
 */
#ifndef CTL_RESERVE_H
#define CTL_RESERVE_H

#include <stddef.h>
#include <stdint.h>

#include "rows.h"

/*
 * What importing the file FD (TOTAL octets, format FMT) adds to the
 * index, in octets, for cm_index_import_begin's RESERVE: twice the file
 * (an event's strings are stored in its record and in its history event)
 * + 192 octets a row (keys, headers, B-tree slack) + 256 KiB.  Rows are
 * counted as lines (a YAML record as 5); reads FD with pread (its offset
 * does not move).  Never fails: an unreadable file counts as one row.
 */
size_t ctl_reserve_estimate(int fd, uint64_t total, ctl_fmt fmt);

/* After the import could not allocate its space: print "NAME: nothing
 * imported: DIR has N MiB available" (nothing if DIR cannot be statted). */
void ctl_reserve_report(const char *name, const char *dir);

#endif
