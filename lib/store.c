/* store.c: PUT, DELETE and UNLINK of one key (see store.h). */
#include "store.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "keys.h"
#include "log.h"
#include "md5.h"
#include "placement.h"
#include "recbin.h"
#include "record.h"

/* How long a write waits for failchk to free a lock a dead process held:
 * its supervisor runs failchk as soon as it reaps it; another pool's
 * supervisor within its monitor period (5 s) if the whole pool died. */
#define DEAD_HOLDER_WAIT_MS 8000
/* An admin tool holds a key for one copy of its value (mkv-rebalance) or a
 * record check: wait that long rather than fail a client's write. */
#define ADMIN_HOLD_WAIT_MS 30000

static int fail(char *why, size_t whylen, int rc, const char *reason)
{
    snprintf(why, whylen, "%s", reason);
    return rc;
}

static int recovering(char *why, size_t whylen)
{
    return fail(why, whylen, STORE_RECOVERING,
                "the index needs recovery (under way): retry shortly");
}

/* An index call failed: STORE_RECOVERING while the environment awaits
 * recovery (its supervisor restarts the workers within seconds: worth a
 * retry), else STORE_INDEX. */
static int index_fail(const struct mkv_store *s, char *why, size_t whylen, const char *what)
{
    if (s->ix->panic)
        return recovering(why, whylen);
    return fail(why, whylen, STORE_INDEX, what);
}

/* Takes the key's write lock.  A lock held by a process that died is waited
 * for (index_lock_after_dead).  *retry says the request may be the retry of
 * one that died half-way (seen.h): its request id was seen before, or it had
 * to wait for a dead holder.  The caller then answers by whether the key is
 * in the state the request asked for, which its first try may have reached. */
static int lock_key(struct mkv_store *s, const char *key, size_t klen, const char *request_id,
                    struct mkv_keylock *kl, int *retry, char *why, size_t whylen)
{
    int rc = index_lock(s->ix, key, klen, kl);

    *retry = s->seen ? seen_mark(s->seen, request_id) : 0;
    if (rc == MKV_BUSY) {
        rc = index_lock_after_dead(s->ix, key, klen, kl, DEAD_HOLDER_WAIT_MS);
        *retry |= rc == MKV_OK;
    }
    if (rc == MKV_BUSY)
        rc = index_lock_behind_admin(s->ix, key, klen, kl, ADMIN_HOLD_WAIT_MS);
    if (rc == MKV_OK)
        return STORE_OK;
    if (rc == MKV_BUSY)
        return fail(why, whylen, STORE_BUSY, "another write of this key is in progress");
    return index_fail(s, why, whylen, "index lock failed");
}

/* Reads the key's record; a missing one is STORE_ABSENT. */
static int read_record(struct mkv_store *s, const char *key, size_t klen, struct mkv_record *rec,
                       char *why, size_t whylen)
{
    int rc = index_get(s->ix, key, klen, rec);

    if (rc == MKV_OK)
        return STORE_OK;
    if (rc == MKV_NOTFOUND)
        return STORE_ABSENT;
    if (rc == MKV_BADREC) {
        record_log_malformed(key, klen);
        return fail(why, whylen, STORE_BADREC,
                    "the index record of this key is malformed (see the log)");
    }
    return index_fail(s, why, whylen, "index read failed");
}

/* ---- PUT -------------------------------------------------------------- */

/* The body as the volumes read it: the first byte may have been read ahead
 * (a body of unknown length is looked at before anything is written, so an
 * empty one is refused without touching a volume). */
struct peeked {
    const struct store_body *b;
    char first;
    int have; /* first is still to be handed out */
};

static ssize_t peeked_read(void *arg, char *buf, size_t cap)
{
    struct peeked *p = arg;
    ssize_t n;

    if (!p->have)
        return p->b->rd(p->b->rdarg, buf, cap);
    if (cap == 0)
        return 0;
    buf[0] = p->first;
    p->have = 0;
    n = cap > 1 ? p->b->rd(p->b->rdarg, buf + 1, cap - 1) : 0;
    return n < 0 ? -1 : n + 1;
}

