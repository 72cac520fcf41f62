/*
 * test_bmff.c: the ISO BMFF box reader and writer (storage-layout/bmff.h).
 *
 * Every segment file, clip and recorder fragment is walked by this one reader, so each way a
 * size can lie is a row of a table: boxes, nested boxes, a 64-bit largesize, size 0 (to the
 * end), a truncated header, a size past the end of the buffer (or past the parent box), a size
 * smaller than its header, a largesize near 2^64. Each row gives the bytes and what a walk
 * prints: type(header+payload) per box, children in [ ], and "!" where the reader refuses, with
 * the words its message must hold. The file reader is checked on the same kinds of bytes with
 * pread, and the writer by reading back what it wrote.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage-layout/bmff.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

#define BYTES(s) s, sizeof(s) - 1

/* Types whose payload is boxes: the walk descends into them. */
static bool is_container(const char *type)
{
    static const char *const containers[] = {"moov", "trak", "mdia", "moof", "traf"};

    for (size_t i = 0; i < NELEM(containers); i++)
        if (lay_box_is(type, containers[i]))
            return true;
    return false;
}

/* Walk [data, data + len) into out as "type(h+len) ...", nested in [ ]; "!" on an error, whose
 * message goes to msg (the first one). Returns the first error code, or 0. */
static int describe(const uint8_t *data, size_t len, struct cv_buf *out, struct cv_err *msg)
{
    struct lay_box_cur c;
    struct lay_box b;
    int r, first = 0;

    lay_box_init(&c, data, len);
    while ((r = lay_box_next(&c, &b, msg)) == 1) {
        cv_buf_printf(out, "%s%s(%zu+%zu)", out->len && out->data[out->len - 1] != '[' ? " " : "",
                      b.type, b.hsize, b.len);
        if (b.start + b.hsize != b.body || b.hsize + b.len != b.size)
            cv_buf_printf(out, "<inconsistent>");
        if (is_container(b.type)) {
            int sub;
            cv_buf_printf(out, "[");
            sub = describe(b.body, b.len, out, msg);
            cv_buf_printf(out, "]");
            if (sub < 0)
                return sub;
        }
    }
    if (r < 0) {
        cv_buf_printf(out, "%s!", out->len && out->data[out->len - 1] != '[' ? " " : "");
        first = r;
    }
    return first;
}

