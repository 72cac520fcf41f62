/*
 * scope.c: what a mediator may see. DESIGN.md: mediators replay only the footage of the dispute
 * cases they are members of. The cases store (IDX_CASES) and its format belong to the cases
 * code, which replaces the body below with the real check: the range must lie within a clip of
 * `camera` in an open case that lists the mediator as a member. Until then no range is in scope,
 * so every mediator request for footage or a camera is refused (403), never allowed by default.
 */
#include "server/srv_int.h"
#include "common/banned.h"

bool srv_scope_allows(struct srv_req *r, struct idx_txn *t, const char *camera, int64_t from_us,
                      int64_t to_us)
{
    (void)r;
    (void)t;
    (void)camera;
    (void)from_us;
    (void)to_us;
    return false;
}