/* A value needs at least one byte (the original answers 411 to an empty
 * PUT, and mkv treats an empty chunked one the same: docs/compat.md §4.3).
 * A body of unknown length is read one byte ahead to find out. */
static int check_not_empty(struct peeked *p, char *why, size_t whylen)
{
    ssize_t n;

    if (p->b->allow_empty)
        return STORE_OK;
    if (p->b->length == 0)
        return fail(why, whylen, STORE_EMPTY, "empty body: a value needs at least one byte");
    if (p->b->length > 0)
        return STORE_OK;
    n = p->b->rd(p->b->rdarg, &p->first, 1);
    if (n < 0)
        return fail(why, whylen, STORE_BODY, "reading the request body failed");
    if (n == 0)
        return fail(why, whylen, STORE_EMPTY, "empty body: a value needs at least one byte");
    p->have = 1;
    return STORE_OK;
}

/* Whether the body's MD5 is hash (hex).  It reads the body: only for a PUT
 * that then answers without storing it. */
static int same_body(struct peeked *p, const char *hash)
{
    unsigned char d[16];
    char hex[33], buf[65536];
    struct mkv_md5 m;
    ssize_t n;

    if (strlen(hash) != 32 || md5_init(&m) < 0)
        return 0;
    while ((n = peeked_read(p, buf, sizeof(buf))) > 0) {
        if (md5_update(&m, buf, (size_t)n) < 0) {
            md5_free(&m);
            return 0;
        }
    }
    if (md5_final(&m, d) < 0 || n < 0)
        return 0;
    md5_hex(d, hex);
    return strcmp(hex, hash) == 0;
}

/* Removes the replicas a failed PUT may have written, then its record.  The
 * record stays SOFT (listed by ?unlinked) only if such a replica could not be
 * removed, so nothing live ever points at missing data.  A volume that never
 * got a byte of the request is not asked: it may well be the one that is down. */
static void undo_put(struct mkv_store *s, const char *key, size_t klen, char **urls, int n,
                     const int *touched)
{
    char *maybe[MKV_MAX_REPLICAS], why[256];
    int m = 0, rc;

    for (int i = 0; i < n; i++)
        if (!touched || touched[i])
            maybe[m++] = urls[i];
    if (m > 0 && vclient_delete(s->vc, maybe, m, why, sizeof(why)) < 0) {
        log_error("PUT cleanup of a key of %zu bytes left a SOFT record: %s", klen, why);
        return;
    }
    if ((rc = index_del(s->ix, key, klen)) < 0 && rc != MKV_NOTFOUND)
        log_error("PUT cleanup: index delete failed");
}

/* The live record was committed but the log flush failed (a disk error):
 * it is visible, and a machine crash may keep it or not.  The failure must
 * not leave the key live, so the record goes back to SOFT; the replicas stay,
 * since whichever record survives a crash names them.  DELETE purges. */
static int unsure_put(struct mkv_store *s, const char *key, size_t klen, struct mkv_record *rec,
                      char *why, size_t whylen)
{
    rec->deleted = 1;
    if (index_put_written(s->ix, key, klen, rec) != MKV_OK) {
        log_error("PUT: index flush failed and the record stays live");
        return fail(why, whylen, STORE_UNSURE,
                    "index flush failed (disk error): the key may be left live");
    }
    return fail(why, whylen, STORE_UNSURE,
                "index flush failed (disk error): the key is left unlinked");
}

/* What one PUT works with, past its lock. */
struct put {
    struct mkv_store *s;
    const char *key;
    size_t klen;
    struct mkv_placement p;
    char path[MKV_PATH_MAX];
    char url[MKV_MAX_REPLICAS][URL_MAX];
    char *urls[MKV_MAX_REPLICAS];
    struct mkv_record rec;
    struct peeked body;
};

/* The key's current record decides: none or SOFT, go on; live, STORE_EXISTS
 * unless this is the retry of a PUT whose worker died after storing exactly
 * this body, which is what the client asked for. */
/* The caller's condition on the live value (S3's If-Match, If-None-Match),
 * judged under the key's lock so no other write comes between. */
