/*
 * cli/backup.c: camvault backup and restore.
 *
 * A backup is a directory holding everything of a data root that is not footage:
 *   camvault.conf (when there is one), keys/ (mode kept: 0700, private key 0600), ledger/
 *   (the checkpoint ledger), index/data.mdb (a compacted, consistent copy: idx_copy), and
 *   MANIFEST, written last:
 *     camvault backup 1
 *     root <the data root it came from>
 *     made <RFC 3339 UTC>
 *     file <sha256 hex> <bytes> <mode octal> <path>      one per file, paths below the backup
 * The ledger is copied before the index, so the copy keeps the ledger's rule (it may lag the
 * index, never lead it). Footage stays on its volumes; exports/, tmp/ and quarantine/ are not
 * copied (an export is a product with its own hashes, the others are transient).
 *
 * restore checks every file against MANIFEST (and that nothing else is there), refuses any root
 * that already has an index (a live one names the process holding it), copies the files into
 * the new root, links the footage volumes into it (--volumes DIR: each DIR/<name> becomes
 * ROOT/volumes/<name>; volumes of the index that live elsewhere are linked to their recorded
 * path), drops the index's notes of files being written (their recorder is not this one) and
 * audits the restore. `camvault fsck` then lists the footage recorded after the backup and
 * `camvault fsck --repair` indexes it (indexer/fsck.h). Contracts in cli/cli.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cvtime.h"
#include "common/fileio.h"
#include "indexer/idx.h"
#include "storage-layout/segfile.h"

#include "cli/cli.h"
#include "common/banned.h"

#define MANIFEST "MANIFEST"
#define MANIFEST_MAX (1u << 20)
#define COPY_CHUNK (1u << 16)

/* What a backup holds besides the index, in copy order (the ledger before the index). */
static const char *const parts[] = {"camvault.conf", "keys", "ledger"};

/* ---- copying ---- */

/* Copy file src to dst (created O_EXCL with `mode`, fsynced); hash it on the way. */
static int copy_file(const char *src, const char *dst, mode_t mode, uint8_t sha[32],
                     uint64_t *bytes, struct cv_err *err)
{
    char buf[COPY_CHUNK];
    int in = open(src, O_RDONLY | O_CLOEXEC), out = -1, rc = 0;
    ssize_t n;

    *bytes = 0;
    if (in < 0)
        return cv_errf(err, CV_EIO, "cannot read '%s': %s", src, strerror(errno));
    if ((out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode & 07777)) < 0) {
        rc = cv_errf(err, CV_EIO, "cannot create '%s': %s", dst, strerror(errno));
        goto out;
    }
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        if (cv_write_all(out, buf, (size_t)n) < 0) {
            rc = cv_errf(err, CV_EIO, "cannot write '%s': %s", dst, strerror(errno));
            goto out;
        }
        *bytes += (uint64_t)n;
    }
    if (n < 0 || fchmod(out, mode & 07777) < 0 || fsync(out) < 0) {
        rc = cv_errf(err, CV_EIO, "cannot copy '%s' to '%s': %s", src, dst, strerror(errno));
        goto out;
    }
    rc = sha ? lay_sha256_fd(in, *bytes, sha, err) : 0;
out:
    if (out >= 0)
        close(out);
    close(in);
    return rc;
}

/* The manifest line of one copied file. */
static void manifest_line(struct cv_buf *m, const uint8_t sha[32], uint64_t bytes, mode_t mode,
                          const char *rel)
{
    char hex[65];

    cv_hex(sha, 32, hex);
    cv_buf_printf(m, "file %s %llu %04o %s\n", hex, (unsigned long long)bytes,
                  (unsigned)(mode & 07777), rel);
}

/*
 * Copy ROOT/<rel> (a file or a directory tree of regular files) into OUT/<rel>, adding a
 * manifest line per file. A part that does not exist is skipped; anything but files and
 * directories is an error (a backup must not silently leave something out).
 */
static int copy_part(const char *root, const char *out, const char *rel, struct cv_buf *m,
                     struct cv_err *err)
{
    char src[PATH_MAX], dst[PATH_MAX], sub[PATH_MAX];
    struct stat st;
    struct dirent *e;
    uint8_t sha[32];
    uint64_t bytes;
    DIR *d;
    int rc;

