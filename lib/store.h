/* store.h: the write sequences of one key: PUT, DELETE and UNLINK.
 *
 * Shared by every route that changes a key (the native HTTP API, and the S3
 * routes to come): a route parses its request into a key, a body and a
 * request id, calls one of these, and maps the result to its own statuses.
 * Nothing here knows HTTP.
 *
 * Every sequence runs under the key's cross-process write lock and keeps the
 * index pointing only at data that exists (docs/compat.md §6):
 *   PUT:    SOFT record -> replicas written -> live record (flushed)
 *   DELETE: SOFT record -> replicas removed -> record removed
 *   UNLINK: SOFT record
 * A failure at any step undoes what it can; what it cannot undo is left
 * SOFT (listed by ?unlinked, purged by DELETE), never live.
 *
 * Results follow lib/'s convention: 0 on success, a negative STORE_* code
 * otherwise, with a one-line reason in the caller's buffer. */
#ifndef MKV_STORE_H
#define MKV_STORE_H

#include <stddef.h>

#include "config.h"
#include "index.h"
#include "record.h"
#include "seen.h"
#include "volume.h"

enum {
    STORE_OK = 0,
    STORE_EXISTS = -1,        /* PUT: a live record exists */
    STORE_ABSENT = -2,        /* DELETE/UNLINK: no record (UNLINK: none live) */
    STORE_BUSY = -3,          /* another write of the key holds its lock */
    STORE_PROTECTED = -4,     /* DELETE of a live key under protect = yes */
    STORE_EMPTY = -5,         /* PUT: the body has no byte */
    STORE_BODY = -6,          /* PUT: reading the body failed, or its length was wrong */
    STORE_BADMD5 = -7,        /* PUT: the body's MD5 is not the one announced */
    STORE_VOLUME = -8,        /* a volume failed; nothing is left live */
    STORE_INDEX = -9,         /* the index failed; nothing changed that is live */
    STORE_RECOVERING = -10,   /* the index needs recovery (under way): retry */
    STORE_UNSURE = -11,       /* PUT: the live record's flush failed: left SOFT */
    STORE_BADREC = -12,       /* the key's stored record is malformed */
    STORE_PLACEMENT = -13,    /* no placement for the key */
    STORE_PRECONDITION = -14, /* PUT: the body's precondition refused the write */
};

/* What one request thread writes with. */
struct mkv_store {
    const struct mkv_config *cfg;
    struct mkv_index *ix;
    struct mkv_vclient *vc;
    struct mkv_seen *seen; /* may be NULL: no request is taken for a retry */
};

/* A PUT's value. */
struct store_body {
    long long length; /* bytes, or -1 when unknown (chunked) */
    body_read_fn rd;  /* reads it */
    void *rdarg;
    const unsigned char *want_md5; /* 16 bytes the body must hash to, or NULL */
    /* Optional record fields (recbin.h's EXT) by type: 1-99 S3's (s3meta.h);
     * STORE_EXT_PENDING the store's own: the temporary name (".mkvtmp-<16 hex>")
     * of a value an overwrite has recorded but not yet moved into place. */
#define STORE_EXT_PENDING    100
#define STORE_TMP_SUFFIX_LEN 24 /* ".mkvtmp-" + 16 hex digits */

    /* S3's PutObject: a live value is replaced (atomically: store_put) instead
     * of STORE_EXISTS, and the record keeps these optional fields (recbin.h's
     * EXT; lib/s3meta.h says which). */
    int overwrite;
    const unsigned char *ext;
    size_t extlen;
    /* S3 stores empty objects (directory markers); the native API, as the
     * original, refuses an empty PUT (STORE_EMPTY). */
    int allow_empty;
    /* S3's conditional PutObject: called under the key's lock with the live
     * record (NULL: none); non-zero refuses the write (STORE_PRECONDITION),
     * before any byte is written. */
    int (*precondition)(void *arg, const struct mkv_record *live);
    void *precondition_arg;
    /* Fields known only once the body has been read whole and checked (S3's
     * checksum in an aws-chunked trailer): called then, before the record is
     * written, to add them to ext (cap bytes, *len used).  Optional. */
    void (*final_ext)(void *arg, unsigned char *ext, size_t cap, size_t *len);
    void *final_ext_arg;
};