static int precondition(struct put *pt, const struct mkv_record *live, char *why, size_t whylen)
{
    const struct store_body *b = pt->body.b;

    if (b->precondition && b->precondition(b->precondition_arg, live) != 0)
        return fail(why, whylen, STORE_PRECONDITION, "the write's precondition failed");
    return STORE_OK;
}

static int check_existing(struct put *pt, int retry, char *why, size_t whylen)
{
    int rc = read_record(pt->s, pt->key, pt->klen, &pt->rec, why, whylen);

    if (rc == STORE_ABSENT || (rc == STORE_OK && pt->rec.deleted))
        return precondition(pt, NULL, why, whylen);
    if (rc < 0)
        return rc;
    if ((rc = precondition(pt, &pt->rec, why, whylen)) < 0)
        return rc;
    if (pt->body.b->overwrite)
        return 2; /* replace it */
    if (retry && same_body(&pt->body, pt->rec.hash))
        return 1; /* done already */
    return fail(why, whylen, STORE_EXISTS,
                "key exists: DELETE or UNLINK it before writing it again");
}

/* Sends the body to urls (one a replica: the value's files, or their
 * temporary names) and checks the MD5 announced: STORE_OK with the bytes
 * and the MD5 in note, or the failure (v->touched: the volumes a clean-up
 * must ask). */
static int send_body(struct put *pt, char *const *urls, struct vput *v, struct store_note *note,
                     char *why, size_t whylen)
{
    const struct store_body *b = pt->body.b;
    int rc;

    memset(v, 0, sizeof(*v));
    v->length = b->length;
    v->rd = peeked_read;
    v->rdarg = &pt->body;
    rc = vclient_put(pt->s->vc, urls, pt->p.n, v);
    note->bytes_in = v->sent;
    if (rc < 0)
        return fail(why, whylen, rc == VPUT_BODY ? STORE_BODY : STORE_VOLUME, v->why);
    if (b->want_md5 && memcmp(b->want_md5, v->md5, 16) != 0)
        return fail(why, whylen, STORE_BADMD5, "Content-MD5 does not match the body");
    memcpy(note->md5, v->md5, 16);
    return STORE_OK;
}

/* Sends the body to every replica; the record is SOFT meanwhile. */
static int write_replicas(struct put *pt, struct store_note *note, char *why, size_t whylen)
{
    struct vput v;
    int rc = send_body(pt, pt->urls, &v, note, why, whylen);

    /* A body that did not hash to its MD5 reached every volume. */
    if (rc < 0)
        undo_put(pt->s, pt->key, pt->klen, pt->urls, pt->p.n,
                 rc == STORE_BADMD5 ? NULL : v.touched);
    return rc;
}

/* The replicas' URLs of the value, and the first for the log line. */
static void set_urls(struct put *pt, struct store_note *note)
{
    for (int i = 0; i < pt->p.n; i++) {
        volume_url(pt->s->cfg, pt->url[i], URL_MAX, pt->p.vols[i], pt->path);
        pt->urls[i] = pt->url[i];
    }
    snprintf(note->volume, sizeof(note->volume), "%s", pt->p.vols[0]);
}

/* The live record store_put writes once the replicas hold the value. */
static void set_live(struct put *pt, const struct store_note *note)
{
    const struct store_body *b = pt->body.b;

    pt->rec.deleted = 0;
    if (pt->s->cfg->md5sum)
        md5_hex(note->md5, pt->rec.hash);
    /* What a store needs and the original's text has no room for (recbin.h). */
    pt->rec.has_size = 1;
    pt->rec.size = (unsigned long long)note->bytes_in;
    pt->rec.mtime = (long long)time(NULL);
    pt->rec.extlen = b->ext && b->extlen <= sizeof(pt->rec.ext) ? b->extlen : 0;
    if (pt->rec.extlen)
        memcpy(pt->rec.ext, b->ext, pt->rec.extlen);
    if (b->final_ext)
        b->final_ext(b->final_ext_arg, pt->rec.ext, sizeof(pt->rec.ext), &pt->rec.extlen);
}

/* ---- overwrite -------------------------------------------------------- */