    if (cv_path_join(src, sizeof(src), root, rel, err) < 0 ||
        cv_path_join(dst, sizeof(dst), out, rel, err) < 0)
        return CV_ELIMIT;
    if (lstat(src, &st) < 0)
        return errno == ENOENT ? 0
                               : cv_errf(err, CV_EIO, "cannot stat '%s': %s", src, strerror(errno));
    if (S_ISREG(st.st_mode)) {
        rc = copy_file(src, dst, st.st_mode, sha, &bytes, err);
        if (rc == 0)
            manifest_line(m, sha, bytes, st.st_mode, rel);
        return rc;
    }
    if (!S_ISDIR(st.st_mode))
        return cv_errf(err, CV_EINVAL, "'%s' is neither a file nor a directory", src);
    if (mkdir(dst, st.st_mode & 07777) < 0 || chmod(dst, st.st_mode & 07777) < 0)
        return cv_errf(err, CV_EIO, "cannot create '%s': %s", dst, strerror(errno));
    if (!(d = opendir(src)))
        return cv_errf(err, CV_EIO, "cannot read directory '%s': %s", src, strerror(errno));
    rc = 0;
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        rc = cv_path_join(sub, sizeof(sub), rel, e->d_name, err);
        if (rc == 0)
            rc = copy_part(root, out, sub, m, err);
    }
    if (rc == 0 && errno)
        rc = cv_errf(err, CV_EIO, "cannot read directory '%s': %s", src, strerror(errno));
    closedir(d);
    return rc == 0 ? cv_fsync_dir(dst, err) : rc;
}

/* ---- backup ---- */

/* dir must not exist (it is made with `mode`) or be an empty directory. */
static int make_empty_dir(const char *what, const char *dir, mode_t mode, struct cv_err *err)
{
    DIR *d;
    struct dirent *e;
    bool empty = true;

    if (mkdir(dir, mode) == 0)
        return cv_fsync_parent(dir, err);
    if (errno != EEXIST || !(d = opendir(dir)))
        return cv_errf(err, CV_EIO, "%s '%s': cannot create it: %s", what, dir,
                       strerror(errno == EEXIST ? ENOTDIR : errno));
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty ? 0 : cv_errf(err, CV_EEXIST, "%s '%s' is not empty", what, dir);
}

int cli_cmd_backup(int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = "backup"};
    const char *out = NULL;
    const struct cli_opt opts[] = {{"--out", true, &out, NULL}, {NULL, false, NULL, NULL}};
    char root[PATH_MAX], dir[PATH_MAX], made[40], path[PATH_MAX];
    struct idx *idx = NULL;
    struct cv_err err = {""};
    struct cv_buf m;
    uint8_t sha[32];
    uint64_t bytes;
    int rc;

    if (cli_parse(&cl, argc, argv, opts, 0, false))
        return EXIT_USAGE;
    if (!out)
        return cli_usage_error(cl.cmd, "needs --out DIR (a new or empty directory)");
    cv_buf_init(&m, MANIFEST_MAX);
    cv_time_format_utc(cv_now_us(), made, sizeof(made), 6);
    rc = cli_resolve_root(&cl, root, &err);
    if (rc == 0)
        rc = lay_root_check(root, &err);
    if (rc == 0)
        rc = make_empty_dir("backup directory", out, 0700, &err);
    for (size_t i = 0; rc == 0 && i < sizeof(parts) / sizeof(parts[0]); i++)
        rc = copy_part(root, out, parts[i], &m, &err);
    /* The index last: it is as new as the ledger or newer (the ledger may lag, never lead). */
    if (rc == 0)
        rc = idx_open(&idx, root, IDX_RDONLY, &err);
    if (rc == 0)
        rc = cv_path_join(dir, sizeof(dir), out, "index", &err);
    if (rc == 0 && mkdir(dir, 0700) < 0)
        rc = cv_errf(&err, CV_EIO, "cannot create '%s': %s", dir, strerror(errno));
    if (rc == 0)
        rc = idx_copy(idx, dir, &err);
    idx_close(idx);
    if (rc == 0)
        rc = cv_path_join(path, sizeof(path), dir, "data.mdb", &err);
    if (rc == 0) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        rc = fd < 0 || fstat(fd, &st) < 0
                 ? cv_errf(&err, CV_EIO, "cannot read '%s': %s", path, strerror(errno))
                 : lay_sha256_fd(fd, (uint64_t)st.st_size, sha, &err);
        bytes = fd >= 0 ? (uint64_t)st.st_size : 0;
        if (fd >= 0)
            close(fd);
        if (rc == 0)
            manifest_line(&m, sha, bytes, 0600, "index/data.mdb");
    }
    if (rc == 0) {
        struct cv_buf head;
        cv_buf_init(&head, MANIFEST_MAX);
        cv_buf_printf(&head, "camvault backup 1\nroot %s\nmade %s\n%.*s", root, made, (int)m.len,
                      m.data ? (const char *)m.data : "");
        rc = cv_buf_ok(&head) && cv_buf_ok(&m)
                 ? cv_path_join(path, sizeof(path), out, MANIFEST, &err)
                 : cv_errf(&err, CV_ELIMIT, "backup manifest too large");
        if (rc == 0)
            rc = cv_write_atomic(path, head.data, head.len, 0600, &err);
        cv_buf_release(&head);
    }
    cv_buf_release(&m);
    if (rc < 0)
        return cli_fail(&err);
    printf("backup of %s at %s in %s (index, keys, conf, ledger; footage stays on its "
           "volumes)\n",
           root, made, out);
    return 0;
}

