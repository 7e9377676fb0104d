/*
 * pdlock.c - the interlock of the milter's fast path (pdlock.h).
 */
#include "pdlock.h"

#include <pthread.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../core/pdstamp.h"
#include "log.h"

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static time_t checked;
static struct stat seen;		/* the stamp file checked then */
static char digest[CM_PDSTAMP_DIGEST_LEN + 1];
static cm_pdstamp_state state;
static int logged = -1;		/* the state last logged */

bool
cm_pdlock_ok(const cm_policy *p)
{
	const char *want = cm_policy_digest(p);
	time_t now = time(NULL);
	cm_pdstamp_state s;
	struct stat st;
	bool say, have;

	/* consent-policy replaces the stamp (rename) at every write */
	have = stat(cm_policy_pd_stamp(p), &st) == 0;
	pthread_mutex_lock(&mu);
	/* a fresh stamp holds for the rest of the second while it is the
	 * same file; any other answer is checked again (the milter
	 * decides meanwhile) */
	if (have && checked == now && state == CM_PDSTAMP_OK &&
	    st.st_ino == seen.st_ino && st.st_dev == seen.st_dev &&
	    st.st_mtim.tv_sec == seen.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == seen.st_mtim.tv_nsec &&
	    strcmp(digest, want) == 0) {
		pthread_mutex_unlock(&mu);
		return true;
	}
	s = cm_pdstamp_check(cm_policy_pd_stamp(p), want, now);
	checked = now;
	if (have)
		seen = st;
	else
		memset(&seen, 0, sizeof seen);
	memcpy(digest, want, sizeof(digest));
	state = s;
	say = logged != (int)s;
	logged = (int)s;
	pthread_mutex_unlock(&mu);
	if (say && s == CM_PDSTAMP_OK)
		cm_log(LOG_NOTICE, "consent-policy enforces this "
		    "configuration (stamp %s): envelope-typed mail is "
		    "accepted at MAIL FROM", cm_policy_pd_stamp(p));
	else if (say)
		cm_log(LOG_WARNING, "policy.decides_envelope_types: "
		    "consent-policy's stamp %s is %s; the milter decides "
		    "envelope-typed mail itself", cm_policy_pd_stamp(p),
		    cm_pdstamp_state_name(s));
	return s == CM_PDSTAMP_OK;
}
