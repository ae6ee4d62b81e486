/* rebalance.c: one key's rebalance and repair (see rebalance.h). */
#include "rebalance.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "md5.h"
#include "placement.h"
#include "record.h"
#include "store.h"

const char *rb_outcome_name(enum rb_outcome r)
{
    static const char *names[] = {"in place", "moved", "planned", "unlinked",
                                  "absent",   "busy",  "pending", "failed"};
    return names[r];
}

/* Whether a record's volume path ("host:port" or "host:port/svXX") is on a
 * configured volume. */
static int volume_configured(const struct mkv_config *cfg, const char *volpath)
{
    size_t n = strcspn(volpath, "/");

    for (int i = 0; i < cfg->nvolumes; i++)
        if (strlen(cfg->volumes[i]) == n && !strncmp(cfg->volumes[i], volpath, n))
            return 1;
    return 0;
}

static int listed(const char *vol, char vols[][MKV_VOLPATH_MAX], int n)
{
    for (int i = 0; i < n; i++)
        if (!strcmp(vols[i], vol))
            return 1;
    return 0;
}

/* A staged copy: the value GET from a live replica into an unlinked temp
 * file, its MD5 computed on the way.  Disk, not memory, holds the value. */
struct stage {
    int fd;
    struct mkv_md5 md5;
};

static int stage_write(void *arg, const char *data, size_t len)
{
    struct stage *s = arg;

    if (md5_update(&s->md5, data, len) < 0)
        return -1;
    return fd_write_all(s->fd, data, len);
}

static ssize_t stage_read(void *arg, char *buf, size_t cap)
{
    int fd = *(int *)arg;
    ssize_t n;

    do
        n = read(fd, buf, cap);
    while (n < 0 && errno == EINTR);
    return n;
}

/* Copies the value at src to every URL in dst.  Returns 0 or -1 (why set). */
static int copy_value(struct mkv_vclient *vc, const struct rb_opts *o, const char *src,
                      const char *hash, char **dst, int ndst, char *why, size_t whylen)
{
    struct stage s = {-1, {NULL}};
    char tmpl[4096], hex[33];
    unsigned char digest[16];
    struct vput v;
    long long size;
    long code;
    int rc = -1;

    snprintf(tmpl, sizeof(tmpl), "%s/mkv-rebalance-XXXXXX", o->tmpdir ? o->tmpdir : "/tmp");
    s.fd = mkstemp(tmpl);
    if (s.fd < 0) {
        snprintf(why, whylen, "cannot create a staging file in %s: %s", o->tmpdir, strerror(errno));
        return -1;
    }
    unlink(tmpl);
    if (md5_init(&s.md5) < 0)
        goto cleanup;
    code = vclient_get(vc, src, stage_write, &s, why, whylen);
    if (md5_final(&s.md5, digest) < 0 || code != 200) {
        if (code > 0)
            snprintf(why, whylen, "GET %s answered HTTP %ld", src, code);
        goto cleanup;
    }
    md5_hex(digest, hex);
    if (hash[0] && strcmp(hex, hash) != 0) {
        snprintf(why, whylen, "replica %s has MD5 %s, the index says %s", src, hex, hash);
        goto cleanup;
    }
    size = lseek(s.fd, 0, SEEK_END);
    if (size <= 0 || lseek(s.fd, 0, SEEK_SET) != 0) {
        snprintf(why, whylen, "staged copy of %s is empty", src);
        goto cleanup;
    }
    memset(&v, 0, sizeof(v));
    v.length = size;
    v.rd = stage_read;
    v.rdarg = &s.fd;
    if (vclient_put(vc, dst, ndst, &v) < 0) {
        snprintf(why, whylen, "%s", v.why);
        goto cleanup;
    }
    /* Verify: the bytes sent are the bytes staged, and each target holds
     * a file of that size now. */
    if (memcmp(v.md5, digest, 16) != 0) {
        snprintf(why, whylen, "staged copy of %s changed while it was sent", src);
        goto cleanup;
    }
    for (int i = 0; i < ndst; i++) {
        long long got = -1;
        long code = vclient_head_size(vc, dst[i], o->head_timeout_ms, &got);
        if (code != 200 || got != size) {
            snprintf(why, whylen, "copy at %s: HEAD answered %ld with %lld bytes, want %lld",
                     dst[i], code, got, size);
            goto cleanup;
        }
    }
    rc = 0;

cleanup:
    md5_free(&s.md5);
    close(s.fd);
    return rc;
}

