/*
 * scope.c: what a mediator may see. docs/api.md (Roles): mediators replay only the footage of
 * the dispute cases they are members of. The reach is the union of the clips of the open cases
 * that list the mediator as a member (server/cases.h); a range must lie wholly inside it.
 */
#include "server/cases.h"
#include "server/srv_int.h"
#include "common/banned.h"

bool srv_scope_allows(struct srv_req *r, struct idx_txn *t, const char *camera, int64_t from_us,
                      int64_t to_us)
{
    return srv_case_reach(t, r->user.name, camera, from_us, to_us);
}