/* Old copies the new record no longer names (a key mid-rebalance): removed
 * once it is live, or they would be orphans. */
static void drop_stale(struct put *pt, const struct mkv_record *old)
{
    char url[MKV_RECORD_VOLS][URL_MAX], *urls[MKV_RECORD_VOLS], why[256];
    int n = 0;

    for (int i = 0; i < old->nvols; i++) {
        int kept = 0;

        for (int j = 0; j < pt->p.n; j++)
            kept |= !strcmp(old->vols[i], pt->p.vols[j]);
        if (kept)
            continue;
        volume_url(pt->s->cfg, url[n], URL_MAX, old->vols[i], pt->path);
        urls[n] = url[n];
        n++;
    }
    if (n > 0 && vclient_delete(pt->s->vc, urls, n, why, sizeof(why)) < 0)
        log_error("PUT over a live key left an old copy behind: %s", why);
}

/* How long an overwrite waits between recording the new value (at its
 * temporary name) and moving it over the old file: a reader redirected to
 * the old file just before has opened it by then (nginx follows a redirect
 * within a millisecond), and keeps reading the old value from its open file. */
#define OVERWRITE_GRACE_MS 200

/* Removes an overwrite's temporary files (what a volume keeps is logged). */
static void drop_temporaries(struct put *pt, char **tmps)
{
    char why[256];

    if (vclient_delete(pt->s->vc, tmps, pt->p.n, why, sizeof(why)) < 0)
        log_error("PUT over a live key left a temporary file: %s", why);
}

/* Writes the new value to a temporary name on every replica (tmps, urls of
 * suffix): 0, or the error with the temporary files removed. */
static int write_beside(struct put *pt, char tmp[][URL_MAX], char **tmps, char *suffix,
                        struct store_note *note, char *why, size_t whylen)
{
    unsigned char r[8];
    struct vput v;
    int rc;

