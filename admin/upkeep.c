/* upkeep.c: mkv-upkeep, the cron job of the Berkeley DB index:
 *
 *     mkv-upkeep checkpoint    force a checkpoint, then remove the log files
 *                              no longer needed; reports what went and stayed
 *     mkv-upkeep backup DIR    hot backup of the environment into DIR (new or
 *                              empty) while workers keep writing, then
 *                              catastrophic recovery of the copy and a count
 *                              of its records
 *     mkv-upkeep compact       fills the records file's pages and gives the
 *                              free ones back (weekly from cron: writes leave
 *                              pages about two-thirds full)
 *     mkv-upkeep upgrade       converts an index of mkv 0.1 (text records in
 *                              index.db) to the current format, once
 *
 * Both join the environment the workers use (index_open), so they are safe
 * while workers serve.  The backup is DB_ENV->backup(): database files first,
 * then every log file, as the hot backup procedure requires.  The copy is then
 * recovered in a private environment (no region files left in DIR), which
 * proves it opens and makes it a consistent, self-contained index: point
 * `db` at it to serve from it.
 *
 * A backup and a log removal must not overlap (the backup lists the log files,
 * then copies them): both take an flock on <db>/upkeep.lock, the backup
 * waiting for it, the checkpoint skipping the removal when it is held. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "exitcodes.h"
#include "index.h"
#include "keys.h"
#include "log.h"

#define LOCK_FILE "upkeep.lock"

struct logstat {
    long files;
    long long bytes;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: mkv-upkeep [-c FILE] [--name=value ...] checkpoint | compact | upgrade\n"
            "       mkv-upkeep [-c FILE] [--name=value ...] backup DIR\n\n"
            "checkpoint  force a checkpoint of the index and remove the log files\n"
            "            no longer needed (run it every few minutes from cron)\n"
            "backup DIR  hot backup of the index into DIR (absent or empty) while\n"
            "            workers write; the copy is recovered and its records counted\n"
            "compact     fill the index's pages and give free ones back (weekly)\n"
            "upgrade     convert an index of mkv 0.1 (index.db) to the current format\n\n"
            "%s\n",
            MKV_EXIT_HELP);
    config_usage("mkv-upkeep");
}

/* The tool keeps an index, it never creates one: a typo in `db` must not
 * produce a fresh empty index and an empty backup. */
static int has_file(const char *home, const char *name)
{
    char path[PATH_MAX];
    struct stat sb;
    int n = snprintf(path, sizeof(path), "%s/%s", home, name);

    return n > 0 && (size_t)n < sizeof(path) && stat(path, &sb) == 0;
}

static int index_present(const char *home)
{
    if (has_file(home, "records.db") || has_file(home, "index.db"))
        return 0;
    fprintf(stderr, "mkv-upkeep: no index at %s (neither records.db nor index.db)\n", home);
    return -1;
}

/* Takes the upkeep lock of the index in home, waiting for it or not.
 * Returns 0 with *fd holding it, 1 if it is held elsewhere (only when not
 * waiting), or -1. */