/* One key being rebalanced: what the phases of rebalance_key share. */
struct rbjob {
    const struct mkv_config *cfg;
    struct mkv_index *ix;
    struct mkv_vclient *vc;
    const struct rb_opts *o;
    const char *key;
    size_t klen;
    char *why;
    size_t whylen;
    struct mkv_placement p;
    char path[MKV_PATH_MAX];
    struct mkv_record rec;                       /* as read */
    struct mkv_record next;                      /* as it becomes */
    char real[MKV_RECORD_VOLS][MKV_VOLPATH_MAX]; /* listed copies that exist */
    int nreal;
    int src;     /* index in rec.vols of the first copy found */
    int lost;    /* listed copies on volumes taken out for good */
    int changed; /* a copy made or removed, or the record written */
};

static int rb_fail(struct rbjob *j, const char *what)
{
    snprintf(j->why, j->whylen, "%s", what);
    return -1;
}

/* Which listed replicas really exist?  A volume that cannot be asked stops
 * this key: "missing" must never be a guess.  Unless the volume was taken
 * out of the configuration: a volume lost for good is removed from
 * `volumes` so that its keys get their copies back from the others. */
static int find_replicas(struct rbjob *j)
{
    j->src = -1;
    for (int i = 0; i < j->rec.nvols; i++) {
        char u[URL_MAX];
        long code;

        volume_url(j->cfg, u, sizeof(u), j->rec.vols[i], j->path);
        code = vclient_head(j->vc, u, j->o->head_timeout_ms);
        if (code < 0 && !volume_configured(j->cfg, j->rec.vols[i])) {
            j->lost++;
            continue;
        }
        if (code < 0) {
            snprintf(j->why, j->whylen, "volume %s did not answer", j->rec.vols[i]);
            return -1;
        }
        if (code == 200) {
            memcpy(j->real[j->nreal++], j->rec.vols[i], MKV_VOLPATH_MAX);
            if (j->src < 0)
                j->src = i;
        }
    }
    if (j->nreal == 0)
        return rb_fail(j, "no replica of this key exists on its volumes");
    return 0;
}

/* Copies the value to every target that lacks it (in repair mode a wanted
 * replica already in the record may be gone too). */
static int copy_missing(struct rbjob *j)
{
    char url[MKV_MAX_REPLICAS][URL_MAX], *urls[MKV_MAX_REPLICAS], from[URL_MAX];
    int n = 0;

    for (int i = 0; i < j->p.n; i++) {
        if (listed(j->p.vols[i], j->real, j->nreal))
            continue;
        volume_url(j->cfg, url[n], URL_MAX, j->p.vols[i], j->path);
        urls[n] = url[n];
        n++;
    }
    if (n == 0)
        return 0;
    volume_url(j->cfg, from, sizeof(from), j->rec.vols[j->src], j->path);
    if (copy_value(j->vc, j->o, from, j->rec.hash, urls, n, j->why, j->whylen) < 0) {
        char ignore[64];
        /* Targets were not replicas before: remove what we wrote. */
        vclient_delete(j->vc, urls, n, ignore, sizeof(ignore));
        return -1;
    }
    j->changed = 1;
    return 0;
}

/* Every target now exists: the record lists them first, then the old
 * copies (which exist too). */
static int list_targets_first(struct rbjob *j)
{
    j->next = j->rec;
    record_set_vols(&j->next, &j->p);
    for (int i = 0; i < j->nreal; i++)
        if (!listed(j->real[i], j->next.vols, j->next.nvols) && j->next.nvols < MKV_RECORD_VOLS)
            memcpy(j->next.vols[j->next.nvols++], j->real[i], MKV_VOLPATH_MAX);
    if (j->next.nvols == j->rec.nvols && record_matches(&j->rec, &j->p))
        return 0;
    if (index_put(j->ix, j->key, j->klen, &j->next) != MKV_OK)
        return rb_fail(j, "index write failed");
    j->changed = 1;
    return 0;
}

/* Removes the copies placement no longer wants, then drops them from the
 * record.  A failure leaves them listed (they exist): the next run retries. */
static int remove_old(struct rbjob *j)
{
    char url[MKV_RECORD_VOLS][URL_MAX], *urls[MKV_RECORD_VOLS];
    int n = 0;

    for (int i = j->p.n; i < j->next.nvols; i++) {
        volume_url(j->cfg, url[n], URL_MAX, j->next.vols[i], j->path);
        urls[n] = url[n];
        n++;
    }
    if (n > 0 && vclient_delete(j->vc, urls, n, j->why, j->whylen) < 0)
        return -1;
    if (j->next.nvols == j->p.n)
        return 0;
    j->next.nvols = j->p.n;
    if (index_put(j->ix, j->key, j->klen, &j->next) != MKV_OK)
        return rb_fail(j, "index write failed");
    j->changed = 1;
    return 0;
}