    if (RAND_bytes(r, sizeof(r)) != 1)
        return fail(why, whylen, STORE_VOLUME, "no random bytes for a temporary name");
    snprintf(suffix, STORE_TMP_SUFFIX_LEN + 1, ".mkvtmp-%02x%02x%02x%02x%02x%02x%02x%02x", r[0],
             r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    for (int i = 0; i < pt->p.n; i++) {
        snprintf(tmp[i], URL_MAX, "%s%s", pt->url[i], suffix);
        tmps[i] = tmp[i];
    }
    if ((rc = send_body(pt, tmps, &v, note, why, whylen)) < 0)
        drop_temporaries(pt, tmps);
    return rc;
}

/* Replaces the live value of pt->rec (see store_put in store.h): the body
 * beside the old file on each replica, the record naming it, the grace
 * period, the moves, the record without the name.  A failure before the
 * record changes leaves the old value as it was.  After, the new value is
 * the key's whether or not the moves succeed: a replica not moved still
 * holds it under the name the record keeps. */
static int replace_live(struct put *pt, struct store_note *note, char *why, size_t whylen)
{
    char tmp[MKV_MAX_REPLICAS][URL_MAX], *tmps[MKV_MAX_REPLICAS];
    char suffix[STORE_TMP_SUFFIX_LEN + 1];
    struct mkv_record old = pt->rec;
    struct timespec grace = {0, OVERWRITE_GRACE_MS * 1000000L};
    size_t extlen;
    int rc;

    if ((rc = write_beside(pt, tmp, tmps, suffix, note, why, whylen)) < 0)
        return rc;
    memset(&pt->rec, 0, sizeof(pt->rec));
    record_set_vols(&pt->rec, &pt->p);
    set_live(pt, note);
    extlen = pt->rec.extlen;
    rc = MKV_ERR;
    if (recbin_ext_add(pt->rec.ext, sizeof(pt->rec.ext), &pt->rec.extlen, STORE_EXT_PENDING, suffix,
                       STORE_TMP_SUFFIX_LEN) < 0 ||
        (rc = index_put(pt->s->ix, pt->key, pt->klen, &pt->rec)) != MKV_OK) {
        /* Unsure: the record may name the new value; its files stay. */
        if (rc != MKV_UNSURE)
            drop_temporaries(pt, tmps);
        return index_fail(pt->s, why, whylen, "index write failed");
    }
    nanosleep(&grace, NULL);
    if (vclient_move(pt->s->vc, tmps, pt->urls, pt->p.n, why, whylen) < 0) {
        log_error("PUT over a live key: a move failed (%s): the record keeps the temporary name",
                  why);
        return STORE_VOLUME;
    }
    pt->rec.extlen = extlen; /* the name goes */
    if (index_put(pt->s->ix, pt->key, pt->klen, &pt->rec) != MKV_OK)
        log_error("PUT over a live key: the record keeps the temporary name (index write failed; "
                  "readers are sent on to the value)");
    drop_stale(pt, &old);
    return STORE_OK;
}

int store_put(struct mkv_store *s, const char *key, size_t klen, const char *request_id,
              const struct store_body *b, struct store_note *note, char *why, size_t whylen)
{
    struct put pt; /* ~30 KB: request threads have the default 8 MiB stack */
    struct mkv_keylock kl;
    int rc, retry;

    memset(note, 0, sizeof(*note));
    memset(&pt, 0, sizeof(pt));
    pt.s = s;
    pt.key = key;
    pt.klen = klen;
    pt.body.b = b;
    if (key2path(key, klen, pt.path) < 0 || key2volumes(s->cfg, key, klen, &pt.p) < 0)
        return fail(why, whylen, STORE_PLACEMENT, "placement failed");
    /* The original's order: 409 (a write in flight) before 411, 403. */
    if ((rc = lock_key(s, key, klen, request_id, &kl, &retry, why, whylen)) < 0)
        return rc;
    if ((rc = check_not_empty(&pt.body, why, whylen)) < 0)
        goto unlock;
    if ((rc = check_existing(&pt, retry, why, whylen)) != STORE_OK) {
        if (rc == 2) {
            set_urls(&pt, note);
            rc = replace_live(&pt, note, why, whylen);
        }
        rc = rc > 0 ? STORE_OK : rc;
        goto unlock;
    }
    /* SOFT while the replicas are written: a crash here leaves a record that
     * ?unlinked lists and DELETE purges, never a live one.  Written, not
     * flushed: success waits for the live record's flush, which takes this
     * one along; a machine crash before it could lose only this record, and
     * with it nothing but orphan files no record points at. */
    memset(&pt.rec, 0, sizeof(pt.rec));
    pt.rec.deleted = 1;
    record_set_vols(&pt.rec, &pt.p);
    if (index_put_written(s->ix, key, klen, &pt.rec) != MKV_OK) {
        rc = index_fail(s, why, whylen, "index write failed");
        goto unlock;
    }
    set_urls(&pt, note);
    if ((rc = write_replicas(&pt, note, why, whylen)) < 0)
        goto unlock;
    set_live(&pt, note);
    rc = index_put(s->ix, key, klen, &pt.rec);
    if (rc == MKV_UNSURE) {
        rc = unsure_put(s, key, klen, &pt.rec, why, whylen);
    } else if (rc != MKV_OK) {
        undo_put(s, key, klen, pt.urls, pt.p.n, NULL);
        rc = index_fail(s, why, whylen, "index write failed");
    }

unlock:
    index_unlock(s->ix, &kl);
    return rc;
}

/* ---- an overwrite left half-way ---------------------------------------- */

/* Moves the pending value over path on each of rec's volumes: 0, or -1 with
 * why set.  A temporary file already gone was moved before the writer died
 * (nothing else removes one while the record names it). */
static int move_pending(struct mkv_store *s, const struct mkv_record *rec, const char *path,
                        const char *suffix, char *why, size_t whylen)
{
    char src[URL_MAX], dst[URL_MAX], *sp = src, *dp = dst;

    for (int i = 0; i < rec->nvols; i++) {
        volume_url(s->cfg, dst, sizeof(dst), rec->vols[i], path);
        if ((size_t)snprintf(src, sizeof(src), "%s%s", dst, suffix) >= sizeof(src)) {
            snprintf(why, whylen, "the temporary file's URL is too long");
            return -1;
        }
        if (vclient_move(s->vc, &sp, &dp, 1, why, whylen) == 0)
            continue;
        if (vclient_head(s->vc, src, 5000) != 404)
            return -1;
    }
    return 0;
}

/* rec without its pending entry (the other optional fields kept). */
static void drop_pending(struct mkv_record *rec)
{
    static const unsigned pending = STORE_EXT_PENDING;
    unsigned char ext[MKV_RECORD_EXT_MAX];
    size_t n = 0;

    /* fewer bytes than it had: they fit */
    (void)recbin_ext_without(rec->ext, rec->extlen, &pending, 1, ext, sizeof(ext), &n);
    memcpy(rec->ext, ext, n);
    rec->extlen = n;
}

int store_settle_locked(struct mkv_store *s, const char *key, size_t klen, struct mkv_record *rec,
                        char *why, size_t whylen)
{
    char path[MKV_PATH_MAX], suffix[STORE_TMP_SUFFIX_LEN + 1];
    struct mkv_record cur;
    int rc;

    /* Under the lock: the record as the last writer left it. */
    if ((rc = read_record(s, key, klen, &cur, why, whylen)) < 0)
        return rc;
    if (!cur.deleted && store_pending(&cur, suffix)) {
        if (key2path(key, klen, path) < 0)
            return fail(why, whylen, STORE_PLACEMENT, "placement failed");
        if (move_pending(s, &cur, path, suffix, why, whylen) < 0)
            return STORE_VOLUME;
        drop_pending(&cur);
        if (index_put(s->ix, key, klen, &cur) != MKV_OK)
            return index_fail(s, why, whylen, "index write failed");
        log_error("an overwrite left half-way was finished: its value moved into place");
    }
    *rec = cur;
    return STORE_OK;
}

int store_settle(struct mkv_store *s, const char *key, size_t klen, struct mkv_record *rec,
                 char *why, size_t whylen)
{
    struct mkv_keylock kl;
    int rc = index_lock(s->ix, key, klen, &kl);

    /* The writer killed may still hold the lock until failchk releases it
     * (at once when no dead process holds anything). */
    if (rc == MKV_BUSY)
        rc = index_lock_after_dead(s->ix, key, klen, &kl, DEAD_HOLDER_WAIT_MS);
    if (rc == MKV_BUSY)
        return STORE_BUSY;
    if (rc != MKV_OK)
        return index_fail(s, why, whylen, "index lock failed");
    rc = store_settle_locked(s, key, klen, rec, why, whylen);
    index_unlock(s->ix, &kl);
    return rc;
}

/* ---- DELETE / UNLINK -------------------------------------------------- */

int store_delete_targets(const struct mkv_config *cfg, const char *key, size_t klen,
                         const struct mkv_record *rec, const char *path, char urls[][URL_MAX],
                         char **ptrs)
{
    struct mkv_placement p;
    int n = 0;

    if (key2volumes(cfg, key, klen, &p) < 0)
        return -1;
    for (int i = 0; rec && i < rec->nvols; i++) {
        volume_url(cfg, urls[n], URL_MAX, rec->vols[i], path);
        ptrs[n] = urls[n];
        n++;
    }
    for (int i = 0; i < p.n; i++) {
        int listed = 0;
        for (int j = 0; rec && j < rec->nvols; j++)
            listed |= !strcmp(rec->vols[j], p.vols[i]);
        if (listed)
            continue;
        volume_url(cfg, urls[n], URL_MAX, p.vols[i], path);
        ptrs[n] = urls[n];
        n++;
    }
    return n;
}

/* Marks rec SOFT in the index, if it is not yet. */
static int mark_soft(struct mkv_store *s, const char *key, size_t klen, struct mkv_record *rec,
                     char *why, size_t whylen)
{
    if (rec->deleted)
        return STORE_OK;
    rec->deleted = 1;
    if (index_put(s->ix, key, klen, rec) != MKV_OK)
        return fail(why, whylen, STORE_INDEX, "index write failed");
    return STORE_OK;
}

int store_remove(struct mkv_store *s, const char *key, size_t klen, struct mkv_record *rec,
                 char *const *urls, int n, char *why, size_t whylen)
{
    int rc;

    /* SOFT first: if a volume fails, the key reads as absent and ?unlinked
     * lists it until a DELETE succeeds.  A malformed record is not rewritten
     * (nothing in it is trusted): it is only removed. */
    if (rec && (rc = mark_soft(s, key, klen, rec, why, whylen)) < 0)
        return rc;
    if (vclient_delete(s->vc, urls, n, why, whylen) < 0)
        return STORE_VOLUME;
    rc = index_del(s->ix, key, klen);
    if (rc < 0 && rc != MKV_NOTFOUND)
        return fail(why, whylen, STORE_INDEX, "index delete failed");
    return STORE_OK;
}

int store_pending(const struct mkv_record *rec, char *suffix)
{
    size_t len;
    const unsigned char *v;

    if (!recbin_ext_find(rec->ext, rec->extlen, STORE_EXT_PENDING, &v, &len) ||
        len != STORE_TMP_SUFFIX_LEN)
        return 0;
    memcpy(suffix, v, len);
    suffix[len] = '\0';
    return 1;
}

/* An overwrite that failed or died before its moves left its value under
 * a temporary name the record keeps: those files go too. */
static int add_pending(const struct mkv_record *rec, char url[][URL_MAX], char **urls, int n)
{
    char suffix[STORE_TMP_SUFFIX_LEN + 1];
    int m = n;

    if (!store_pending(rec, suffix))
        return n;
    for (int i = 0; i < n && m < 2 * STORE_TARGETS_MAX; i++, m++) {
        snprintf(url[m], URL_MAX, "%s%s", urls[i], suffix);
        urls[m] = url[m];
    }
    return m;
}

/* Removes the key's replicas and record (store_remove), on the volumes its
 * record lists and placement names. */
static int purge(struct mkv_store *s, const char *key, size_t klen, struct mkv_record *rec,
                 struct store_note *note, char *why, size_t whylen)
{
    char url[2 * STORE_TARGETS_MAX][URL_MAX], path[MKV_PATH_MAX], *urls[2 * STORE_TARGETS_MAX];
    int n;

