/* crawl.c: autoindex JSON listings (jansson) and file name -> key decoding. */
#include "crawl.h"

#include <ctype.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int crawl_parse(const char *json, size_t len, crawl_fn fn, void *arg)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, 0, &jerr);
    size_t i;
    json_t *item;
    int rc = 0;

    if (!root || !json_is_array(root)) {
        json_decref(root);
        return -1;
    }
    json_array_foreach(root, i, item)
    {
        const char *name = json_string_value(json_object_get(item, "name"));
        const char *type = json_string_value(json_object_get(item, "type"));
        struct mkv_dirent e;

        if (!name || !type) {
            rc = -1;
            break;
        }
        e.name = name;
        e.is_dir = !strcmp(type, "directory");
        if (fn(arg, &e) != 0)
            break;
    }
    json_decref(root);
    return rc;
}

struct growbuf {
    char *data;
    size_t len, cap;
};

static int append(void *arg, const char *data, size_t len)
{
    struct growbuf *b = arg;

    if (b->len + len > (size_t)MKV_LISTING_MAX)
        return -1;
    if (b->len + len > b->cap) {
        size_t cap = b->cap ? b->cap : 16384;
        char *p;
        while (cap < b->len + len)
            cap *= 2;
        if (!(p = realloc(b->data, cap)))
            return -1;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int crawl_list(struct mkv_vclient *vc, const char *url, crawl_fn fn, void *arg, char *why,
               size_t whylen)
{
    struct growbuf b = {NULL, 0, 0};
    long code = vclient_get(vc, url, append, &b, why, whylen);
    int rc = 0;

    if (code == 404) {
        rc = 1;
    } else if (code != 200) {
        if (code > 0)
            snprintf(why, whylen, "GET %s answered HTTP %ld", url, code);
        rc = -1;
    } else if (crawl_parse(b.data ? b.data : "", b.len, fn, arg) < 0) {
        snprintf(why, whylen, "GET %s: not an autoindex JSON listing", url);
        rc = -1;
    }
    free(b.data);
    return rc;
}

int name_to_key(const char *name, char *key, size_t cap)
{
    size_t n = strlen(name);
    unsigned char buf[MKV_HASHKEY_MAX + 4];
    unsigned char check[sizeof(buf) * 2];
    int len, pad = 0;

    if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(buf) - 1)
        return -1;
    if (name[n - 1] == '=')
        pad++;
    if (n > 1 && name[n - 2] == '=')
        pad++;
    len = EVP_DecodeBlock(buf, (const unsigned char *)name, (int)n);
    if (len < pad)
        return -1;
    len -= pad;
    /* EVP_DecodeBlock skips blanks and tolerates odd forms: insist that
     * encoding the result gives back exactly the name. */
    if (EVP_EncodeBlock(check, buf, len) != (int)n || memcmp(check, name, n) != 0)
        return -1;
    if ((size_t)len >= cap || memchr(buf, '\0', (size_t)len))
        return -1;
    memcpy(key, buf, (size_t)len);
    key[len] = '\0';
    return len;
}

int is_hex2(const char *name)
{
    return isxdigit((unsigned char)name[0]) && isxdigit((unsigned char)name[1]) && name[2] == '\0';
}

int is_subvolume(const char *name)
{
    size_t n = strlen(name);

    if (n < 4 || name[0] != 's' || name[1] != 'v')
        return 0;
    for (size_t i = 2; i < n; i++)
        if (!isxdigit((unsigned char)name[i]))
            return 0;
    return 1;
}
