/* delete.c: mkv-delete, removes keys by their raw bytes, files included:
 *
 *     mkv-delete [--dry-run] [-c FILE] [--name=value ...] KEY... | -
 *
 * For keys no worker can be asked about: the original stores keys with a
 * NUL byte (the fronts refuse %00), and leaves records of PUTs that failed
 * for keys over 189 bytes or whose base64 name ends in '/' (mkv-import lists
 * them with this command).  KEY is written as mkv-dump prints keys: any byte
 * may be given as %XX ("-" reads one key a line from stdin).
 *
 * Each key is removed as DELETE removes one (store_remove, lib/store.c):
 * under its key lock, the record marked SOFT first, then the file deleted on
 * every volume the record lists and every volume placement names (404 counts
 * as gone), then the record.  A volume that fails leaves the record SOFT (run
 * again).  Keys over MKV_KEY_MAX bytes have no key lock (no worker takes
 * them, so only admin tools write them).  No DELETE is sent for a key whose
 * file name cannot exist (base64 ending in '/': that URL is a directory, and
 * nginx would remove the directory with other keys' files in it; or a path
 * component over 255 bytes).  A record that does not decode is not trusted:
 * only the placement volumes are asked. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "exitcodes.h"
#include "index.h"
#include "keys.h"
#include "placement.h"
#include "record.h"
#include "store.h"
#include "volume.h"

#define NAME_MAX_BYTES 255   /* longest file or directory name on a volume */
#define LOCK_WAIT_MS   10000 /* a key held by a writer: wait this long for it */

struct deleter {
    struct mkv_config cfg;
    struct mkv_index ix;
    struct mkv_vclient vc;
    struct mkv_store st; /* cfg, ix and vc, for store_remove */
    int dry_run, from_stdin;
    const char **keys; /* the KEY arguments */
    int nkeys;
    long deleted, absent, failed;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: mkv-delete [--dry-run] [-c FILE] [--name=value ...] KEY... | -\n\n"
            "Removes each KEY (its bytes written as mkv-dump prints them: any byte as\n"
            "%%XX; '-' reads one key a line from stdin) as DELETE would: under the\n"
            "key lock, the files on every volume its record lists and placement\n"
            "names, then the record.  For keys no worker serves (a NUL byte, over\n"
            "189 bytes, base64 ending in '/'), which mkv-import lists.\n"
            "  --dry-run  print what would be removed, change nothing\n"
            "Keys that failed or had no record are listed (exit status 1).\n\n"
            "%s\n",
            MKV_EXIT_HELP);
    config_usage("mkv-delete");
}

/* Whether a volume can hold a file at path: not a directory's URL, and no
 * path component longer than a file name may be. */
static int file_possible(const char *path)
{
    size_t n = strlen(path), seg = 0;

    if (n == 0 || path[n - 1] == '/')
        return 0;
    for (size_t i = 0; i < n; i++) {
        seg = path[i] == '/' ? 0 : seg + 1;
        if (seg > NAME_MAX_BYTES)
            return 0;
    }
    return 1;
}

static int lock_key(struct deleter *d, const char *key, size_t klen, struct mkv_keylock *kl)
{
    kl->txn = NULL;
    if (klen > MKV_KEY_MAX)
        return MKV_OK;
    return index_lock_wait(&d->ix, key, klen, kl, LOCK_WAIT_MS);
}

/* Removes one key given in mkv-dump's form; prints what happened, the key
 * shown in that form whatever bytes were given. */
