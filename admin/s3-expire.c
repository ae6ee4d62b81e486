/* s3-expire.c: mkv-s3-expire, removes abandoned S3 multipart uploads:
 *
 *     mkv-s3-expire [--days=N] [--dry-run] [-c FILE] [--name=value ...]
 *
 * An upload begun (CreateMultipartUpload) more than N days ago (default 7)
 * and neither completed nor aborted is aborted: its parts (keys under
 * /.mkv-mpu/<id>/) are deleted from the volumes and the index, then the
 * upload's entry (lib/s3store.h).  A daily cron job (conf/crontab.example);
 * safe while workers serve.  An upload whose parts cannot all be removed (a
 * volume down) stays, and the next run tries again. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "exitcodes.h"
#include "index.h"
#include "num.h"
#include "s3store.h"
#include "store.h"
#include "volume.h"

struct expirer {
    struct mkv_config cfg;
    struct mkv_index ix;
    struct mkv_vclient vc;
    struct mkv_store st;
    long long days, cutoff;
    int dry_run;
    struct s3_upload *old; /* the uploads to abort, found first */
    int n, cap;
    long aborted, failed;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: mkv-s3-expire [--days=N] [--dry-run] [-c FILE] [--name=value ...]\n\n"
            "Aborts the S3 multipart uploads begun more than N days ago (default 7)\n"
            "and never completed: their parts are removed from the volumes and the\n"
            "index.  Run it daily from cron; safe while workers serve.\n\n"
            "%s\n",
            MKV_EXIT_HELP);
    config_usage("mkv-s3-expire");
}

static int own_arg(void *ctx, const char *a, char *err, size_t errlen)
{
    struct expirer *e = ctx;

    if (!strcmp(a, "--dry-run")) {
        e->dry_run = 1;
        return 1;
    }
    if (!strncmp(a, "--days=", 7)) {
        if (num_parse(a + 7, 0, 36500, &e->days) < 0) {
            snprintf(err, errlen, "--days must be a number of days (0 to 36500)");
            return -1;
        }
        return 1;
    }
    return 0;
}

/* Collected first, aborted after: a scan callback must not write. */
static int take_old(void *arg, const struct s3_upload *u)
{
    struct expirer *e = arg;

    if (u->ctime > e->cutoff)
        return 0;
    if (e->n == e->cap) {
        int cap = e->cap ? 2 * e->cap : 16;
        struct s3_upload *v = realloc(e->old, (size_t)cap * sizeof(*v));
        if (!v)
            return 1;
        e->old = v;
        e->cap = cap;
    }
    e->old[e->n++] = *u;
    return 0;
}

static void expire_one(struct expirer *e, const struct s3_upload *u)
{
    char why[512];

    if (e->dry_run) {
        printf("would abort upload %s of %.*s (begun %lld s ago)\n", u->id, (int)u->klen, u->key,
               (long long)time(NULL) - u->ctime);
        e->aborted++;
        return;
    }
    if (s3_upload_abort(&e->st, u, why, sizeof(why)) != S3STORE_OK) {
        printf("upload %s of %.*s: %s (left for the next run)\n", u->id, (int)u->klen, u->key, why);
        e->failed++;
        return;
    }
    printf("aborted upload %s of %.*s\n", u->id, (int)u->klen, u->key);
    e->aborted++;
}

int main(int argc, char **argv)
{
    static struct expirer e = {.days = 7};
    const struct mkv_tool tool = {"mkv-s3-expire", own_arg, &e, usage, NULL};
    char err[512];
    int rc;

    if (admin_start(&tool, argc, argv, &e.cfg, &rc) < 0)
        return rc;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0 || vclient_init(&e.vc, &e.cfg) < 0) {
        fprintf(stderr, "mkv-s3-expire: cannot initialise libcurl\n");
        return MKV_EXIT_INCOMPLETE;
    }
    if (index_open(&e.ix, e.cfg.db, e.cfg.cache_mb, err, sizeof(err)) < 0) {
        fprintf(stderr, "mkv-s3-expire: %s\n", err);
        return MKV_EXIT_INDEX;
    }
    e.st = (struct mkv_store){&e.cfg, &e.ix, &e.vc, NULL};
    e.cutoff = (long long)time(NULL) - e.days * 86400;
    if (s3_upload_list(&e.ix, "", take_old, &e) != S3STORE_OK) {
        fprintf(stderr, "mkv-s3-expire: reading the uploads failed\n");
        rc = MKV_EXIT_INDEX;
        goto done;
    }
    for (int i = 0; i < e.n; i++)
        expire_one(&e, &e.old[i]);
    printf("%s: %ld, failed: %ld\n", e.dry_run ? "would abort" : "aborted", e.aborted, e.failed);
    rc = fflush(stdout) != 0 || e.failed ? MKV_EXIT_INCOMPLETE : MKV_EXIT_OK;
done:
    index_close(&e.ix);
    vclient_free(&e.vc);
    free(e.old);
    return rc;
}