/* ---- restore ---- */

struct mfile {
    char path[PATH_MAX];
    uint8_t sha[32];
    uint64_t bytes;
    unsigned mode;
};

/* Every file under DIR/<rel> other than MANIFEST must be one of m[0..n). */
static int unlisted(const char *dir, const char *rel, const struct mfile *m, size_t n,
                    struct cv_err *err)
{
    char abs[PATH_MAX], sub[PATH_MAX];
    struct dirent *e;
    DIR *d;
    int rc = 0;

    if (cv_path_join(abs, sizeof(abs), dir, rel, err) < 0)
        return CV_ELIMIT;
    if (!(d = opendir(abs)))
        return cv_errf(err, CV_EIO, "backup '%s': cannot read '%s': %s", dir, abs, strerror(errno));
    while (rc == 0 && (e = readdir(d))) {
        struct stat st;
        size_t i;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
            (!rel[0] && !strcmp(e->d_name, MANIFEST)))
            continue;
        if (snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name) >=
                (int)sizeof(sub) ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            rc = cv_errf(err, CV_EIO, "backup '%s': cannot check '%s'", dir, e->d_name);
        else if (S_ISDIR(st.st_mode))
            rc = unlisted(dir, sub, m, n, err);
        else {
            for (i = 0; i < n && strcmp(m[i].path, sub) != 0; i++)
                ;
            if (i == n)
                rc =
                    cv_errf(err, CV_ECORRUPT, "backup '%s': '%s' is not in its MANIFEST", dir, sub);
        }
    }
    closedir(d);
    return rc;
}

/* One file of backup `dir` against its manifest line: present, same size, same SHA-256. */
static int check_file(const char *dir, const struct mfile *f, struct cv_err *err)
{
    char path[PATH_MAX];
    uint8_t sha[32];
    struct stat st;
    int fd, rc;

    if (cv_path_join(path, sizeof(path), dir, f->path, err) < 0)
        return CV_ELIMIT;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        return cv_errf(err, CV_ECORRUPT, "backup '%s': '%s' is missing: %s", dir, f->path,
                       strerror(errno));
    if (fstat(fd, &st) < 0)
        rc = cv_errf(err, CV_EIO, "backup '%s': cannot stat '%s': %s", dir, f->path,
                     strerror(errno));
    else if ((uint64_t)st.st_size != f->bytes)
        rc = cv_errf(err, CV_ECORRUPT, "backup '%s': '%s' has %llu bytes, its MANIFEST says %llu",
                     dir, f->path, (unsigned long long)st.st_size, (unsigned long long)f->bytes);
    else
        rc = lay_sha256_fd(fd, f->bytes, sha, err);
    if (rc == 0 && memcmp(sha, f->sha, 32) != 0)
        rc = cv_errf(err, CV_ECORRUPT,
                     "backup '%s': '%s' does not match its MANIFEST (SHA-256 differs)", dir,
                     f->path);
    close(fd);
    return rc;
}