/* What a call did besides its result: for the caller's log line and stats. */
struct store_note {
    long long bytes_in;           /* body bytes read (PUT) */
    char volume[MKV_VOLPATH_MAX]; /* the first volume written or removed from */
    unsigned char md5[16];        /* PUT: the MD5 of the value stored */
};

/* Stores a new value for key: 0 once every replica holds it and its live
 * record is on disk.  request_id (nginx's $request_id, "" when none) lets
 * the retry of a PUT whose worker died after storing this same body succeed
 * instead of meeting STORE_EXISTS.
 *
 * Over a live value (b->overwrite) the new one is written beside the old
 * file on each replica ("<path>.mkvtmp-<random>", a name mkv-rebuild
 * skips); then the record names the new value and that name
 * (STORE_EXT_PENDING: readers are sent to it); after a grace period
 * (readers sent to the old file have opened it) it is moved over the old
 * file, and the record loses the name (a reader sent to the name after the
 * move is sent on to the value's own path: nginx/mkv-s3.conf).  A reader
 * meets the old value with the old ETag or the new value with the new one,
 * never a missing one. */
int store_put(struct mkv_store *s, const char *key, size_t klen, const char *request_id,
              const struct store_body *b, struct store_note *note, char *why, size_t whylen);

/* 1 when rec names an overwrite's value not yet moved into place, with its
 * temporary name in suffix (STORE_TMP_SUFFIX_LEN + 1 bytes); else 0. */
int store_pending(const struct mkv_record *rec, char *suffix);

/* Finishes the overwrite of key that rec (read by the caller, without the
 * key's lock) names as pending, when no writer is at it: a worker killed
 * between recording the new value and moving it over the old file left it
 * under its temporary name, where S3 reads find it but the original's path
 * still holds the old value.  With the key's lock free (a writer holds it
 * for the whole overwrite; this waits only for a dead one's), the temporary files are
 * moved over the path (one already gone was moved before the kill) and the
 * record loses the name; rec is then the record as stored.  STORE_OK (done,
 * or nothing left to do), STORE_BUSY (a writer holds the lock: rec stands),
 * or an error with rec unchanged and the name kept for the next reader. */
int store_settle(struct mkv_store *s, const char *key, size_t klen, struct mkv_record *rec,
                 char *why, size_t whylen);

/* store_settle for a caller that holds the key's lock (mkv-rebalance, which
 * would otherwise copy the old value that the path still holds). */
int store_settle_locked(struct mkv_store *s, const char *key, size_t klen, struct mkv_record *rec,
                        char *why, size_t whylen);

/* Removes key: its replicas (every volume the record lists or placement
 * names), then its record.  unlink_only: only marks the record SOFT (the
 * replicas stay; DELETE purges it later).  A retried request whose first try
 * already did this gets 0, not STORE_ABSENT. */
int store_delete(struct mkv_store *s, const char *key, size_t klen, const char *request_id,
                 int unlink_only, struct store_note *note, char *why, size_t whylen);

/* The URLs a DELETE of key removes, into urls (ptrs[i] = urls[i]): every
 * volume rec lists (rec may be NULL: a malformed record names none we can
 * trust), then every volume placement names that rec does not.  A record
 * rebuilt while the key was being crawled may not list every replica yet;
 * removing only those would let the crawl bring the key back from the
 * others.  A volume without the file answers 404: fine.  Returns how many,
 * or -1 when the key has no placement. */
#define STORE_TARGETS_MAX (MKV_RECORD_VOLS + MKV_MAX_REPLICAS)
int store_delete_targets(const struct mkv_config *cfg, const char *key, size_t klen,
                         const struct mkv_record *rec, const char *path, char urls[][URL_MAX],
                         char **ptrs);

/* DELETE's sequence on a key whose lock the caller holds (or that no worker
 * locks: over MKV_KEY_MAX bytes), for a caller that picks the lock and the
 * targets itself (mkv-delete): rec marked SOFT (unless it is already; rec
 * NULL: the stored record is malformed and left as it is), then the files at
 * urls[0..n) removed, then the record.  STORE_INDEX ("index write failed",
 * "index delete failed") or STORE_VOLUME (the volume's reason; the record
 * stays) with the reason in why.  s->seen is not used. */
int store_remove(struct mkv_store *s, const char *key, size_t klen, struct mkv_record *rec,
                 char *const *urls, int n, char *why, size_t whylen);

#endif
