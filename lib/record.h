/* record.h: the index value, in minikeyvalue's text format (docs/compat.md §3):
 *
 *     ["DELETED"] ["HASH" <32 hex>] volpath ("," volpath)*
 *
 * Kept byte-compatible so dumps compare with the original's index. */
#ifndef MKV_RECORD_H
#define MKV_RECORD_H

#include <stddef.h>

#include "placement.h"

#define MKV_RECORD_VOLS 32 /* volume paths one record may name */
#define MKV_RECORD_MAX  (7 + 4 + 32 + MKV_RECORD_VOLS * MKV_VOLPATH_MAX)

/* Optional fields (record format 1, lib/recbin.h): room for S3's 2 KB of
 * user metadata beside the other headers an object keeps (lib/s3meta.h). */
#define MKV_RECORD_EXT_MAX 4096

/* A record as the code uses it.  The original's text holds the state, the
 * hash and the volumes; the stored form (lib/recbin.h) also the value's size
 * and write time, and optional fields kept as they are (ext). */
struct mkv_record {
    int deleted;   /* SOFT: unlinked, or a write in progress or failed */
    char hash[33]; /* lowercase hex MD5, or "" */
    int nvols;
    char vols[MKV_RECORD_VOLS][MKV_VOLPATH_MAX];
    int has_size; /* size is known (PUT, rebuild); records of the original have none */
    unsigned long long size;
    long long mtime; /* write time, seconds since the epoch; 0: unknown */
    size_t extlen;   /* optional fields, type-length-value (recbin.h), kept verbatim */
    unsigned set;    /* read: the volume set whose placement the volumes are, or 0 */
    unsigned char ext[MKV_RECORD_EXT_MAX];
};

/* Parses len bytes (not NUL-terminated) and validates every field: the hash
 * is 32 lowercase hex digits, and each volume path fits record_volpath_ok.
 * Records come from an imported or damaged index too, and their volume paths
 * end up in Location and Key-Volumes headers: a byte outside the grammar
 * (CR, LF, '@', ...) must never get that far.  Returns 0, or -1 when the text
 * does not fit the format or our limits; record_decode_why also says why in
 * why (whylen bytes; may be NULL), without quoting the record's bytes. */
int record_decode(const char *buf, size_t len, struct mkv_record *rec);
int record_decode_why(const char *buf, size_t len, struct mkv_record *rec, char *why,
                      size_t whylen);

/* 1 when the n bytes at s are a volume path as the original writes them:
 *
 *     host [":" port] ["/sv" 2..8 uppercase hex digits]
 *
 * host a name or IPv4 address (letters, digits, '-', '.', '_') or a
 * bracketed IPv6 address ("[::1]"), port 1..5 digits up to 65535.  The port
 * is optional because the original takes `-volumes` verbatim: a volume
 * "larry" (its unit tests) is port 80.  Subvolume directories are
 * "%02X" of the subvolume number. */
int record_volpath_ok(const char *s, size_t n);

/* Writes the text form to out (cap bytes, NUL-terminated).  Returns its
 * length, or -1 if it does not fit. */
int record_encode(const struct mkv_record *rec, char *out, size_t cap);

/* Sets rec's volumes from a placement. */
void record_set_vols(struct mkv_record *rec, const struct mkv_placement *p);

/* Joins rec's volumes with "," into out; returns the length or -1. */
int record_join_vols(const struct mkv_record *rec, char *out, size_t cap);

/* 1 when rec's volumes equal the placement, in order. */
int record_matches(const struct mkv_record *rec, const struct mkv_placement *p);

/* 1 when rec's first volumes are the placement's, in order (more may follow:
 * the state mkv-rebalance leaves a key in before it removes old copies). */
int record_lists_first(const struct mkv_record *rec, const struct mkv_placement *p);

/* Logs that key's stored record is malformed (its bytes are never shown:
 * the key is, escaped), with the way out.  For every reader that meets
 * MKV_BADREC on behalf of a client. */
void record_log_malformed(const char *key, size_t klen);

#endif
