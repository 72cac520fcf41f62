/*
 * media.c: INVITE sessions of the agent (placeholder: every INVITE is refused).
 */
#include "gb/gb_int.h"
#include "common/banned.h"

void gb_on_invite(struct gb_agent *a, const struct gb_sip_msg *m, const struct sockaddr_in *from)
{
    gb_respond(a, m, from, 488, "Not Acceptable Here", NULL, NULL, NULL, 0);
}

void gb_on_ack(struct gb_agent *a, const struct gb_sip_msg *m)
{
    (void)a;
    (void)m;
}

void gb_on_bye(struct gb_agent *a, const struct gb_sip_msg *m, const struct sockaddr_in *from)
{
    gb_respond(a, m, from, 481, "Call/Transaction Does Not Exist", NULL, NULL, NULL, 0);
}

void gb_sessions_close(struct gb_agent *a)
{
    (void)a;
}

void gb_sessions_reap(struct gb_agent *a)
{
    (void)a;
}
