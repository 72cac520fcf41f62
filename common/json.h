/*
 * json.h: a small, strict JSON reader for untrusted input (HTTP request bodies, audit lines).
 *
 * cv_json_parse reads one RFC 8259 value into a tree that lives in one heap block owned by a
 * struct cv_json; every node pointer handed out dies with cv_json_free. It is strict on purpose:
 * duplicate object keys, control characters and NUL (also as \u0000) in strings, unpaired
 * surrogates, leading zeros, trailing garbage and anything over the limits are errors with a
 * message that says what and where ("JSON: duplicate key 'from' at byte 41"). Nothing is
 * allocated per node, so a hostile body cannot make it allocate more than the limits allow.
 * Writers live in common/buf.h (cv_json_str, cv_json_key). Not thread-safe per document; separate
 * documents are independent.
 */
#ifndef CV_JSON_H
#define CV_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

enum cv_json_type { CV_JSON_NULL, CV_JSON_BOOL, CV_JSON_NUM, CV_JSON_STR, CV_JSON_ARR, CV_JSON_OBJ };

/* One value. Object members carry their key; siblings are linked through `next`. */
struct cv_jv {
    enum cv_json_type type;
    const char *key;  /* member name (object members only), NUL-terminated UTF-8 */
    const char *str;  /* CV_JSON_STR: decoded, NUL-terminated; CV_JSON_NUM: the number's text */
    size_t len;       /* CV_JSON_STR: bytes of str; ARR/OBJ: number of children */
    double num;       /* CV_JSON_NUM */
    bool b;           /* CV_JSON_BOOL */
    struct cv_jv *child, *next;
};

/* Limits; zeros mean the defaults in brackets. */
struct cv_json_limits {
    size_t max_bytes;  /* input size [64 KiB] */
    int max_depth;     /* nesting of arrays/objects [8] */
    size_t max_string; /* decoded bytes of one string or key [4096] */
    size_t max_items;  /* children of one array or object [64] */
    size_t max_nodes;  /* values in the whole document [4096] */
};

struct cv_json;

/*
 * Parse text[0..len) (need not be NUL-terminated). On success *out owns the tree; on failure
 * *out is NULL and the return is CV_EINVAL (bad JSON) or CV_ELIMIT (over a limit) with a message
 * starting "JSON: ". lim may be NULL (defaults).
 */
int cv_json_parse(const char *text, size_t len, const struct cv_json_limits *lim,
                  struct cv_json **out, struct cv_err *err);
void cv_json_free(struct cv_json *doc); /* NULL-safe */
const struct cv_jv *cv_json_root(const struct cv_json *doc);

/* The member `key` of object `obj`, or NULL (also when obj is not an object). */
const struct cv_jv *cv_json_get(const struct cv_jv *obj, const char *key);

/*
 * Check that obj is an object whose member names are all in `allowed` (NULL-terminated list):
 * CV_EINVAL "unknown field 'x'" / "expected a JSON object" otherwise.
 */
int cv_json_only(const struct cv_jv *obj, const char *const *allowed, struct cv_err *err);

/*
 * Typed member readers for request bodies. Each returns 0 and sets *out when the member is there
 * with the right type; 1 when it is absent or null and !required (out untouched); CV_EINVAL with
 * "field 'x': expected ..." when it has the wrong type, or is absent and required.
 */
int cv_json_get_str(const struct cv_jv *obj, const char *key, bool required, const char **out,
                    struct cv_err *err);
int cv_json_get_bool(const struct cv_jv *obj, const char *key, bool required, bool *out,
                     struct cv_err *err);
/* A number within [min, max]; integers only when `integer`. */
int cv_json_get_num(const struct cv_jv *obj, const char *key, bool required, double min,
                    double max, bool integer, double *out, struct cv_err *err);
/* An integer that fits int64 exactly (parsed from the number's text, not through double). */
int cv_json_get_i64(const struct cv_jv *obj, const char *key, bool required, int64_t min,
                    int64_t max, int64_t *out, struct cv_err *err);

#endif
