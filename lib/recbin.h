/* recbin.h: the stored form of a record, format 1 (docs/compat.md §3).
 *
 * The index keeps records in this compact binary form; the original's text
 * (record.h) is what every boundary shows (mkv-dump, mkv-import, headers).
 * A text record never starts with a byte below 0x20, so the first byte, the
 * format number, tells the two apart.
 *
 *     byte 0    1 (the format)
 *     byte 1    flags: SOFT, MD5, IMPLIED, SIZE, MTIME, EXT (below)
 *     IMPLIED:  varint set        the volumes are the key's placement over
 *                                 volume set `set` (lib/voltab.h)
 *     else:     varint n, then n x (varint name, varint sub)
 *                                 name: a volume table id ("host:port");
 *                                 sub: 0 none, else 1 + the subvolume
 *                                 ("/sv%02X")
 *     MTIME:    5 bytes           write time, seconds, big-endian
 *     MD5:      16 bytes          the value's MD5
 *     SIZE:     varint            the value's length in bytes
 *     EXT:      the rest          optional fields, each varint type,
 *                                 varint length, bytes; kept verbatim by
 *                                 code that does not know a type
 *
 * Varints are LEB128 (7 bits a byte, low first).  The fields that neighbours
 * in key order tend to share come first (format, flags, volume set, the high
 * bytes of the time), so the B-tree's prefix compression (recbin_compress)
 * stores them once a run of keys. */
#ifndef MKV_RECBIN_H
#define MKV_RECBIN_H

#include <db.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

#define RECBIN_FORMAT 1
#define RECBIN_MAX    (2 + 5 + 5 + MKV_RECORD_VOLS * 10 + 5 + 16 + 10 + MKV_RECORD_EXT_MAX)

enum {
    RECBIN_SOFT = 1 << 0,
    RECBIN_MD5 = 1 << 1,
    RECBIN_IMPLIED = 1 << 2,
    RECBIN_SIZE = 1 << 3,
    RECBIN_MTIME = 1 << 4,
    RECBIN_EXT = 1 << 5,
    RECBIN_FLAGS = (1 << 6) - 1, /* every flag this format knows */
};

struct recbin_vol {
    uint32_t name; /* volume table id, >= 1 */
    uint32_t sub;  /* 0: no subvolume, else 1 + the subvolume */
};

/* A record with its volumes as table references. */
struct recbin {
    unsigned flags;
    uint32_t set; /* IMPLIED: the volume set */
    int nvols;    /* otherwise */
    struct recbin_vol vols[MKV_RECORD_VOLS];
    int64_t mtime;
    unsigned char md5[16];
    uint64_t size;
    const unsigned char *ext; /* EXT: into the decoded buffer, or the record's ext */
    size_t extlen;
};

/* 1 when the n bytes at buf are a stored record of format 1 (by its first
 * byte; recbin_decode says whether it is sound). */
int recbin_is(const void *buf, size_t n);

/* Writes r to out (cap bytes).  Returns the length, or -1 if it does not fit
 * or a field is out of range. */
int recbin_encode(const struct recbin *r, unsigned char *out, size_t cap);

/* Parses len bytes.  0, or -1 when they are not a sound format-1 record
 * (unknown flags, a varint past its bounds or past the end, an id of 0,
 * optional fields that do not parse). */
int recbin_decode(const unsigned char *buf, size_t len, struct recbin *r);

/* Splits a volume path ("host[:port][/svXX]") into the part a volume table
 * entry names and the subvolume reference: *namelen bytes of path, *sub 0
 * or 1 + the subvolume.  A subvolume written other than "%02X" of its
 * number (a leading zero: "/sv001") stays in the name, so the text comes
 * back byte for byte. */
void recbin_split_volpath(const char *path, size_t len, size_t *namelen, uint32_t *sub);

/* Writes name (namelen bytes) and the subvolume reference sub back into a
 * volume path in out (MKV_VOLPATH_MAX bytes).  0, or -1 if it does not fit. */
int recbin_join_volpath(const char *name, size_t namelen, uint32_t sub, char *out);

/* Appends one optional field (type, n bytes of v) to the *len bytes of
 * fields at ext (cap bytes): 0, or -1 when it does not fit. */
int recbin_ext_add(unsigned char *ext, size_t cap, size_t *len, unsigned type, const void *v,
                   size_t n);

/* The optional field at *pos of the len bytes at ext: 1 with its type and
 * bytes (*pos moves past it), 0 at the end, -1 when they do not parse. */
int recbin_ext_next(const unsigned char *ext, size_t len, size_t *pos, unsigned *type,
                    const unsigned char **v, size_t *n);
/* The first optional field of that type: 1 with its bytes, else 0. */
int recbin_ext_find(const unsigned char *ext, size_t len, unsigned type, const unsigned char **v,
                    size_t *n);
/* The fields at ext but those of the ndrop types at drop, appended to the
 * *outlen bytes at out (cap bytes): 0, or -1 when they do not fit. */
int recbin_ext_without(const unsigned char *ext, size_t len, const unsigned *drop, size_t ndrop,
                       unsigned char *out, size_t cap, size_t *outlen);

/* The B-tree compression of the records file (DB->set_bt_compress): each
 * pair is stored as the lengths of the prefix and suffix it shares with the
 * pair before it (key and data both; 3 bytes for most pairs) and the bytes
 * between.  Keys of one
 * directory share a prefix and often a suffix (".jpg"); records share their
 * leading fields. */
int recbin_compress(DB *db, const DBT *prevkey, const DBT *prevdata, const DBT *key,
                    const DBT *data, DBT *dest);
int recbin_decompress(DB *db, const DBT *prevkey, const DBT *prevdata, DBT *compressed, DBT *key,
                      DBT *data);

#endif