/* Parse DIR/MANIFEST into *files (malloc'd) and check every file's size and SHA-256. */
static int check_backup(const char *dir, char *source, size_t srclen, struct mfile **files,
                        size_t *n, struct cv_err *err)
{
    char path[PATH_MAX];
    char *text = NULL, *line, *next;
    size_t len = 0, cap = 0;
    int rc = cv_path_join(path, sizeof(path), dir, MANIFEST, err);

    *files = NULL;
    *n = 0;
    if (rc == 0 && cv_read_file(path, MANIFEST_MAX, &text, &len, err) < 0)
        rc = cv_errwrap(err, CV_ENOENT, "'%s' is not a camvault backup", dir);
    if (rc == 0 && strncmp(text, "camvault backup 1\n", 18) != 0)
        rc = cv_errf(err, CV_ECORRUPT, "'%s' is not a camvault backup (%s line 1)", dir, MANIFEST);
    for (line = text ? text + 18 : NULL; rc == 0 && line && *line; line = next) {
        char hex[65], rel[PATH_MAX];
        unsigned long long bytes;
        unsigned mode;
        next = strchr(line, '\n');
        if (!next) {
            rc = cv_errf(err, CV_ECORRUPT, "backup '%s': %s ends in a cut line", dir, MANIFEST);
            break;
        }
        *next++ = 0;
        if (strncmp(line, "root ", 5) == 0) {
            cv_strlcpy(source, line + 5, srclen);
            continue;
        }
        if (strncmp(line, "made ", 5) == 0)
            continue;
        if (sscanf(line, "file %64s %llu %o %4095s", hex, &bytes, &mode, rel) != 4 ||
            strstr(rel, "..") || rel[0] == '/') {
            rc = cv_errf(err, CV_ECORRUPT, "backup '%s': %s: malformed line '%.60s'", dir, MANIFEST,
                         line);
            break;
        }
        if (*n == cap) {
            size_t nc = cap ? cap * 2 : 32;
            struct mfile *nf = realloc(*files, nc * sizeof(*nf));
            if (!nf) {
                rc = cv_errf(err, CV_ENOMEM, "out of memory");
                break;
            }
            *files = nf;
            cap = nc;
        }
        struct mfile *f = &(*files)[(*n)++];
        cv_strlcpy(f->path, rel, sizeof(f->path));
        f->bytes = bytes;
        f->mode = mode;
        if (cv_unhex(hex, f->sha, 32) < 0)
            rc =
                cv_errf(err, CV_ECORRUPT, "backup '%s': %s: bad hash for '%s'", dir, MANIFEST, rel);
    }
    for (size_t i = 0; rc == 0 && i < *n; i++)
        rc = check_file(dir, &(*files)[i], err);
    if (rc == 0)
        rc = unlisted(dir, "", *files, *n, err);
    for (size_t i = 0; rc == 0 && i < *n; i++)
        if (strcmp((*files)[i].path, "index/data.mdb") == 0)
            break;
        else if (i + 1 == *n)
            rc = cv_errf(err, CV_ECORRUPT, "backup '%s': its MANIFEST lists no index", dir);
    free(text);
    return rc;
}

/* The new root: absent, or an empty directory; never one with an index (live or not). */
static int check_new_root(const char *root, struct cv_err *err)
{
    char dir[PATH_MAX];
    struct stat st;
    int pid = 0;

    if (lay_dir(root, "index", dir, sizeof(dir), err) < 0)
        return CV_ELIMIT;
    if (idx_in_use(root, &pid))
        return cv_errf(err, CV_ESTATE,
                       "data root '%s' is live (its index is open in process %d): restore only "
                       "into a new root",
                       root, pid);
    if (stat(dir, &st) == 0)
        return cv_errf(err, CV_EEXIST,
                       "data root '%s' already has an index: restore only into a new root", root);
    return make_empty_dir("data root", root, 0755, err);
}

/* Make ROOT/volumes/<name> a link to target (replacing the empty directory init made). */
static int link_volume(const char *root, const char *name, const char *target, struct cv_err *err)
{
    char rel[PATH_MAX], link[PATH_MAX], real[PATH_MAX];

    if (!realpath(target, real))
        return cv_errf(err, CV_ENOENT, "volume '%s': '%s' is not there: %s", name, target,
                       strerror(errno));
    if (snprintf(rel, sizeof(rel), "volumes/%s", name) >= (int)sizeof(rel) ||
        lay_abs(root, rel, link, sizeof(link), err) < 0)
        return cv_errf(err, CV_ELIMIT, "volume '%s': path too long", name);
    if (rmdir(link) < 0 && errno != ENOENT)
        return cv_errf(err, CV_EIO, "cannot replace '%s': %s", link, strerror(errno));
    if (symlink(real, link) < 0)
        return cv_errf(err, CV_EIO, "cannot link '%s' to '%s': %s", link, real, strerror(errno));
    return cv_fsync_parent(link, err);
}

