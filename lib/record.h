/* record.h: the index value, in minikeyvalue's text format (SPEC.md 4):
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

struct mkv_record {
    int deleted;   /* SOFT: unlinked, or a write in progress or failed */
    char hash[33]; /* lowercase hex MD5, or "" */
    int nvols;
    char vols[MKV_RECORD_VOLS][MKV_VOLPATH_MAX];
};

/* Parses len bytes (not NUL-terminated).  Returns 0, or -1 when the text
 * does not fit the format or our limits. */
int record_decode(const char *buf, size_t len, struct mkv_record *rec);

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

#endif
