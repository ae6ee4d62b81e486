/* placement.c: key -> volume-relative path and key -> volume paths.
 *
 * Must stay byte-identical to minikeyvalue's lib.go: an existing cluster's
 * files are found only if every byte of this matches (docs/compat.md §2). */
#include "placement.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "md5.h"

int key2path(const char *key, size_t klen, char *out)
{
    unsigned char d[16];

    if (klen > MKV_HASHKEY_MAX || md5_digest(key, klen, d) < 0)
        return -1;
    snprintf(out, 8, "/%02x/%02x/", d[0], d[1]);
    /* EVP_EncodeBlock writes standard base64 with '=' padding and a NUL. */
    return 7 + EVP_EncodeBlock((unsigned char *)out + 7, (const unsigned char *)key, (int)klen);
}

struct scored {
    unsigned char score[16];
    int index; /* position in the configured list: keeps the sort stable */
};

static int by_score_desc(const void *a, const void *b)
{
    const struct scored *x = a, *y = b;
    int c = memcmp(y->score, x->score, 16);

    return c ? c : x->index - y->index;
}

int key2volumes_list(char *const *volumes, int nvolumes, int replicas, int subvolumes,
                     const char *key, size_t klen, struct mkv_placement *out)
{
    struct scored s[MKV_MAX_VOLUMES];
    unsigned char buf[MKV_HASHKEY_MAX + MKV_VOLNAME_MAX + 64];

    if (nvolumes > MKV_MAX_VOLUMES || replicas > MKV_MAX_REPLICAS || replicas > nvolumes ||
        klen > MKV_HASHKEY_MAX)
        return -1;
    memcpy(buf, key, klen);
    for (int i = 0; i < nvolumes; i++) {
        size_t vlen = strlen(volumes[i]);

        if (vlen > MKV_VOLNAME_MAX)
            return -1;
        memcpy(buf + klen, volumes[i], vlen);
        if (md5_digest(buf, klen + vlen, s[i].score) < 0)
            return -1;
        s[i].index = i;
    }
    qsort(s, (size_t)nvolumes, sizeof(s[0]), by_score_desc);
    out->n = replicas;
    for (int i = 0; i < replicas; i++) {
        const char *v = volumes[s[i].index];
        const unsigned char *sc = s[i].score;
        unsigned long sv = ((unsigned long)sc[12] << 24) | ((unsigned long)sc[13] << 16) |
                           ((unsigned long)sc[14] << 8) | (unsigned long)sc[15];

        if (subvolumes == 1)
            snprintf(out->vols[i], MKV_VOLPATH_MAX, "%s", v);
        else
            snprintf(out->vols[i], MKV_VOLPATH_MAX, "%s/sv%02lX", v,
                     sv % (unsigned long)subvolumes);
    }
    return 0;
}

int key2volumes(const struct mkv_config *cfg, const char *key, size_t klen,
                struct mkv_placement *out)
{
    return key2volumes_list(cfg->volumes, cfg->nvolumes, cfg->replicas, cfg->subvolumes, key, klen,
                            out);
}
