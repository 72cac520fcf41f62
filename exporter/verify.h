/*
 * verify.h: check an evidence export package (see export.h) with nothing but the package.
 *
 * Reads the ZIP with libarchive under hard limits (at most 100 000 entries, 4 GiB per entry,
 * 16 MiB for each metadata file kept in memory; no absolute paths, no "..", one top folder)
 * and checks: every file in SHA256SUMS is present with that hash; no unlisted file exists; the
 * CMS signature over SHA256SUMS verifies against certs/root.pem (signing time, so an expired
 * certificate still verifies); each integrity/<camera>.chain recomputes link by link and names
 * native files with their hashes; each checkpoint in integrity/checkpoints.log carries a valid
 * signature of certs/signing.pem and its head for the camera equals the chain line it names.
 *
 * Threads: reentrant.
 */
#ifndef EXP_VERIFY_H
#define EXP_VERIFY_H

#include <stdbool.h>
#include <stdio.h>

#include "common/error.h"

/*
 * Verify `zip_path`, writing one line per check to `out` ("ok <check>: <detail>" or
 * "FAIL <check>: <detail>"), or with `json` one JSON object {"package":..., "valid":...,
 * "checks":[{"check","ok","detail"}]}. *failed receives the number of failed checks.
 * Returns 0 when the package could be read (look at *failed), or a negative CV_E* code with one
 * line in *err when it is unreadable, truncated or not a package (no SHA256SUMS, no manifest).
 */
int exp_verify(const char *zip_path, bool json, FILE *out, unsigned *failed, struct cv_err *err);

#endif
