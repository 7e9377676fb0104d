/*
 * multi.h - one recipient, several newsletter types (prefix cm_multi_).
 *
 * A message that matches several newsletter types may reach a recipient
 * only if the recipient may receive every one of them (SPEC §4: "needs
 * consent for each").  cm_multi_decide() asks cm_decide() for each type
 * and combines the answers so that the result never allows more than
 * any one type alone would:
 *   - any type denies            -> deny, with the reason of the first
 *                                   denying type (in the order given);
 *                                   a deny wins over a lookup error;
 *   - no deny, a lookup fails    -> that error status;
 *   - every type allows          -> allow.
 */
#ifndef CM_MULTI_H
#define CM_MULTI_H

#include <stddef.h>
#include <stdint.h>

#include "addr.h"
#include "decide.h"
#include "index.h"
#include "status.h"

/*
 * Decide for ADDR against the N types TPS[0..N-1] (N >= 1) at NOW_US.
 * Returns CM_OK with *OUT filled and *WHICH (if not NULL) set to the index
 * of the denying type (on allow: 0); or the first error status when no
 * type denies (*WHICH: the failing type).  CM_EINVAL if N is 0.
 * Thread-safe; one short read transaction per type.
 */
cm_status cm_multi_decide(cm_index *idx, const cm_type_policy *const *tps,
    size_t n, const cm_addr *addr, int64_t now_us, cm_decision *out,
    size_t *which);

#endif
