/* placement.h: where a key lives, byte-compatible with minikeyvalue.
 *
 * key2path:    "/" hex(md5[0]) "/" hex(md5[1]) "/" base64std(key)
 * key2volumes: rendezvous hashing, score(v) = md5(key || v), highest first,
 *              subvolume = big-endian uint32(score[12..15]) mod subvolumes. */
#ifndef MKV_PLACEMENT_H
#define MKV_PLACEMENT_H

#include <stddef.h>

#include "config.h"

#define MKV_KEY_MAX     189  /* longest storable key: its base64 name fits 255 bytes */
#define MKV_HASHKEY_MAX 1024 /* longest key placement computes (tests, imports) */
#define MKV_PATH_MAX    1376 /* "/hh/hh/" + base64 of MKV_HASHKEY_MAX bytes + NUL */
#define MKV_VOLPATH_MAX 256  /* "host:port/svXX" + NUL */

struct mkv_placement {
    int n;
    char vols[MKV_MAX_REPLICAS][MKV_VOLPATH_MAX];
};

/* Writes the volume-relative path of key into out (MKV_PATH_MAX bytes).
 * Returns the length, or -1 if the key is longer than MKV_HASHKEY_MAX. */
int key2path(const char *key, size_t klen, char *out);

/* Computes the placement of key over cfg's volumes, cfg->replicas entries,
 * in order.  Returns 0, or -1 on an internal error (out of memory). */
int key2volumes(const struct mkv_config *cfg, const char *key, size_t klen,
                struct mkv_placement *out);

/* Same, over an explicit volume list (the admin tools and unit tests). */
int key2volumes_list(char *const *volumes, int nvolumes, int replicas, int subvolumes,
                     const char *key, size_t klen, struct mkv_placement *out);

#endif