static int upkeep_lock(const char *home, int wait, int *fd)
{
    char path[PATH_MAX];
    int n = snprintf(path, sizeof(path), "%s/" LOCK_FILE, home);

    *fd = -1;
    if (n < 0 || (size_t)n >= sizeof(path)) {
        fprintf(stderr, "mkv-upkeep: index path too long\n");
        return -1;
    }
    if ((*fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
        fprintf(stderr, "mkv-upkeep: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (flock(*fd, LOCK_EX | (wait ? 0 : LOCK_NB)) != 0) {
        if (errno == EINTR)
            continue;
        if (errno == EWOULDBLOCK && !wait)
            return 1;
        fprintf(stderr, "mkv-upkeep: locking %s: %s\n", path, strerror(errno));
        close(*fd);
        *fd = -1;
        return -1;
    }
    return 0;
}

/* Sums the sizes of the files of a log_archive list (NULL: none).  A file
 * that vanished in between is not counted. */
static void sum_files(char **list, struct logstat *st)
{
    struct stat sb;

    st->files = 0;
    st->bytes = 0;
    for (char **p = list; p && *p; p++)
        if (stat(*p, &sb) == 0) {
            st->files++;
            st->bytes += (long long)sb.st_size;
        }
}

static int archive_list(DB_ENV *env, u_int32_t flags, char ***list)
{
    int ret = env->log_archive(env, list, flags | DB_ARCH_ABS);

    if (ret != 0) {
        fprintf(stderr, "mkv-upkeep: log_archive: %s\n", db_strerror(ret));
        return -1;
    }
    return 0;
}

static int force_checkpoint(DB_ENV *env)
{
    int ret = env->txn_checkpoint(env, 0, 0, DB_FORCE);

    if (ret != 0) {
        fprintf(stderr, "mkv-upkeep: checkpoint: %s\n", db_strerror(ret));
        return -1;
    }
    return 0;
}

/* Forces a checkpoint; then, if may_remove, removes the log files no longer
 * needed.  Prints what was removed and what remains. */
static int do_checkpoint(struct mkv_index *ix, int may_remove)
{
    DB_ENV *env = ix->env;
    char **unused = NULL, **all = NULL;
    struct logstat before = {0, 0}, after = {0, 0}, left;
    int ret, rc = 1;

    if (force_checkpoint(env) < 0)
        goto cleanup;
    if (may_remove) {
        if (archive_list(env, 0, &unused) < 0)
            goto cleanup;
        sum_files(unused, &before);
        if ((ret = env->log_archive(env, NULL, DB_ARCH_REMOVE)) != 0) {
            fprintf(stderr, "mkv-upkeep: removing log files: %s\n", db_strerror(ret));
            goto cleanup;
        }
        sum_files(unused, &after); /* normally none is left */
    }
    if (archive_list(env, DB_ARCH_LOG, &all) < 0)
        goto cleanup;
    sum_files(all, &left);
    if (may_remove)
        printf("checkpoint: removed %ld log files (%lld bytes); %ld remain (%lld bytes)\n",
               before.files - after.files, before.bytes - after.bytes, left.files, left.bytes);
    else
        printf("checkpoint: log removal skipped, a backup is running; %ld log files (%lld "
               "bytes)\n",
               left.files, left.bytes);
    rc = fflush(stdout) == 0 ? 0 : 1;

cleanup:
    free(unused);
    free(all);
    return rc;
}

/* DIR must be absent (it is created) or an empty directory: a backup never
 * mixes with or replaces other files. */
static int prepare_target(const char *dir)
{
    struct dirent *de;
    DIR *d;
    int entries = 0;

    if (mkdir(dir, 0700) == 0)
        return 0;
    if (errno != EEXIST) {
        fprintf(stderr, "mkv-upkeep: cannot create %s: %s\n", dir, strerror(errno));
        return -1;
    }
    if (!(d = opendir(dir))) {
        fprintf(stderr, "mkv-upkeep: %s: %s\n", dir, strerror(errno));
        return -1;
    }
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            entries++;
    closedir(d);
    if (entries > 0) {
        fprintf(stderr, "mkv-upkeep: %s is not empty; back up into a new directory\n", dir);
        return -1;
    }
    return 0;
}

static int hot_backup(struct mkv_index *ix, const char *dir)
{
    DB_ENV *env = ix->env;
    int ret, rc = -1;

    /* The documented procedure sets this around the copy (it matters for
     * bulk-loading transactions, which we do not use, but costs nothing). */
    if ((ret = env->set_flags(env, DB_HOTBACKUP_IN_PROGRESS, 1)) != 0) {
        fprintf(stderr, "mkv-upkeep: set DB_HOTBACKUP_IN_PROGRESS: %s\n", db_strerror(ret));
        return -1;
    }
    /* A fresh checkpoint keeps the recovery of the copy short. */
    if (force_checkpoint(env) < 0)
        goto cleanup;
    if ((ret = env->backup(env, dir, DB_EXCL)) != 0) {
        fprintf(stderr, "mkv-upkeep: backup into %s: %s (it may hold a partial copy)\n", dir,
                db_strerror(ret));
        goto cleanup;
    }
    rc = 0;

cleanup:
    if ((ret = env->set_flags(env, DB_HOTBACKUP_IN_PROGRESS, 0)) != 0) {
        fprintf(stderr, "mkv-upkeep: clear DB_HOTBACKUP_IN_PROGRESS: %s\n", db_strerror(ret));
        rc = -1;
    }
    return rc;
}

static void copy_errcall(const DB_ENV *env, const char *pfx, const char *msg)
{
    (void)env;
    (void)pfx;
    fprintf(stderr, "mkv-upkeep: backup copy: %s\n", msg);
}

/* Runs catastrophic recovery on the copy in dir (as db_hotbackup does), in
 * a private environment, counts its records and drops the log files the
 * recovered copy no longer needs.  Returns the count, or -1. */
static long recover_copy(const char *dir, int cache_mb)
{
    const u_int32_t flags = DB_CREATE | DB_INIT_TXN | DB_INIT_LOCK | DB_INIT_LOG | DB_INIT_MPOOL |
                            DB_PRIVATE | DB_RECOVER_FATAL;
    DB_ENV *env = NULL;
    DB *db = NULL;
    DB_BTREE_STAT *st = NULL;
    const char *step = "db_env_create";
    long n = -1;
    int ret;

    if ((ret = db_env_create(&env, 0)) != 0)
        goto cleanup;
    env->set_errcall(env, copy_errcall);
    step = "cache size";
    if ((ret = env->set_cachesize(env, (u_int32_t)(cache_mb / 1024),
                                  (u_int32_t)(cache_mb % 1024) * 1024u * 1024u, 1)) != 0)
        goto cleanup;
    step = "recovery (DB_ENV->open with DB_RECOVER_FATAL)";
    if ((ret = env->open(env, dir, flags, 0600)) != 0)
        goto cleanup;
    step = "opening the records";
    if ((ret = index_records_open(env, &db)) != 0)
        goto cleanup;
    step = "counting records";
    if ((ret = db->stat(db, NULL, &st, 0)) != 0)
        goto cleanup;
    n = (long)st->bt_ndata;
    step = "removing unneeded log files of the copy";
    if ((ret = env->txn_checkpoint(env, 0, 0, DB_FORCE)) != 0 ||
        (ret = env->log_archive(env, NULL, DB_ARCH_REMOVE)) != 0)
        n = -1;

cleanup:
    if (n < 0)
        fprintf(stderr, "mkv-upkeep: backup copy in %s: %s: %s\n", dir, step, db_strerror(ret));
    free(st);
    if (db && (ret = db->close(db, 0)) != 0 && n >= 0) {
        fprintf(stderr, "mkv-upkeep: backup copy: closing index.db: %s\n", db_strerror(ret));
        n = -1;
    }
    if (env && (ret = env->close(env, 0)) != 0 && n >= 0) {
        fprintf(stderr, "mkv-upkeep: backup copy: closing: %s\n", db_strerror(ret));
        n = -1;
    }
    return n;
}

/* Files and bytes now in dir (not recursive: the copy is one directory). */
static void dir_size(const char *dir, struct logstat *st)
{
    char path[PATH_MAX];
    struct dirent *de;
    struct stat sb;
    DIR *d = opendir(dir);

    st->files = 0;
    st->bytes = 0;
    if (!d)
        return;
    while ((de = readdir(d))) {
        int n = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (n < 0 || (size_t)n >= sizeof(path) || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        st->files++;
        st->bytes += (long long)sb.st_size;
    }
    closedir(d);
}

static int do_backup(struct mkv_index *ix, const char *dir, int cache_mb)
{
    struct logstat st;
    long n;
    int rc;

    if (prepare_target(dir) < 0) {
        index_close(ix);
        return 1;
    }
    rc = hot_backup(ix, dir);
    index_close(ix);
    if (rc < 0)
        return 1;
    if ((n = recover_copy(dir, cache_mb)) < 0)
        return 1;
    dir_size(dir, &st);
    printf("backup: %s: %ld records, %ld files (%lld bytes), recovered and verified\n", dir, n,
           st.files, st.bytes);
    return fflush(stdout) == 0 ? 0 : 1;
}

static long long file_size(const char *home, const char *name)
{
    char path[PATH_MAX];
    struct stat sb;
    int n = snprintf(path, sizeof(path), "%s/%s", home, name);

    return n > 0 && (size_t)n < sizeof(path) && stat(path, &sb) == 0 ? (long long)sb.st_size : -1;
}

static int do_compact(struct mkv_index *ix, const char *home)
{
    long long before = file_size(home, "records.db");
    unsigned long freed;

    if (index_compact(ix, &freed) != MKV_OK) {
        fprintf(stderr, "mkv-upkeep: compact failed (see the log)\n");
        return 1;
    }
    printf("compact: records.db %lld -> %lld bytes (%lu pages given back)\n", before,
           file_size(home, "records.db"), freed);
    return fflush(stdout) == 0 ? 0 : 1;
}

static void report_skipped(void *arg, const char *key, size_t klen, const char *why)
{
    char shown[3 * 200 + 1];

    (void)arg;
    if (escape_nonprint(key, klen < 200 ? klen : 200, shown, sizeof(shown)) < 0)
        shown[0] = '\0';
    fprintf(stderr, "mkv-upkeep: upgrade: left out key %s%s: %s (it stays in index-v0.db)\n", shown,
            klen > 200 ? "..." : "", why);
}

static int do_upgrade(struct mkv_index *ix, const struct mkv_config *cfg)
{
    unsigned long copied, skipped;
    char err[512];

    if (!ix->old_format) {
        printf("upgrade: %s is in the current format already\n", cfg->db);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    /* Records whose volumes are their placement under this configuration
     * are stored without them: give the set its number first. */
    if (index_use_cfg(ix, cfg) != MKV_OK)
        fprintf(stderr, "mkv-upkeep: upgrade: volumes are stored in full (no volume set)\n");
    if (index_upgrade(ix, &copied, &skipped, report_skipped, NULL, err, sizeof(err)) != MKV_OK) {
        fprintf(stderr, "mkv-upkeep: %s (index.db is unchanged: run it again)\n", err);
        return 1;
    }
    printf("upgrade: %s: %lu records converted, %lu left out; the old file is index-v0.db\n",
           cfg->db, copied, skipped);
    return fflush(stdout) == 0 ? (skipped ? 1 : 0) : 1;
}

/* The subcommand words, the arguments that are not flags (config_split):
 * 1 taken, 0 a setting's, -1 one word too many. */
struct words {
    const char *w[2];
    int n;
};

static int own_arg(void *ctx, const char *a, char *err, size_t errlen)
{
    struct words *ws = ctx;

    if (a[0] == '-')
        return 0;
    if (ws->n == 2) {
        snprintf(err, errlen, "unexpected argument '%.64s'", a);
        return -1;
    }
    ws->w[ws->n++] = a;
    return 1;
}

/* The words make a command: "checkpoint", or "backup DIR" (admin_start). */
static int check_words(void *ctx)
{
    const struct words *words = ctx;

    if (words->n == 1 && (!strcmp(words->w[0], "checkpoint") || !strcmp(words->w[0], "compact") ||
                          !strcmp(words->w[0], "upgrade")))
        return 0;
    return words->n == 2 && !strcmp(words->w[0], "backup") ? 0 : -1;
}

int main(int argc, char **argv)
{
    struct mkv_config cfg;
    struct mkv_index ix;
    struct words words = {{NULL, NULL}, 0};
    const struct mkv_tool tool = {"mkv-upkeep", own_arg, &words, usage, check_words};
    char err[512];
    int backup, locked, lockfd, rc;

    if (admin_start(&tool, argc, argv, &cfg, &rc) < 0)
        return rc;
    backup = !strcmp(words.w[0], "backup");
    if (index_present(cfg.db) < 0)
        return MKV_EXIT_INDEX;
    if (!strcmp(words.w[0], "upgrade"))
        index_allow_old_format();
    if ((locked = upkeep_lock(cfg.db, backup, &lockfd)) < 0)
        return MKV_EXIT_INCOMPLETE;
    if (index_open(&ix, cfg.db, cfg.cache_mb, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-upkeep: %s\n", err);
        close(lockfd);
        return MKV_EXIT_INDEX;
    }
    /* It calls ix.env directly, outside the index's guard: a rejoin must not
     * leave the environment under it.  A panic fails the run, as before. */
    index_no_rejoin(&ix);
    if (backup) {
        rc = do_backup(&ix, words.w[1], cfg.cache_mb);
    } else if (!strcmp(words.w[0], "compact")) {
        rc = do_compact(&ix, cfg.db);
        index_close(&ix);
    } else if (!strcmp(words.w[0], "upgrade")) {
        rc = do_upgrade(&ix, &cfg);
        index_close(&ix);
    } else {
        rc = do_checkpoint(&ix, locked == 0);
        index_close(&ix);
    }
    close(lockfd);
    return rc == 0 ? MKV_EXIT_OK : MKV_EXIT_INCOMPLETE;
}
