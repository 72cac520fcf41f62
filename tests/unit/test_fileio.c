/*
 * test_fileio.c: durable file helpers (common/fileio.h) and the configuration reader
 * (common/conf.h).
 *
 * Checked in a fresh directory under /tmp: an atomic write reads back byte for byte and leaves
 * no temporary file behind, reads honour their limit, mkdir -p refuses to walk through a file,
 * path joins never overflow, and a configuration file with a typo is refused with file:line.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/conf.h"
#include "common/fileio.h"
#include "tests/unit/fixtures.h"
#include "tests/unit/unit.h"
#include "common/banned.h"

/* cv_write_atomic of the string `text` to path, then cv_read_file (limit `max`) gives it back. */
static void write_read_back(const char *path, const char *text, size_t max)
{
    struct cv_err err = {""};
    char *got = NULL;
    size_t len = 0;

    CHECK_OK(cv_write_atomic(path, text, strlen(text), 0600, &err), &err);
    CHECK_OK(cv_read_file(path, max, &got, &len, &err), &err);
    CHECK_EQ_STR(got, text);
    CHECK_EQ_INT(len, strlen(text));
    free(got);
}

/* Number of entries in dir besides "." and "..", or -1. */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    if (!d)
        return -1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static bool is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

void test_fileio_atomic_round_trip(void)
{
    static const char data[] = "line one\nline two\0with a NUL";
    char dir[PATH_MAX], path[PATH_MAX];
    struct cv_err err = {""};
    char *text = NULL;
    size_t len = 0;
    struct stat st;

    if (fx_tmpdir(dir) < 0)
        return;
    snprintf(path, sizeof(path), "%s/state.json", dir);
    CHECK_OK(cv_write_atomic(path, data, sizeof(data), 0600, &err), &err);
    CHECK_OK(cv_read_file(path, 1024, &text, &len, &err), &err);
    CHECK_EQ_INT(len, sizeof(data));
    if (text) {
        CHECK_EQ_MEM(text, data, sizeof(data));
        CHECK(text[len] == '\0');
    }
    free(text);
    text = NULL;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);

    /* Replacing keeps exactly one file: the temporary is renamed away. */
    write_read_back(path, "v2", 1024);
    CHECK_EQ_INT(count_entries(dir), 1);

    /* An empty file reads as "". */
    write_read_back(path, "", 0);

    /* Into a directory that does not exist: an error naming the path, nothing left behind. */
    snprintf(path, sizeof(path), "%s/missing/state.json", dir);
    CHECK_EQ_INT(cv_write_atomic(path, "x", 1, 0600, &err), CV_ENOENT);
    CHECK_CONTAINS(err.msg, "missing/state.json");

    /* Reading a missing file. */
    CHECK_EQ_INT(cv_read_file(path, 10, &text, &len, &err), CV_ENOENT);
    CHECK(text == NULL);
    CHECK_CONTAINS(err.msg, path);
    fx_rmtree(dir);
}

void test_fileio_read_limit(void)
{
    char dir[PATH_MAX], path[PATH_MAX], data[100];
    struct cv_err err = {""};
    char *text = NULL;
    size_t len = 0;

    if (fx_tmpdir(dir) < 0)
        return;
    memset(data, 'q', sizeof(data));
    snprintf(path, sizeof(path), "%s/big", dir);
    CHECK_OK(cv_write_atomic(path, data, sizeof(data), 0644, &err), &err);
    CHECK_EQ_INT(cv_read_file(path, 99, &text, &len, &err), CV_ELIMIT);
    CHECK(text == NULL);
    CHECK_CONTAINS(err.msg, path);
    CHECK_CONTAINS(err.msg, "99 bytes");
    CHECK_OK(cv_read_file(path, 100, &text, &len, &err), &err);
    CHECK_EQ_INT(len, 100);
    free(text);
    fx_rmtree(dir);
}

void test_fileio_mkdir_p(void)
{
    char dir[PATH_MAX], path[PATH_MAX], file[PATH_MAX];
    struct cv_err err = {""};

    if (fx_tmpdir(dir) < 0)
        return;
    snprintf(path, sizeof(path), "%s/a/b/c/d", dir);
    CHECK_OK(cv_mkdir_p(path, 0755, &err), &err);
    CHECK(is_dir(path));
    /* Again: everything exists, still 0. */
    CHECK_OK(cv_mkdir_p(path, 0755, &err), &err);
    /* A trailing slash. */
    snprintf(path, sizeof(path), "%s/a/e/", dir);
    CHECK_OK(cv_mkdir_p(path, 0755, &err), &err);
    snprintf(path, sizeof(path), "%s/a/e", dir);
    CHECK(is_dir(path));

    /* The path is a file, or runs through one: an error naming it. */
    snprintf(file, sizeof(file), "%s/a/file", dir);
    CHECK_EQ_INT(fx_write_file(file, "x", 1), 0);
    err.msg[0] = '\0';
    CHECK_EQ_INT(cv_mkdir_p(file, 0755, &err), CV_EEXIST);
    CHECK_CONTAINS(err.msg, file);
    snprintf(path, sizeof(path), "%s/a/file/sub", dir);
    err.msg[0] = '\0';
    CHECK(cv_mkdir_p(path, 0755, &err) < 0);
    CHECK_CONTAINS(err.msg, file);
    CHECK(!is_dir(path));

    /* Empty path. */
    CHECK(cv_mkdir_p("", 0755, &err) < 0);
    fx_rmtree(dir);
}

