/* recbin.c: the stored record, format 1, and the records file's B-tree
 * compression (see recbin.h). */
#include "recbin.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hex.h"

/* ---- varints ---- */

static unsigned char *put_varint(unsigned char *p, const unsigned char *end, uint64_t v)
{
    do {
        if (p == end)
            return NULL;
        *p++ = (unsigned char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return p;
}

/* Reads a varint of at most 10 bytes, in its shortest form; NULL past the
 * end, on overflow, or for a longer form. */
static const unsigned char *get_varint(const unsigned char *p, const unsigned char *end,
                                       uint64_t *v)
{
    uint64_t r = 0;

    for (int shift = 0; shift < 64; shift += 7) {
        if (p == end)
            return NULL;
        if (shift == 63 && (*p & 0x7e))
            return NULL; /* past 64 bits */
        r |= (uint64_t)(*p & 0x7f) << shift;
        if (!(*p & 0x80)) {
            /* Only the shortest form: a record reads back to its bytes. */
            if (*p == 0 && shift > 0)
                return NULL;
            *v = r;
            return p + 1;
        }
        p++;
    }
    return NULL;
}

static const unsigned char *get_u32(const unsigned char *p, const unsigned char *end, uint32_t min,
                                    uint32_t *v)
{
    uint64_t x;

    if (!(p = get_varint(p, end, &x)) || x < min || x > UINT32_MAX)
        return NULL;
    *v = (uint32_t)x;
    return p;
}

int recbin_is(const void *buf, size_t n)
{
    return n >= 2 && ((const unsigned char *)buf)[0] == RECBIN_FORMAT;
}

/* ---- the record ---- */

static unsigned char *put_vols(const struct recbin *r, unsigned char *p, const unsigned char *end)
{
    if (r->flags & RECBIN_IMPLIED)
        return r->set ? put_varint(p, end, r->set) : NULL;
    if (r->nvols < 0 || r->nvols > MKV_RECORD_VOLS || !(p = put_varint(p, end, (uint64_t)r->nvols)))
        return NULL;
    for (int i = 0; i < r->nvols && p; i++) {
        if (r->vols[i].name == 0)
            return NULL;
        p = put_varint(p, end, r->vols[i].name);
        p = p ? put_varint(p, end, r->vols[i].sub) : NULL;
    }
    return p;
}

int recbin_encode(const struct recbin *r, unsigned char *out, size_t cap)
{
    unsigned char *p = out, *end = out + cap;

    if (cap < 2 || (r->flags & ~(unsigned)RECBIN_FLAGS) ||
        ((r->flags & RECBIN_MTIME) && (r->mtime < 0 || r->mtime >= (int64_t)1 << 40)))
        return -1;
    *p++ = RECBIN_FORMAT;
    *p++ = (unsigned char)r->flags;
    if (!(p = put_vols(r, p, end)))
        return -1;
    if (r->flags & RECBIN_MTIME) {
        if (end - p < 5)
            return -1;
        for (int b = 4; b >= 0; b--)
            *p++ = (unsigned char)((uint64_t)r->mtime >> (8 * b));
    }
    if (r->flags & RECBIN_MD5) {
        if (end - p < 16)
            return -1;
        memcpy(p, r->md5, 16);
        p += 16;
    }
    if ((r->flags & RECBIN_SIZE) && !(p = put_varint(p, end, r->size)))
        return -1;
    if (r->flags & RECBIN_EXT) {
        if ((size_t)(end - p) < r->extlen)
            return -1;
        memcpy(p, r->ext, r->extlen);
        p += r->extlen;
    }
    return (int)(p - out);
}

/* The optional fields parse as type-length-value to the end. */
static int ext_ok(const unsigned char *p, const unsigned char *end)
{
    while (p < end) {
        uint64_t type, len;

        if (!(p = get_varint(p, end, &type)) || !(p = get_varint(p, end, &len)) ||
            len > (uint64_t)(end - p))
            return 0;
        p += len;
    }
    return 1;
}

int recbin_ext_add(unsigned char *ext, size_t cap, size_t *len, unsigned type, const void *v,
                   size_t n)
{
    unsigned char *p = ext + *len, *end = ext + cap;

    if (*len > cap || !(p = put_varint(p, end, type)) || !(p = put_varint(p, end, n)) ||
        (size_t)(end - p) < n)
        return -1;
    memcpy(p, v, n);
    *len = (size_t)(p + n - ext);
    return 0;
}

int recbin_ext_next(const unsigned char *ext, size_t len, size_t *pos, unsigned *type,
                    const unsigned char **v, size_t *n)
{
    const unsigned char *p = ext + *pos, *end = ext + len;
    uint64_t t, l;

    if (*pos >= len)
        return 0;
    if (!(p = get_varint(p, end, &t)) || !(p = get_varint(p, end, &l)) || l > (uint64_t)(end - p) ||
        t > UINT32_MAX)
        return -1;
    *type = (unsigned)t;
    *v = p;
    *n = (size_t)l;
    *pos = (size_t)(p + l - ext);
    return 1;
}

int recbin_ext_find(const unsigned char *ext, size_t len, unsigned type, const unsigned char **v,
                    size_t *n)
{
    size_t pos = 0;
    unsigned t;

    while (recbin_ext_next(ext, len, &pos, &t, v, n) == 1)
        if (t == type)
            return 1;
    return 0;
}

int recbin_ext_without(const unsigned char *ext, size_t len, const unsigned *drop, size_t ndrop,
                       unsigned char *out, size_t cap, size_t *outlen)
{
    size_t pos = 0, n, i;
    unsigned t;
    const unsigned char *v;

    while (recbin_ext_next(ext, len, &pos, &t, &v, &n) == 1) {
        for (i = 0; i < ndrop && drop[i] != t; i++)
            ;
        if (i == ndrop && recbin_ext_add(out, cap, outlen, t, v, n) < 0)
            return -1;
    }
    return 0;
}

static const unsigned char *get_vols(struct recbin *r, const unsigned char *p,
                                     const unsigned char *end)
{
    uint32_t n;

    if (r->flags & RECBIN_IMPLIED)
        return get_u32(p, end, 1, &r->set);
    if (!(p = get_u32(p, end, 0, &n)) || n > MKV_RECORD_VOLS)
        return NULL;
    r->nvols = (int)n;
    for (int i = 0; i < r->nvols && p; i++) {
        p = get_u32(p, end, 1, &r->vols[i].name);
        p = p ? get_u32(p, end, 0, &r->vols[i].sub) : NULL;
    }
    return p;
}

int recbin_decode(const unsigned char *buf, size_t len, struct recbin *r)
{
    const unsigned char *p = buf + 2, *end = buf + len;

    memset(r, 0, sizeof(*r));
    if (!recbin_is(buf, len) || (buf[1] & ~RECBIN_FLAGS))
        return -1;
    r->flags = buf[1];
    if (!(p = get_vols(r, p, end)))
        return -1;
    if (r->flags & RECBIN_MTIME) {
        if (end - p < 5)
            return -1;
        for (int b = 0; b < 5; b++)
            r->mtime = (r->mtime << 8) | *p++;
    }
    if (r->flags & RECBIN_MD5) {
        if (end - p < 16)
            return -1;
        memcpy(r->md5, p, 16);
        p += 16;
    }
    if ((r->flags & RECBIN_SIZE) && (!(p = get_varint(p, end, &r->size)) || r->size > INT64_MAX))
        return -1;
    if (r->flags & RECBIN_EXT) {
        if ((size_t)(end - p) > MKV_RECORD_EXT_MAX || !ext_ok(p, end))
            return -1;
        r->ext = p;
        r->extlen = (size_t)(end - p);
        p = end;
    }
    return p == end ? 0 : -1;
}

/* ---- volume paths ---- */

void recbin_split_volpath(const char *path, size_t len, size_t *namelen, uint32_t *sub)
{
    const char *sv = memchr(path, '/', len);
    unsigned long v = 0;
    char canon[16];
    size_t digits;

    *namelen = len;
    *sub = 0;
    if (!sv || (size_t)(path + len - sv) < 5 || memcmp(sv, "/sv", 3) != 0)
        return;
    digits = (size_t)(path + len - sv) - 3;
    if (digits > 8)
        return;
    for (size_t i = 0; i < digits; i++) {
        char c = sv[3 + i];
        int d = hex_value(c); /* lowercase fails the canonical check below */

        if (d < 0)
            return;
        v = v * 16 + (unsigned long)d;
    }
    /* Only the form the original writes: anything else stays in the name. */
    if (v >= UINT32_MAX || snprintf(canon, sizeof(canon), "%02lX", v) != (int)digits ||
        memcmp(canon, sv + 3, digits) != 0)
        return;
    *namelen = (size_t)(sv - path);
    *sub = (uint32_t)v + 1;
}

int recbin_join_volpath(const char *name, size_t namelen, uint32_t sub, char *out)
{
    int n;

    if (sub == 0)
        n = snprintf(out, MKV_VOLPATH_MAX, "%.*s", (int)namelen, name);
    else
        n = snprintf(out, MKV_VOLPATH_MAX, "%.*s/sv%02X", (int)namelen, name, sub - 1);
    return n < 0 || n >= MKV_VOLPATH_MAX ? -1 : 0;
}

/* ---- B-tree compression ---- */

static size_t common_prefix(const DBT *a, const DBT *b)
{
    size_t n = a->size < b->size ? a->size : b->size, i = 0;
    const unsigned char *x = a->data, *y = b->data;

    while (i < n && x[i] == y[i])
        i++;
    return i;
}

/* The suffix b shares with a, not reaching into b's first skip bytes. */
static size_t common_suffix(const DBT *a, const DBT *b, size_t skip)
{
    size_t n = a->size < b->size ? a->size : b->size, i = 0;
    const unsigned char *x = a->data, *y = b->data;

    while (i + skip < n && x[a->size - 1 - i] == y[b->size - 1 - i])
        i++;
    return i;
}

/* The lengths of a pair: the key's shared prefix, its own middle bytes and
 * shared suffix; the data's shared prefix and own bytes.  Most pairs fit the
 * packed form, 3 bytes with the high bit set:
 *
 *     1 | kp:6 | km:4 | kx:3 | dp:4 | dm:6
 *
 * the others a 0 byte and the five as varints. */
#define PACKED(kp, km, kx, dp, dm) (kp < 64 && km < 16 && kx < 8 && dp < 16 && dm < 64)

static unsigned char *put_lengths(unsigned char *p, const unsigned char *end, const size_t *l)
{
    if (PACKED(l[0], l[1], l[2], l[3], l[4])) {
        uint32_t v = 1u << 23 | (uint32_t)l[0] << 17 | (uint32_t)l[1] << 13 | (uint32_t)l[2] << 10 |
                     (uint32_t)l[3] << 6 | (uint32_t)l[4];

        p[0] = (unsigned char)(v >> 16);
        p[1] = (unsigned char)(v >> 8);
        p[2] = (unsigned char)v;
        return p + 3;
    }
    *p++ = 0;
    for (int i = 0; i < 5 && p; i++)
        p = put_varint(p, end, l[i]);
    return p;
}

static const unsigned char *get_lengths(const unsigned char *p, const unsigned char *end,
                                        uint64_t *l)
{
    if (p == end)
        return NULL;
    if (*p & 0x80) {
        uint32_t v;

        if (end - p < 3)
            return NULL;
        v = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
        l[0] = (v >> 17) & 63;
        l[1] = (v >> 13) & 15;
        l[2] = (v >> 10) & 7;
        l[3] = (v >> 6) & 15;
        l[4] = v & 63;
        return p + 3;
    }
    if (*p++ != 0)
        return NULL;
    for (int i = 0; i < 5 && p; i++)
        p = get_varint(p, end, &l[i]);
    return p;
}

int recbin_compress(DB *db, const DBT *prevkey, const DBT *prevdata, const DBT *key,
                    const DBT *data, DBT *dest)
{
    unsigned char head[1 + 5 * 10], *p;
    size_t l[5], need;
    unsigned char *o;

    (void)db;
    l[0] = common_prefix(prevkey, key);
    l[2] = common_suffix(prevkey, key, l[0]);
    l[1] = key->size - l[0] - l[2];
    l[3] = common_prefix(prevdata, data);
    l[4] = data->size - l[3];
    p = put_lengths(head, head + sizeof(head), l); /* 32-bit lengths fit head */
    need = (size_t)(p - head) + l[1] + l[4];
    dest->size = (u_int32_t)need;
    if (need > dest->ulen)
        return DB_BUFFER_SMALL;
    o = dest->data;
    memcpy(o, head, (size_t)(p - head));
    o += p - head;
    memcpy(o, (const unsigned char *)key->data + l[0], l[1]);
    memcpy(o + l[1], (const unsigned char *)data->data + l[3], l[4]);
    return 0;
}

int recbin_decompress(DB *db, const DBT *prevkey, const DBT *prevdata, DBT *compressed, DBT *key,
                      DBT *data)
{
    const unsigned char *p = compressed->data, *end = p + compressed->size;
    uint64_t l[5], kp, km, kx, dp, dm;
    unsigned char *k = key->data, *d = data->data;

    (void)db;
    if (!(p = get_lengths(p, end, l)))
        return EINVAL;
    kp = l[0];
    km = l[1];
    kx = l[2];
    dp = l[3];
    dm = l[4];
    /* Damaged bytes must not read outside the previous pair or the page. */
    if (kp > prevkey->size || kx > prevkey->size - kp || dp > prevdata->size ||
        km > (uint64_t)(end - p) || dm > (uint64_t)(end - p) - km)
        return EINVAL;
    key->size = (u_int32_t)(kp + km + kx);
    data->size = (u_int32_t)(dp + dm);
    if (key->size > key->ulen || data->size > data->ulen)
        return DB_BUFFER_SMALL;
    memcpy(k, prevkey->data, kp);
    memcpy(k + kp, p, km);
    memcpy(k + kp + km, (const unsigned char *)prevkey->data + prevkey->size - kx, kx);
    memcpy(d, prevdata->data, dp);
    memcpy(d + dp, p + km, dm);
    compressed->size = (u_int32_t)(p + km + dm - (const unsigned char *)compressed->data);
    return 0;
}
