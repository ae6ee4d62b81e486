/* s3meta.c: an object's S3 headers in its record (see s3meta.h). */
#include "s3meta.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "recbin.h"

static const struct {
    unsigned type;
    const char *param; /* the FastCGI parameter */
    const char *header;
} fields[] = {
    {S3META_CONTENT_TYPE, "CONTENT_TYPE", "Content-Type"},
    {S3META_CONTENT_ENCODING, "HTTP_CONTENT_ENCODING", "Content-Encoding"},
    {S3META_CONTENT_DISPOSITION, "HTTP_CONTENT_DISPOSITION", "Content-Disposition"},
    {S3META_CACHE_CONTROL, "HTTP_CACHE_CONTROL", "Cache-Control"},
    {S3META_CONTENT_LANGUAGE, "HTTP_CONTENT_LANGUAGE", "Content-Language"},
    {S3META_EXPIRES, "HTTP_EXPIRES", "Expires"},
    {S3META_STORAGE_CLASS, "HTTP_X_AMZ_STORAGE_CLASS", "x-amz-storage-class"},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

const char *s3meta_header(unsigned type)
{
    if (type == S3META_USER)
        return "x-amz-meta-";
    for (size_t i = 0; i < NFIELDS; i++)
        if (fields[i].type == type)
            return fields[i].header;
    return NULL;
}

void s3meta_parts_put(unsigned char out[S3META_PARTS_LEN], long long size, int count)
{
    for (int i = 0; i < 8; i++)
        out[i] = (unsigned char)((unsigned long long)size >> (56 - 8 * i));
    for (int i = 0; i < 4; i++)
        out[8 + i] = (unsigned char)((unsigned)count >> (24 - 8 * i));
}

int s3meta_parts_get(const unsigned char *ext, size_t len, long long *size, int *count)
{
    const unsigned char *v;
    unsigned long long s = 0;
    unsigned c = 0;
    size_t n;

    if (!recbin_ext_find(ext, len, S3META_PARTS, &v, &n) || n != S3META_PARTS_LEN)
        return 0;
    for (int i = 0; i < 8; i++)
        s = s << 8 | v[i];
    for (int i = 8; i < 12; i++)
        c = c << 8 | v[i];
    *size = (long long)s;
    *count = (int)c;
    return 1;
}

/* S3's storage classes (botocore's StorageClass): all one class here, the
 * name kept for clients that read it back. */
static int storage_class_ok(const char *v)
{
    static const char *const classes[] = {
        "STANDARD",       "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
        "GLACIER",        "DEEP_ARCHIVE",       "OUTPOSTS",    "GLACIER_IR", "SNOW",
        "EXPRESS_ONEZONE"};

    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++)
        if (!strcmp(v, classes[i]))
            return 1;
    return 0;
}

/* A value that can go back into a header line as it is. */
static int header_safe(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < 0x20 && *v != '\t')
            return 0;
    return 1;
}

static int add(unsigned char *ext, size_t cap, size_t *len, unsigned type, const char *v, size_t n,
               char *why, size_t whylen)
{
    if (recbin_ext_add(ext, cap, len, type, v, n) < 0) {
        snprintf(why, whylen, "the object's headers are too long");
        return -1;
    }
    return 0;
}

/* "HTTP_X_AMZ_META_MY_KEY=v" -> "my-key: v". */
static int add_user(const char *e, unsigned char *ext, size_t cap, size_t *len, size_t *user,
                    char *why, size_t whylen)
{
    const char *eq = strchr(e, '=');
    char buf[S3META_USER_MAX + 4];
    size_t o = 0, nl, vl;

    if (!eq)
        return 0;
    e += strlen("HTTP_X_AMZ_META_");
    nl = (size_t)(eq - e);
    vl = strlen(eq + 1);
    *user += nl + vl;
    if (*user > S3META_USER_MAX || nl == 0) {
        snprintf(why, whylen, "Your metadata headers exceed the maximum allowed metadata size.");
        return -1;
    }
    if (!header_safe(eq + 1)) {
        snprintf(why, whylen, "a metadata value holds a control character");
        return -1;
    }
    for (size_t i = 0; i < nl; i++)
        buf[o++] = e[i] == '_' ? '-' : (char)tolower((unsigned char)e[i]);
    buf[o++] = ':';
    buf[o++] = ' ';
    memcpy(buf + o, eq + 1, vl);
    return add(ext, cap, len, S3META_USER, buf, o + vl, why, whylen);
}

int s3meta_from_request(char **envp, unsigned char *ext, size_t cap, size_t *len, char *why,
                        size_t whylen)
{
    size_t user = 0;

    *len = 0;
    for (size_t i = 0; i < NFIELDS; i++)
        for (char **e = envp; *e; e++) {
            size_t pl = strlen(fields[i].param);
            const char *v = *e + pl + 1;

            if (strncmp(*e, fields[i].param, pl) != 0 || (*e)[pl] != '=' || !*v)
                continue;
            if (!header_safe(v)) {
                snprintf(why, whylen, "%s holds a control character", fields[i].header);
                return -1;
            }
            if (fields[i].type == S3META_STORAGE_CLASS) {
                if (!storage_class_ok(v)) {
                    snprintf(why, whylen, "The storage class you specified is not valid");
                    return S3META_BAD_CLASS;
                }
                if (!strcmp(v, "STANDARD"))
                    break;
            }
            if (add(ext, cap, len, fields[i].type, v, strlen(v), why, whylen) < 0)
                return -1;
            break;
        }
    for (char **e = envp; *e; e++)
        if (!strncmp(*e, "HTTP_X_AMZ_META_", 16) &&
            add_user(*e, ext, cap, len, &user, why, whylen) < 0)
            return -1;
    return 0;
}
