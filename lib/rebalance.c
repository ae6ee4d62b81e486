/* rebalance.c: one key's rebalance and repair (see rebalance.h). */
#include "rebalance.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "md5.h"
#include "placement.h"
#include "record.h"

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
    while (len > 0) {
        ssize_t n = write(s->fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
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

enum rb_outcome rebalance_key(const struct mkv_config *cfg, struct mkv_index *ix,
                              struct mkv_vclient *vc, const struct rb_opts *o, const char *key,
                              size_t klen, char *why, size_t whylen, struct rb_notes *notes)
{
    struct mkv_placement p;
    struct mkv_record rec, next;
    struct mkv_keylock kl;
    char path[MKV_PATH_MAX], url[MKV_RECORD_VOLS][URL_MAX], *urls[MKV_RECORD_VOLS];
    char real[MKV_RECORD_VOLS][MKV_VOLPATH_MAX];
    int nreal = 0, nurls = 0, src = -1, changed = 0, lost = 0, settled, rc;
    enum rb_outcome out = RB_FAILED;

    why[0] = '\0';
    if (notes)
        notes->lost = notes->never = 0;
    if (key2path(key, klen, path) < 0 || key2volumes(cfg, key, klen, &p) < 0) {
        snprintf(why, whylen, "no placement for this key");
        return RB_FAILED;
    }
    /* The original leaves such keys behind (a failed PUT's record): no lock
     * exists for them, no worker takes them, and no file can hold them
     * unless their base64 name splits into short directories. */
    if (klen > MKV_KEY_MAX) {
        if (index_get(ix, key, klen, &rec) == MKV_NOTFOUND)
            return RB_ABSENT;
        snprintf(why, whylen,
                 "key longer than %d bytes: it cannot be locked, and no worker serves it "
                 "(mkv-delete removes it)",
                 MKV_KEY_MAX);
        if (notes)
            notes->never = 1;
        return RB_FAILED;
    }
    rc = index_lock(ix, key, klen, &kl);
    if (rc == MKV_BUSY)
        return RB_BUSY;
    if (rc != MKV_OK) {
        snprintf(why, whylen, "index lock failed");
        return RB_FAILED;
    }
    rc = index_get(ix, key, klen, &rec);
    if (rc != MKV_OK) {
        out = rc == MKV_NOTFOUND ? RB_ABSENT : RB_FAILED;
        snprintf(why, whylen, "%s",
                 rc == MKV_NOTFOUND ? "no record"
                 : rc == MKV_BADREC
                     ? "malformed record (remove it with mkv-delete, or import it again)"
                     : "index read failed");
        goto unlock;
    }
    if (rec.deleted) {
        out = RB_UNLINKED;
        goto unlock;
    }
    if (record_matches(&rec, &p) && !o->repair) {
        out = RB_INPLACE;
        goto unlock;
    }
    if (o->dry_run) {
        out = record_matches(&rec, &p) ? RB_INPLACE : RB_PLANNED;
        goto unlock;
    }
    settled = record_lists_first(&rec, &p);
    /* Which listed replicas really exist?  A volume that cannot be asked
     * stops this key: "missing" must never be a guess.  Unless the volume was
     * taken out of the configuration: a volume lost for good is removed from
     * `volumes` so that its keys get their copies back from the others. */
    for (int i = 0; i < rec.nvols; i++) {
        long code;
        char u[URL_MAX];

        volume_url(cfg, u, sizeof(u), rec.vols[i], path);
        code = vclient_head(vc, u, o->head_timeout_ms);
        if (code < 0 && !volume_configured(cfg, rec.vols[i])) {
            lost++;
            continue;
        }
        if (code < 0) {
            snprintf(why, whylen, "volume %s did not answer", rec.vols[i]);
            goto unlock;
        }
        if (code == 200) {
            memcpy(real[nreal++], rec.vols[i], MKV_VOLPATH_MAX);
            if (src < 0)
                src = i;
        }
    }
    if (nreal == 0) {
        snprintf(why, whylen, "no replica of this key exists on its volumes");
        goto unlock;
    }
    /* In repair mode a wanted replica already in the record may be gone too. */
    for (int i = 0; i < p.n; i++) {
        if (listed(p.vols[i], real, nreal))
            continue;
        volume_url(cfg, url[nurls], URL_MAX, p.vols[i], path);
        urls[nurls] = url[nurls];
        nurls++;
    }
    if (nurls > 0) {
        char from[URL_MAX];

        volume_url(cfg, from, sizeof(from), rec.vols[src], path);
        if (copy_value(vc, o, from, rec.hash, urls, nurls, why, whylen) < 0) {
            char ignore[64];
            /* Targets were not replicas before: remove what we wrote. */
            vclient_delete(vc, urls, nurls, ignore, sizeof(ignore));
            goto unlock;
        }
        changed = 1;
    }
    /* Every target now exists: list them first, then the old copies. */
    next = rec;
    record_set_vols(&next, &p);
    for (int i = 0; i < nreal; i++)
        if (!listed(real[i], next.vols, next.nvols) && next.nvols < MKV_RECORD_VOLS)
            memcpy(next.vols[next.nvols++], real[i], MKV_VOLPATH_MAX);
    if (next.nvols != rec.nvols || !record_matches(&rec, &p)) {
        if (index_put(ix, key, klen, &next) != MKV_OK) {
            snprintf(why, whylen, "index write failed");
            goto unlock;
        }
        changed = 1;
    }
    /* Remove the copies placement no longer wants, then drop them from the
     * record.  A failure leaves them listed (they exist): the next run retries.
     * Not in the call that listed the targets first: a redirect to an old
     * copy may have been issued just before (keep_old). */
    if (o->keep_old && !settled && next.nvols > p.n) {
        out = RB_PENDING;
        goto unlock;
    }
    nurls = 0;
    for (int i = p.n; i < next.nvols; i++) {
        volume_url(cfg, url[nurls], URL_MAX, next.vols[i], path);
        urls[nurls] = url[nurls];
        nurls++;
    }
    if (nurls > 0 && vclient_delete(vc, urls, nurls, why, whylen) < 0)
        goto unlock;
    if (next.nvols != p.n) {
        next.nvols = p.n;
        if (index_put(ix, key, klen, &next) != MKV_OK) {
            snprintf(why, whylen, "index write failed");
            goto unlock;
        }
        changed = 1;
    }
    out = changed ? RB_MOVED : RB_INPLACE;
    if (notes)
        notes->lost = lost;

unlock:
    index_unlock(ix, &kl);
    return out;
}