    if (key2path(key, klen, path) < 0 ||
        (n = store_delete_targets(s->cfg, key, klen, rec, path, url, urls)) < 0)
        return fail(why, whylen, STORE_PLACEMENT, "placement failed");
    n = add_pending(rec, url, urls, n);
    if (rec->nvols > 0)
        snprintf(note->volume, sizeof(note->volume), "%s", rec->vols[0]);
    return store_remove(s, key, klen, rec, urls, n, why, whylen);
}

int store_delete(struct mkv_store *s, const char *key, size_t klen, const char *request_id,
                 int unlink_only, struct store_note *note, char *why, size_t whylen)
{
    struct mkv_record rec;
    struct mkv_keylock kl;
    int rc, retry;

    memset(note, 0, sizeof(*note));
    if ((rc = lock_key(s, key, klen, request_id, &kl, &retry, why, whylen)) < 0)
        return rc;
    rc = read_record(s, key, klen, &rec, why, whylen);
    if (rc == STORE_ABSENT || (rc == STORE_OK && unlink_only && rec.deleted)) {
        /* The retry of a DELETE (UNLINK) whose worker died after doing it:
         * the key is gone (unlinked), as asked. */
        int done = retry && (unlink_only ? rc == STORE_OK : rc == STORE_ABSENT);
        rc = done ? STORE_OK : fail(why, whylen, STORE_ABSENT, "no such key");
        goto unlock;
    }
    if (rc < 0)
        goto unlock;
    if (!unlink_only && !rec.deleted && s->cfg->protect) {
        rc = fail(why, whylen, STORE_PROTECTED, "protected: UNLINK the key before deleting it");
        goto unlock;
    }
    rc = unlink_only ? mark_soft(s, key, klen, &rec, why, whylen)
                     : purge(s, key, klen, &rec, note, why, whylen);
    if (rc == STORE_INDEX && s->ix->panic)
        rc = recovering(why, whylen);

unlock:
    index_unlock(s->ix, &kl);
    return rc;
}