void test_bmff_walk(void)
{
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
        const char *want;  /* the walk */
        const char *error; /* words of the message when the walk ends with "!", else NULL */
    } cases[] = {
        {"empty", BYTES(""), "", NULL},
        {"one box", BYTES("\0\0\0\x0c" "free" "abcd"), "free(8+4)", NULL},
        {"empty payload", BYTES("\0\0\0\x08" "skip"), "skip(8+0)", NULL},
        {"two boxes", BYTES("\0\0\0\x0a" "ftyp" "ab" "\0\0\0\x09" "free" "c"),
         "ftyp(8+2) free(8+1)", NULL},
        {"nested boxes",
         BYTES("\0\0\0\x2c" "moov" "\0\0\0\x0c" "mvhd" "1234" "\0\0\0\x10" "trak"
               "\0\0\0\x08" "tkhd" "\0\0\0\x08" "mvex"),
         "moov(8+36)[mvhd(8+4) trak(8+8)[tkhd(8+0)] mvex(8+0)]", NULL},
        {"largesize", BYTES("\0\0\0\x01" "mdat" "\0\0\0\0\0\0\0\x14" "data"), "mdat(16+4)", NULL},
        {"largesize then a box",
         BYTES("\0\0\0\x01" "mdat" "\0\0\0\0\0\0\0\x10" "\0\0\0\x08" "free"),
         "mdat(16+0) free(8+0)", NULL},
        {"size 0 takes the rest", BYTES("\0\0\0\x08" "free" "\0\0\0\0" "mdat" "xyz"),
         "free(8+0) mdat(8+3)", NULL},
        {"size 0 ends at its parent's end",
         BYTES("\0\0\0\x14" "moof" "\0\0\0\0" "uuid" "ab" "\0\0" "\0\0\0\x08" "mdat"),
         "moof(8+12)[uuid(8+4)] mdat(8+0)", NULL},
        {"truncated header", BYTES("\0\0\0"), "!", "at offset 0: 3 bytes left, 8 needed"},
        {"truncated header after a box", BYTES("\0\0\0\x08" "free" "\0\0\0\x08" "fr"),
         "free(8+0) !", "at offset 8: 6 bytes left, 8 needed"},
        {"truncated largesize", BYTES("\0\0\0\x01" "mdat" "\0\0\0\0"), "!",
         "box 'mdat' at offset 0: 12 bytes left, 16 needed for its largesize"},
        {"size past the end", BYTES("\0\0\0\x10" "free" "ab"), "!",
         "box 'free' at offset 0: size 16 runs past the end (10 bytes left)"},
        {"size past its parent",
         BYTES("\0\0\0\x10" "moov" "\0\0\0\x10" "trak" "\0\0\0\x08" "free"), "moov(8+8)[!]",
         "box 'trak' at offset 0: size 16 runs past the end (8 bytes left)"},
        {"size smaller than its header", BYTES("\0\0\0\x04" "free" "abcd"), "!",
         "box 'free' at offset 0: size 4 is smaller than its 8-byte header"},
        {"largesize smaller than its header",
         BYTES("\0\0\0\x01" "mdat" "\0\0\0\0\0\0\0\x08" "abcd"), "!",
         "size 8 is smaller than its 16-byte header"},
        {"largesize near 2^64 does not wrap",
         BYTES("\0\0\0\x08" "free" "\0\0\0\x01" "mdat" "\xff\xff\xff\xff\xff\xff\xff\xf8"),
         "free(8+0) !", "box 'mdat' at offset 8: size 18446744073709551608 runs past the end"},
    };

    for (size_t i = 0; i < NELEM(cases); i++) {
        struct cv_buf out;
        struct cv_err err = {""};
        int rc;

        cv_buf_init(&out, 4096);
        rc = describe((const uint8_t *)cases[i].bytes, cases[i].len, &out, &err);
        cv_buf_u8(&out, 0);
        CHECK_MSG(cv_buf_ok(&out) && strcmp((const char *)out.data, cases[i].want) == 0,
                  "%s: walk '%s', want '%s'", cases[i].name, (const char *)out.data,
                  cases[i].want);
        if (cases[i].error) {
            CHECK_MSG(rc == CV_ECORRUPT, "%s: rc %d", cases[i].name, rc);
            CHECK_MSG(strstr(err.msg, cases[i].error) != NULL, "%s: message '%s', want '%s'",
                      cases[i].name, err.msg, cases[i].error);
        } else {
            CHECK_MSG(rc == 0, "%s: rc %d: %s", cases[i].name, rc, err.msg);
        }
        cv_buf_release(&out);
    }
}

/* After an error the cursor stays put; lay_box_find stops at the first match or error. */
void test_bmff_cursor(void)
{
    static const char good[] = "\0\0\0\x09" "ftyp" "a" "\0\0\0\x0a" "moov" "bc" "\0\0\0\x08" "moov";
    static const char bad[] = "\0\0\0\x08" "free" "\0\0\0\x20" "moov";
    struct lay_box_cur c;
    struct lay_box b;

    lay_box_init(&c, bad, sizeof(bad) - 1);
    CHECK_EQ_INT(lay_box_next(&c, &b, NULL), 1);
    CHECK_EQ_INT(lay_box_next(&c, &b, NULL), CV_ECORRUPT);
    CHECK_EQ_INT(lay_box_next(&c, &b, NULL), CV_ECORRUPT);
    CHECK_EQ_INT(lay_box_find(good, sizeof(good) - 1, "moov", &b), 1);
    CHECK_EQ_U64(b.len, 2);
    CHECK_EQ_MEM(b.body, "bc", 2);
    CHECK_EQ_INT(lay_box_find(good, sizeof(good) - 1, "mdat", &b), 0);
    CHECK_EQ_INT(lay_box_find(bad, sizeof(bad) - 1, "moov", &b), CV_ECORRUPT);
}

