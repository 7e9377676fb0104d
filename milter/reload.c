/* reload.c - a new policy in force: restart-only settings, outlets, swap. */
#include "reload.h"

#include <string.h>

#include "live.h"
#include "log.h"
#include "outlet.h"

static bool
str_differs(const char *a, const char *b)
{
	return strcmp(a != NULL ? a : "", b != NULL ? b : "") != 0;
}

static void
restart_note(unsigned *n, bool changed, const char *setting)
{
	if (!changed)
		return;
	cm_log(LOG_WARNING, "reload: %s changed; it takes effect after a "
	    "restart", setting);
	(*n)++;
}

unsigned
cm_reload_restart_only(const cm_policy *o, const cm_policy *p)
{
	unsigned n = 0;

	restart_note(&n, str_differs(cm_policy_socket(o),
	    cm_policy_socket(p)), "milter.socket");
	restart_note(&n, cm_policy_socket_mode(o) != cm_policy_socket_mode(p),
	    "milter.socket_mode");
	restart_note(&n, str_differs(cm_policy_socket_group(o),
	    cm_policy_socket_group(p)), "milter.socket_group");
	restart_note(&n, str_differs(cm_policy_user(o), cm_policy_user(p)),
	    "milter.user");
	restart_note(&n, str_differs(cm_policy_group(o), cm_policy_group(p)),
	    "milter.group");
	restart_note(&n, str_differs(cm_policy_db_path(o),
	    cm_policy_db_path(p)), "database.path");
	restart_note(&n, cm_policy_db_map_size(o) != cm_policy_db_map_size(p),
	    "database.map_size");
	restart_note(&n, cm_policy_db_max_readers(o) !=
	    cm_policy_db_max_readers(p), "database.max_readers");
	return n;
}

int
cm_reload_apply(cm_policy *np)
{
	cm_live_ref *old = cm_live_get();
	cm_outlet *out = NULL;

	if (old != NULL)
		(void)cm_reload_restart_only(cm_live_policy(old), np);
	cm_live_put(old);
	if (cm_outlet_prepare(np, &out) != 0) {
		cm_policy_free(np);
		return -1;
	}
	if (cm_live_swap(np) != CM_OK) {	/* frees NP */
		cm_log(LOG_ERR, "reload: out of memory");
		cm_outlet_discard(out);
		return -1;
	}
	cm_outlet_install(out);
	return 0;
}
