/*
 * chain.h: the hash steps of camvault's two chains, and nothing else: pure functions over bytes
 * (OpenSSL's SHA-256), with no index, no file and no key. They are the floor of the integrity
 * module, the one part of it that the indexer may include (docs/architecture.md): the index
 * computes each segment's link when it stores the segment, fsck and rebuild recompute links, and
 * `camvault verify` recomputes them from a package, all with the same function.
 *
 *   segment chain, per camera:  link_n = SHA-256(link_{n-1} || camera id || 0x00 ||
 *                                                be64 start µs || be64 end µs || SHA-256(file))
 *                               link_0 = 32 zero bytes
 *   audit chain, per site:      hash_n = SHA-256(hash_{n-1} || canonical line n)
 *                               hash_0 = 32 zero bytes (integrity/audit_chain.h)
 *
 * Threads: reentrant.
 */
#ifndef ITG_CHAIN_H
#define ITG_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/*
 * The segment chain step above: out = the link of the segment (camera, start_us, end_us, sha256)
 * after link `prev` (32 zero bytes for a camera's first segment). CV_ECRYPTO (OpenSSL's reason
 * in *err) when the hash cannot be computed; `out` is then zeroed and must not be stored.
 */
int itg_chain_next(const uint8_t prev[32], const char *camera, int64_t start_us, int64_t end_us,
                   const uint8_t sha256[32], uint8_t out[32], struct cv_err *err);

/*
 * The audit chain step above: out = SHA-256(prev || line[0..len)). CV_ECRYPTO when the hash
 * cannot be computed (out of memory); `out` is then zeroed, which no stored record matches.
 */
int itg_audit_link(const uint8_t prev[32], const void *line, size_t len, uint8_t out[32]);

/* One line from OpenSSL's error queue, "<what>: <reason>", into *err as CV_ECRYPTO (returned);
 * clears the queue. */
int itg_ssl_err(struct cv_err *err, const char *what);

#endif