/* An S3 overwrite a killed worker left half-way (the new value under its
 * temporary name, the old one at the path) is finished first: the copies
 * below read the path.  0, or -1 with why set. */
static int settle(struct rbjob *j)
{
    char suffix[STORE_TMP_SUFFIX_LEN + 1], why[256];
    struct mkv_store s = {.cfg = j->cfg, .ix = j->ix, .vc = j->vc, .seen = NULL};

    if (!store_pending(&j->rec, suffix))
        return 0;
    if (store_settle_locked(&s, j->key, j->klen, &j->rec, why, sizeof(why)) == STORE_OK)
        return 0;
    snprintf(j->why, j->whylen, "an overwrite left half-way could not be finished: %s", why);
    return -1;
}

/* The record decides, before any volume is asked: RB_FAILED (why set) when
 * the move must go on, else the outcome. */
static enum rb_outcome read_state(struct rbjob *j)
{
    int rc = index_get(j->ix, j->key, j->klen, &j->rec);

    if (rc != MKV_OK) {
        rb_fail(j, rc == MKV_NOTFOUND ? "no record"
                   : rc == MKV_BADREC ? "malformed record (remove it with mkv-delete, or import "
                                        "it again)"
                                      : "index read failed");
        return rc == MKV_NOTFOUND ? RB_ABSENT : RB_FAILED;
    }
    if (j->rec.deleted)
        return RB_UNLINKED;
    if (!j->o->dry_run && settle(j) < 0)
        return RB_FAILED;
    if (record_matches(&j->rec, &j->p) && !j->o->repair)
        return RB_INPLACE;
    if (j->o->dry_run)
        return record_matches(&j->rec, &j->p) ? RB_INPLACE : RB_PLANNED;
    return RB_MOVED; /* to be done */
}

/* The original leaves keys too long to store behind (a failed PUT's
 * record): no lock exists for them, no worker takes them, and no file can
 * hold them unless their base64 name splits into short directories. */
static enum rb_outcome overlong(struct rbjob *j, struct rb_notes *notes)
{
    if (index_get(j->ix, j->key, j->klen, &j->rec) == MKV_NOTFOUND)
        return RB_ABSENT;
    snprintf(j->why, j->whylen,
             "key longer than %d bytes: it cannot be locked, and no worker serves it "
             "(mkv-delete removes it)",
             MKV_KEY_MAX);
    if (notes)
        notes->never = 1;
    return RB_FAILED;
}

enum rb_outcome rebalance_key(const struct mkv_config *cfg, struct mkv_index *ix,
                              struct mkv_vclient *vc, const struct rb_opts *o, const char *key,
                              size_t klen, char *why, size_t whylen, struct rb_notes *notes)
{
    struct rbjob j;
    struct mkv_keylock kl;
    enum rb_outcome out;
    int rc, settled;

    j = (struct rbjob){.cfg = cfg,
                       .ix = ix,
                       .vc = vc,
                       .o = o,
                       .key = key,
                       .klen = klen,
                       .why = why,
                       .whylen = whylen};
    why[0] = '\0';
    if (notes)
        notes->lost = notes->never = 0;
    if (key2path(key, klen, j.path) < 0 || key2volumes(cfg, key, klen, &j.p) < 0) {
        rb_fail(&j, "no placement for this key");
        return RB_FAILED;
    }
    if (klen > MKV_KEY_MAX)
        return overlong(&j, notes);
    rc = index_lock_admin(ix, key, klen, &kl);
    if (rc == MKV_BUSY)
        return RB_BUSY;
    if (rc != MKV_OK) {
        rb_fail(&j, "index lock failed");
        return RB_FAILED;
    }
    if ((out = read_state(&j)) != RB_MOVED)
        goto unlock;
    out = RB_FAILED;
    settled = record_lists_first(&j.rec, &j.p);
    if (find_replicas(&j) < 0 || copy_missing(&j) < 0 || list_targets_first(&j) < 0)
        goto unlock;
    /* Not in the call that listed the targets first: a redirect to an old
     * copy may have been issued just before (keep_old). */
    if (o->keep_old && !settled && j.next.nvols > j.p.n) {
        out = RB_PENDING;
        goto unlock;
    }
    if (remove_old(&j) < 0)
        goto unlock;
    out = j.changed ? RB_MOVED : RB_INPLACE;
    if (notes)
        notes->lost = j.lost;

unlock:
    index_unlock(ix, &kl);
    return out;
}