/* The file reader: the same checks with pread, at an offset and within a limit. */
void test_bmff_file(void)
{
    static const struct {
        const char *name;
        const char *bytes;
        size_t len;
        uint64_t off, limit; /* limit 0: the file's size */
        int rc;
        const char *type;
        uint64_t hsize, size;
        const char *error;
    } cases[] = {
        {"box", BYTES("\0\0\0\x0c" "ftyp" "abcd"), 0, 0, 1, "ftyp", 8, 12, NULL},
        {"box at an offset", BYTES("\0\0\0\x08" "ftyp" "\0\0\0\x0a" "moov" "ab"), 8, 0, 1, "moov",
         8, 10, NULL},
        {"largesize", BYTES("\0\0\0\x01" "mdat" "\0\0\0\0\0\0\0\x11" "x"), 0, 0, 1, "mdat", 16, 17,
         NULL},
        {"8 bytes, no more read", BYTES("\0\0\0\x08" "free"), 0, 0, 1, "free", 8, 8, NULL},
        {"size 0 is refused in a file", BYTES("\0\0\0\0" "mdat" "abcd"), 0, 0, 0, NULL, 0, 0,
         "box 'mdat' at offset 0: size 0 (to the end) is not allowed here"},
        {"at the end", BYTES("\0\0\0\x08" "free"), 8, 0, 0, NULL, 0, 0,
         "at offset 8: 0 bytes left, 8 needed"},
        {"off past the limit", BYTES("\0\0\0\x08" "free"), 9, 0, 0, NULL, 0, 0, "0 bytes left"},
        {"truncated header", BYTES("\0\0\0\x08" "fr"), 0, 0, 0, NULL, 0, 0,
         "6 bytes left, 8 needed"},
        {"truncated largesize", BYTES("\0\0\0\x01" "mdat" "\0\0\0\0\0\0"), 0, 0, 0, NULL, 0, 0,
         "14 bytes left, 16 needed"},
        {"size past the end", BYTES("\0\0\0\x10" "moof" "ab"), 0, 0, 0, NULL, 0, 0,
         "size 16 runs past the end (10 bytes left)"},
        {"size past the limit", BYTES("\0\0\0\x10" "moof" "abcdefgh"), 0, 12, 0, NULL, 0, 0,
         "size 16 runs past the end (12 bytes left)"},
        {"size smaller than its header", BYTES("\0\0\0\x07" "moof"), 0, 0, 0, NULL, 0, 0,
         "size 7 is smaller than its 8-byte header"},
        {"largesize near 2^64", BYTES("\0\0\0\x01" "mdat" "\xff\xff\xff\xff\xff\xff\xff\xff"), 0,
         0, 0, NULL, 0, 0, "runs past the end"},
        {"limit past the file's end", BYTES("\0\0\0\x08" "free"), 0, 100, CV_ECORRUPT, NULL, 0, 0,
         "file ends early"},
    };
    char dir[PATH_MAX], path[PATH_MAX + 16];
    struct lay_box_hdr h;
    struct cv_err err = {""};

    if (fx_tmpdir(dir) < 0)
        return;
    snprintf(path, sizeof(path), "%s/boxes", dir);
    for (size_t i = 0; i < NELEM(cases); i++) {
        int fd, rc;
        if (fx_write_file(path, cases[i].bytes, cases[i].len) < 0 ||
            (fd = open(path, O_RDONLY)) < 0) {
            unit_fail(__FILE__, __LINE__, "cannot write '%s'", path);
            break;
        }
        err.msg[0] = 0;
        memset(&h, 0, sizeof(h));
        rc = lay_box_read(fd, cases[i].off, cases[i].limit ? cases[i].limit : cases[i].len, &h,
                          &err);
        CHECK_MSG(rc == cases[i].rc, "%s: rc %d, want %d (%s)", cases[i].name, rc, cases[i].rc,
                  err.msg);
        if (rc == 1) {
            CHECK_MSG(cases[i].type && strcmp(h.type, cases[i].type) == 0 &&
                          h.off == cases[i].off && h.hsize == cases[i].hsize &&
                          h.size == cases[i].size,
                      "%s: got '%s' at %llu: %llu+%llu", cases[i].name, h.type,
                      (unsigned long long)h.off, (unsigned long long)h.hsize,
                      (unsigned long long)h.size);
        } else if (cases[i].error) {
            CHECK_MSG(strstr(err.msg, cases[i].error) != NULL, "%s: message '%s', want '%s'",
                      cases[i].name, err.msg, cases[i].error);
        }
        close(fd);
    }
    /* A read error is not "no box": it comes back as the read's code. */
    CHECK_EQ_INT(lay_box_read(-1, 0, 16, &h, &err), CV_EIO);
    fx_rmtree(dir);
}

