/*
 * gb_sip_bench.c: how many GB/T 28181 SIP messages per second one core parses (gb_sip_parse of
 * a MESSAGE with a Catalog query, its MANSCDP body read by gb_manscdp_parse, the From user and
 * tag read), for docs/gb28181.md. Usage: gb-sip-bench [N] (default 1000000). Prints one line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gb/sip.h"
#include "common/banned.h"

static const char msg[] =
    "MESSAGE sip:34020000001180000001@3402000000 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:5060;rport;branch=z9hG4bK1\r\n"
    "From: <sip:34020000002000000001@3402000000>;tag=p1\r\n"
    "To: <sip:34020000001180000001@3402000000>\r\nCall-ID: call1@127.0.0.1\r\n"
    "CSeq: 20 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: Application/MANSCDP+xml\r\n"
    "Content-Length: 128\r\n\r\n"
    "<?xml version=\"1.0\" encoding=\"GB2312\"?>\r\n<Query>\r\n<CmdType>Catalog</CmdType>\r\n"
    "<SN>17430</SN>\r\n<DeviceID>1</DeviceID>\r\n</Query>\r\n";

int main(int argc, char **argv)
{
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    struct gb_sip_msg *m = malloc(sizeof(*m));
    struct gb_manscdp q;
    struct cv_err err = {""};
    struct timespec a, b;
    char user[32], tag[32];
    double s;

    if (!m || n <= 0)
        return 2;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) {
        if (gb_sip_parse(m, msg, sizeof(msg) - 1, &err) < 0 ||
            gb_manscdp_parse(m->body, m->body_len, &q, &err) < 0 ||
            gb_sip_uri_user(m->from, user, sizeof(user)) < 0 ||
            gb_sip_param(m->from, "tag", tag, sizeof(tag)) < 0) {
            fprintf(stderr, "gb-sip-bench: %s\n", err.msg);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("gb-sip-bench: %ld messages (%zu bytes each) in %.2f s: %.0f messages/s\n", n,
           sizeof(msg) - 1, s, (double)n / s);
    free(m);
    return 0;
}