void test_fileio_path_join(void)
{
    struct cv_err err = {""};
    char out[8];

    CHECK_OK(cv_path_join(out, sizeof(out), "abc", "def", &err), &err);
    CHECK_EQ_STR(out, "abc/def");
    CHECK_OK(cv_path_join(out, sizeof(out), "ab/", "def", &err), &err);
    CHECK_EQ_STR(out, "ab/def");
    CHECK_OK(cv_path_join(out, sizeof(out), "/", "x", &err), &err);
    CHECK_EQ_STR(out, "/x");
    /* "abc/defg" needs 9 bytes. */
    CHECK_EQ_INT(cv_path_join(out, sizeof(out), "abc", "defg", &err), CV_ELIMIT);
    CHECK_CONTAINS(err.msg, "too long");
    CHECK(memchr(out, '\0', sizeof(out)) != NULL);
    {
        char longname[PATH_MAX + 10], p[PATH_MAX];
        memset(longname, 'n', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        CHECK_EQ_INT(cv_path_join(p, sizeof(p), "/tmp", longname, NULL), CV_ELIMIT);
    }
}

/* ---- configuration ---- */

struct conf_seen {
    int n;
    char keys[8][32];
    char values[8][64];
};

/* Knows "retention_days", "listen", "volume.main" and "empty"; rejects "bad" values. */
static int conf_cb(void *ctx, const char *key, const char *value, struct cv_err *err)
{
    static const char *const known[] = {"retention_days", "listen", "volume.main", "empty"};
    struct conf_seen *s = ctx;
    bool ok = false;

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        ok |= strcmp(key, known[i]) == 0;
    if (!ok)
        return cv_errf(err, CV_EINVAL, "unknown key '%s'", key);
    if (strcmp(value, "bad") == 0)
        return cv_errf(err, CV_EINVAL, "bad value for '%s'", key);
    if (s->n < 8) {
        cv_strlcpy(s->keys[s->n], key, sizeof(s->keys[0]));
        cv_strlcpy(s->values[s->n], value, sizeof(s->values[0]));
        s->n++;
    }
    return 0;
}

void test_conf_load(void)
{
    static const char text[] = "# camvault settings\n"
                               "retention_days = 30\n"
                               "   listen=0.0.0.0:8080   # where the API listens\n"
                               "\n"
                               "\t# an indented comment\n"
                               "volume.main =  /data/main  \r\n"
                               "empty =\n"
                               "retention_days = 7"; /* no final newline; the last one wins */
    char dir[PATH_MAX], path[PATH_MAX];
    struct cv_err err = {""};
    struct conf_seen seen;

    if (fx_tmpdir(dir) < 0)
        return;
    snprintf(path, sizeof(path), "%s/camvault.conf", dir);
    CHECK_EQ_INT(fx_write_file(path, text, sizeof(text) - 1), 0);
    memset(&seen, 0, sizeof(seen));
    CHECK_OK(cv_conf_load(path, conf_cb, &seen, &err), &err);
    CHECK_EQ_INT(seen.n, 5);
    CHECK_EQ_STR(seen.keys[0], "retention_days");
    CHECK_EQ_STR(seen.values[0], "30");
    CHECK_EQ_STR(seen.keys[1], "listen");
    CHECK_EQ_STR(seen.values[1], "0.0.0.0:8080");
    CHECK_EQ_STR(seen.keys[2], "volume.main");
    CHECK_EQ_STR(seen.values[2], "/data/main");
    CHECK_EQ_STR(seen.keys[3], "empty");
    CHECK_EQ_STR(seen.values[3], "");
    CHECK_EQ_STR(seen.keys[4], "retention_days");
    CHECK_EQ_STR(seen.values[4], "7");

    /* A missing file is not an error and sets nothing. */
    snprintf(path, sizeof(path), "%s/none.conf", dir);
    memset(&seen, 0, sizeof(seen));
    CHECK_OK(cv_conf_load(path, conf_cb, &seen, &err), &err);
    CHECK_EQ_INT(seen.n, 0);
    fx_rmtree(dir);
}

void test_conf_errors(void)
{
    static const struct {
        const char *text;
        const char *want; /* the message after the path */
    } cases[] = {
        {"listen = :80\n# ok\nbogus = 1\n", ":3: unknown key 'bogus'"},
        {"retention_days 30\n", ":1: expected 'key = value'"},
        {"\n\nlisten = bad\n", ":3: bad value for 'listen'"},
        {"retention_days = 1\nRetention_days = 2\n", ":2: unknown key 'Retention_days'"},
    };
    char dir[PATH_MAX], path[PATH_MAX], want[PATH_MAX + 64];

    if (fx_tmpdir(dir) < 0)
        return;
    snprintf(path, sizeof(path), "%s/camvault.conf", dir);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct cv_err err = {""};
        struct conf_seen seen;
        memset(&seen, 0, sizeof(seen));
        CHECK_EQ_INT(fx_write_file(path, cases[i].text, strlen(cases[i].text)), 0);
        CHECK_EQ_INT(cv_conf_load(path, conf_cb, &seen, &err), CV_EINVAL);
        snprintf(want, sizeof(want), "%s%s", path, cases[i].want);
        CHECK_EQ_STR(err.msg, want);
    }
    fx_rmtree(dir);
}