/* lay_box_load: bounded, grows the buffer, reads the span. */
void test_bmff_load(void)
{
    char dir[PATH_MAX], path[PATH_MAX + 16];
    uint8_t *buf = NULL;
    size_t cap = 0;
    struct cv_err err = {""};
    int fd;

    if (fx_tmpdir(dir) < 0)
        return;
    snprintf(path, sizeof(path), "%s/boxes", dir);
    if (fx_write_file(path, "0123456789", 10) < 0 || (fd = open(path, O_RDONLY)) < 0) {
        unit_fail(__FILE__, __LINE__, "cannot write '%s'", path);
        fx_rmtree(dir);
        return;
    }
    CHECK_OK(lay_box_load(fd, 2, 4, &buf, &cap, &err), &err);
    CHECK(cap >= 4 && buf && memcmp(buf, "2345", 4) == 0);
    CHECK_OK(lay_box_load(fd, 0, 10, &buf, &cap, &err), &err);
    CHECK(cap >= 10 && buf && memcmp(buf, "0123456789", 10) == 0);
    CHECK_EQ_INT(lay_box_load(fd, 8, 4, &buf, &cap, &err), CV_ECORRUPT);
    CHECK_CONTAINS(err.msg, "file ends early");
    CHECK_EQ_INT(lay_box_load(fd, 0, (uint64_t)LAY_BOX_LOAD_MAX + 1, &buf, &cap, &err),
                 CV_ECORRUPT);
    CHECK_CONTAINS(err.msg, "box of 16777217 bytes at offset 0 is too large");
    CHECK(cap < LAY_BOX_LOAD_MAX); /* refused before allocating */
    free(buf);
    close(fd);
    fx_rmtree(dir);
}

/* The writer: nested boxes and a full box read back with the reader, byte for byte. */
void test_bmff_write(void)
{
    static const char want[] = "\0\0\0\x20" "moof" "\0\0\0\x10" "mfhd" "\x01\x02\x03\x04"
                               "\0\0\0\x07" "\0\0\0\x08" "traf";
    struct cv_buf b;
    size_t moof, mfhd, traf;
    struct lay_box box;

    cv_buf_init(&b, 1024);
    lay_box_begin(&b, "moof", &moof);
    lay_box_begin(&b, "mfhd", &mfhd);
    lay_box_full(&b, 1, 0xff020304); /* flags keep their low 24 bits */
    cv_buf_be32(&b, 7);
    lay_box_end(&b, mfhd);
    lay_box_begin(&b, "traf", &traf);
    lay_box_end(&b, traf);
    lay_box_end(&b, moof);
    CHECK(cv_buf_ok(&b));
    CHECK_EQ_U64(b.len, sizeof(want) - 1);
    if (b.len == sizeof(want) - 1)
        CHECK_EQ_MEM(b.data, want, sizeof(want) - 1);
    CHECK_EQ_INT(lay_box_find(b.data, b.len, "moof", &box), 1);
    CHECK_EQ_INT(lay_box_find(box.body, box.len, "traf", &box), 1);
    CHECK_EQ_U64(box.size, 8);
    cv_buf_release(&b);
}

/* The field after a full box's times: version 0 (32-bit times), version 1 (64-bit), too short. */
void test_bmff_u32_after_times(void)
{
    static const struct {
        const char *body; /* version, flags, times, the field */
        size_t len;
        int rc;
        uint32_t want;
    } cases[] = {
        {"\0\0\0\0" "\0\0\0\1" "\0\0\0\2" "\0\0\x03\xe8", 16, 0, 1000},
        {"\1\0\0\0" "\0\0\0\0\0\0\0\1" "\0\0\0\0\0\0\0\2" "\0\0\0\x07", 24, 0, 7},
        {"\1\0\0\0" "\0\0\0\0\0\0\0\1" "\0\0\0\0\0\0\0\2" "\0\0\0", 23, -1, 0},
        {"\0\0\0\0" "\0\0\0\1" "\0\0\0\2", 12, -1, 0},
        {"", 0, -1, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lay_box box = {.type = "mdhd"};
        uint32_t got = 0;
        box.body = (const uint8_t *)cases[i].body;
        box.len = cases[i].len;
        CHECK_MSG(lay_box_u32_after_times(&box, &got) == cases[i].rc, "case %zu: rc", i);
        if (cases[i].rc == 0)
            CHECK_MSG(got == cases[i].want, "case %zu: got %u, want %u", i, got, cases[i].want);
    }
}