static void delete_one(struct deleter *d, const char *given)
{
    static char key[MKV_HASHKEY_MAX], esc[3 * MKV_HASHKEY_MAX + 1];
    static char url[STORE_TARGETS_MAX][URL_MAX];
    char *urls[STORE_TARGETS_MAX], path[MKV_PATH_MAX], why[512];
    struct mkv_record rec;
    struct mkv_keylock kl;
    long klen = unescape_nonprint(given, strlen(given), key, sizeof(key));
    int rc, n = 0, badrec, files;

    if (escape_nonprint(klen > 0 ? key : given, klen > 0 ? (size_t)klen : strlen(given), esc,
                        sizeof(esc)) < 0)
        snprintf(esc, sizeof(esc), "(a key of %zu bytes)", strlen(given));
    if (klen <= 0 || key[0] != '/') {
        printf("failed %s: not a key (1 to %d bytes, starting with '/', %%XX escapes)\n", esc,
               MKV_HASHKEY_MAX);
        d->failed++;
        return;
    }
    if ((rc = lock_key(d, key, (size_t)klen, &kl)) != MKV_OK) {
        printf("failed %s: %s\n", esc,
               rc == MKV_BUSY ? "a write of this key kept it locked; run again"
                              : "index lock failed");
        d->failed++;
        return;
    }
    rc = index_get(&d->ix, key, (size_t)klen, &rec);
    if (rc == MKV_NOTFOUND) {
        printf("absent %s: no record\n", esc);
        d->absent++;
        goto unlock;
    }
    if (rc != MKV_OK && rc != MKV_BADREC) {
        printf("failed %s: index read failed\n", esc);
        d->failed++;
        goto unlock;
    }
    badrec = rc == MKV_BADREC;
    if (key2path(key, (size_t)klen, path) < 0) {
        printf("failed %s: no placement for this key\n", esc);
        d->failed++;
        goto unlock;
    }
    files = file_possible(path);
    if (files && (n = store_delete_targets(&d->cfg, key, (size_t)klen, badrec ? NULL : &rec, path,
                                           url, urls)) < 0) {
        printf("failed %s: placement failed\n", esc);
        d->failed++;
        goto unlock;
    }
    if (d->dry_run) {
        printf("would delete %s: %s record, %s", esc,
               badrec        ? "a malformed"
               : rec.deleted ? "an unlinked"
                             : "a live",
               files ? "its file on" : "no file can exist for it\n");
        for (int i = 0; files && i < n; i++)
            printf(" %s%s", urls[i], i + 1 == n ? "\n" : "");
        d->deleted++;
        goto unlock;
    }
    /* DELETE's own sequence, on the targets chosen above. */
    rc = store_remove(&d->st, key, (size_t)klen, badrec ? NULL : &rec, urls, n, why, sizeof(why));
    if (rc < 0) {
        printf("failed %s: %s%s\n", esc, why,
               rc == STORE_VOLUME ? " (the record stays, unlinked; run again)" : "");
        d->failed++;
        goto unlock;
    }
    printf("deleted %s: %s record, %s%d volume(s) asked\n", esc, badrec ? "a malformed" : "its",
           files ? "" : "no file can exist for it, ", n);
    d->deleted++;

unlock:
    index_unlock(&d->ix, &kl);
}

/* The tool's own arguments (config_split): its flags and the keys. */
static int own_arg(void *ctx, const char *a, char *err, size_t errlen)
{
    struct deleter *d = ctx;

    (void)err;
    (void)errlen;
    if (!strcmp(a, "--dry-run"))
        d->dry_run = 1;
    else if (!strcmp(a, "-"))
        d->from_stdin = 1;
    else if (a[0] != '-')
        d->keys[d->nkeys++] = a;
    else
        return 0;
    return 1;
}

int main(int argc, char **argv)
{
    static struct deleter d;
    const struct mkv_tool tool = {"mkv-delete", own_arg, &d, usage, NULL};
    char err[512];
    int rc;

    if (!(d.keys = calloc((size_t)argc + 1, sizeof(*d.keys))))
        return MKV_EXIT_INCOMPLETE;
    if (admin_start(&tool, argc, argv, &d.cfg, &rc) < 0)
        return rc;
    /* After the settings (no check in admin_start): wrong settings are
     * reported first, as they always were. */
    if (d.nkeys == 0 && !d.from_stdin) {
        usage();
        return MKV_EXIT_USAGE;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || vclient_init(&d.vc, &d.cfg) < 0) {
        fprintf(stderr, "mkv-delete: cannot initialise libcurl\n");
        return MKV_EXIT_INCOMPLETE;
    }
    if (index_open(&d.ix, d.cfg.db, d.cfg.cache_mb, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-delete: %s\n", err);
        return MKV_EXIT_INDEX;
    }
    d.st = (struct mkv_store){&d.cfg, &d.ix, &d.vc, NULL};
    for (int i = 0; i < d.nkeys; i++)
        delete_one(&d, d.keys[i]);
    if (d.from_stdin) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n;

        while ((n = getline(&line, &cap, stdin)) >= 0) {
            if (n > 0 && line[n - 1] == '\n')
                line[--n] = '\0';
            if (n > 0)
                delete_one(&d, line);
        }
        free(line);
    }
    index_close(&d.ix);
    vclient_free(&d.vc);
    free(d.keys);
    printf("%s: %ld, absent: %ld, failed: %ld\n", d.dry_run ? "would delete" : "deleted", d.deleted,
           d.absent, d.failed);
    if (fflush(stdout) != 0 || d.failed || d.absent)
        return MKV_EXIT_INCOMPLETE;
    return MKV_EXIT_OK;
}
