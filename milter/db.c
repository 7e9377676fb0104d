/*
 * db.c - the process-wide read-only consent index handle.
 */
#include "db.h"

#include <stdatomic.h>
#include <string.h>

static _Atomic(cm_index *) db_idx;

cm_status
cm_db_open(const char *dir, size_t map_size, unsigned max_readers)
{
	cm_index_opts o;
	cm_index *idx = NULL;
	cm_status st;

	memset(&o, 0, sizeof(o));
	o.map_size = map_size;
	o.max_readers = max_readers;
	o.readonly = true;
	o.create = false;
	st = cm_index_open(dir, &o, &idx);
	if (st == CM_OK)
		atomic_store(&db_idx, idx);
	return st;
}

cm_index *
cm_db_get(void)
{
	return atomic_load(&db_idx);
}

void
cm_db_close(void)
{
	cm_index *idx = atomic_exchange(&db_idx, NULL);

	if (idx != NULL)
		cm_index_close(idx);
}