/* --volumes DIR: each directory DIR/<name> becomes ROOT/volumes/<name>. */
static int link_volumes_from(const char *root, const char *vdir, struct cv_err *err)
{
    char target[PATH_MAX];
    struct dirent *e;
    DIR *d = opendir(vdir);
    int rc = 0;

    if (!d)
        return cv_errf(err, CV_ENOENT, "--volumes '%s': %s", vdir, strerror(errno));
    while (rc == 0 && (e = readdir(d))) {
        struct stat st;
        if (e->d_name[0] == '.' || lay_id_check("volume", e->d_name, NULL) < 0)
            continue;
        if (cv_path_join(target, sizeof(target), vdir, e->d_name, err) < 0)
            rc = CV_ELIMIT;
        else if (stat(target, &st) == 0 && S_ISDIR(st.st_mode))
            rc = link_volume(root, e->d_name, target, err);
    }
    closedir(d);
    return rc;
}

struct restore_ctx {
    const char *root, *from, *made_by;
};

/* In the restored index: link volumes kept elsewhere, drop the notes of files being written
 * (the recorder that wrote them is gone; fsck indexes the files), and audit the restore. */
static int restore_txn(struct idx_txn *t, void *ctx, struct cv_err *err)
{
    const struct restore_ctx *rc = ctx;
    struct idx_camera *cams = NULL;
    struct idx_volume *v = NULL;
    size_t nc = 0, nv = 0;
    char detail[IDX_TEXT_MAX];
    int r = idx_camera_list(t, &cams, &nc, err);

    for (size_t i = 0; r == 0 && i < nc; i++)
        if ((r = idx_pending_del(t, cams[i].num, err)) == CV_ENOENT)
            r = 0;
    if (r == 0)
        r = idx_volume_list(t, &v, &nv, err);
    for (size_t i = 0; r == 0 && i < nv; i++) {
        char rel[PATH_MAX], link[PATH_MAX];
        struct stat st;
        snprintf(rel, sizeof(rel), "volumes/%s", v[i].name);
        if (v[i].path[0] && lay_abs(rc->root, rel, link, sizeof(link), NULL) == 0 &&
            lstat(link, &st) < 0)
            r = link_volume(rc->root, v[i].name, v[i].path, err);
    }
    snprintf(detail, sizeof(detail), "from backup %s of %s", rc->from, rc->made_by);
    if (r == 0)
        r = cli_audit(t, "restore", rc->root, NULL, detail, err);
    free(cams);
    free(v);
    return r;
}

int cli_cmd_restore(int argc, char **argv)
{
    struct cli_cmdline cl = {.cmd = "restore"};
    const char *vols = NULL;
    const struct cli_opt opts[] = {{"--volumes", true, &vols, NULL}, {NULL, false, NULL, NULL}};
    char root[PATH_MAX], src[PATH_MAX], dst[PATH_MAX], source[PATH_MAX] = "?";
    struct mfile *files = NULL;
    struct cv_err err = {""};
    size_t n = 0;
    int rc;

    if (cli_parse_one(&cl, argc, argv, opts, false,
                      "needs the backup directory: restore DIR [--root NEW]"))
        return EXIT_USAGE;
    rc = cli_resolve_root(&cl, root, &err);
    if (rc == 0)
        rc = check_backup(cl.pos[0], source, sizeof(source), &files, &n, &err);
    if (rc == 0)
        rc = check_new_root(root, &err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        uint8_t sha[32];
        uint64_t bytes;
        char *slash;
        rc = cv_path_join(src, sizeof(src), cl.pos[0], files[i].path, &err);
        if (rc == 0)
            rc = cv_path_join(dst, sizeof(dst), root, files[i].path, &err);
        if (rc == 0 && (slash = strrchr(dst, '/'))) {
            *slash = 0;
            rc = cv_mkdir_p(dst, strncmp(files[i].path, "keys/", 5) == 0 ? 0700 : 0755, &err);
            *slash = '/';
        }
        if (rc == 0)
            rc = copy_file(src, dst, files[i].mode, sha, &bytes, &err);
        if (rc == 0 && memcmp(sha, files[i].sha, 32) != 0)
            rc = cv_errf(&err, CV_EIO, "'%s' changed while it was restored", src);
        if (rc == 0)
            rc = cv_fsync_parent(dst, &err);
    }
    free(files);
    if (rc == 0)
        rc = lay_root_create(root, &err);
    if (rc == 0 && vols)
        rc = link_volumes_from(root, vols, &err);
    if (rc == 0) {
        struct restore_ctx ctx = {root, cl.pos[0], source};
        cl.root = root;
        rc = cli_with_index(&cl, restore_txn, &ctx, &err);
    }
    if (rc < 0)
        return cli_fail(&err);
    printf("restored the backup of %s into %s. Footage recorded after the backup is on the "
           "volumes but not in this index: 'camvault fsck' lists it, 'camvault fsck --repair' "
           "indexes it.\n",
           source, root);
    return 0;
}
