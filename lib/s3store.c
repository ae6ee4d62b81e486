/* s3store.c: buckets in the index (see s3store.h). */
#include "s3store.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

int s3_bucket_name_ok(const char *b, size_t n)
{
    if (n < 3 || n > S3_BUCKET_MAX || !isalnum((unsigned char)b[0]) ||
        !isalnum((unsigned char)b[n - 1]))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(islower((unsigned char)b[i]) || isdigit((unsigned char)b[i]) || b[i] == '.' ||
              b[i] == '-'))
            return 0;
    return 1;
}

static void put_be64(unsigned char *p, long long v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)((unsigned long long)v >> (56 - 8 * i));
}

static long long get_be64(const unsigned char *p)
{
    unsigned long long v = 0;

    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return (long long)v;
}

static int index_code(int rc, int notfound)
{
    if (rc == MKV_OK)
        return S3STORE_OK;
    if (rc == MKV_NOTFOUND)
        return notfound;
    if (rc == MKV_EXISTS)
        return S3STORE_EXISTS;
    return S3STORE_INDEX;
}

int s3_bucket_create(struct mkv_index *ix, const char *name, size_t len, long long now)
{
    unsigned char t[8];

    put_be64(t, now);
    return index_code(index_meta_add(ix, 'b', name, len, t, sizeof(t)), S3STORE_NOBUCKET);
}

int s3_bucket_get(struct mkv_index *ix, const char *name, size_t len, long long *ctime)
{
    unsigned char t[16];
    size_t n = 0;
    int rc;

    if (!s3_bucket_name_ok(name, len))
        return S3STORE_NOBUCKET;
    rc = index_code(index_meta_get(ix, 'b', name, len, t, sizeof(t), &n), S3STORE_NOBUCKET);
    if (rc == S3STORE_OK && ctime)
        *ctime = n == 8 ? get_be64(t) : 0;
    return rc;
}

struct first_live {
    char prefix[S3_BUCKET_MAX + 3];
    size_t plen;
    int found;
};

static int any_live(void *arg, const char *key, size_t klen, const struct mkv_record *rec,
                    const char *raw, size_t rawlen)
{
    struct first_live *f = arg;

    (void)raw;
    (void)rawlen;
    if (klen < f->plen || memcmp(key, f->prefix, f->plen) != 0)
        return 1;
    if (rec && rec->deleted)
        return 0; /* SOFT: not an object S3 lists */
    f->found = 1;
    return 1;
}

int s3_bucket_delete(struct mkv_index *ix, const char *name, size_t len)
{
    struct first_live f = {0};
    int rc;

    if ((rc = s3_bucket_get(ix, name, len, NULL)) != S3STORE_OK)
        return rc;
    f.plen = (size_t)snprintf(f.prefix, sizeof(f.prefix), "/%.*s/", (int)len, name);
    if (index_scan(ix, f.prefix, f.plen, 0, any_live, &f) != MKV_OK)
        return S3STORE_INDEX;
    if (f.found)
        return S3STORE_NOTEMPTY;
    return index_code(index_meta_del(ix, 'b', name, len), S3STORE_NOBUCKET);
}

struct list_arg {
    s3_bucket_fn fn;
    void *arg;
};

static int each_bucket(void *arg, const char *name, size_t len, const void *val, size_t vlen)
{
    struct list_arg *l = arg;

    return l->fn(l->arg, name, len, vlen == 8 ? get_be64(val) : 0);
}

int s3_bucket_list(struct mkv_index *ix, s3_bucket_fn fn, void *arg)
{
    struct list_arg l = {fn, arg};

    return index_code(index_meta_list(ix, 'b', NULL, 0, each_bucket, &l), S3STORE_INDEX);
}
