/* keys.c: decoding and validating keys and query strings (see keys.h).
 *
 * The decoding itself is libcurl's (curl_easy_unescape/curl_easy_escape);
 * this file adds the strictness curl does not have: it would pass "%zz"
 * through unchanged, and happily decode %00. */
#include "keys.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "num.h"
#include "placement.h"

static int reject(struct mkv_reject *r, int status, const char *why)
{
    r->status = status;
    r->why = why;
    return -1;
}

int url_decode(const char *in, size_t len, int plus_is_space, char *out, size_t cap, size_t *outlen,
               struct mkv_reject *r)
{
    char tmp[MKV_URI_MAX];
    char *dec;
    int n;

    r->status = 0;
    if (len >= sizeof(tmp))
        return reject(r, 414, "request path too long");
    for (size_t i = 0; i < len; i++) {
        char c = in[i];

        if (c == '%') {
            if (i + 2 >= len || hex_value(in[i + 1]) < 0 || hex_value(in[i + 2]) < 0)
                return reject(r, 400, "invalid %-escape");
            if (in[i + 1] == '0' && in[i + 2] == '0')
                return reject(r, 400, "NUL byte (%00) not allowed");
        } else if (c == '\0') {
            return reject(r, 400, "NUL byte not allowed");
        }
        tmp[i] = (plus_is_space && c == '+') ? ' ' : c;
    }
    if (len == 0) { /* curl_easy_unescape takes a length of 0 as "use strlen" */
        if (cap == 0)
            return reject(r, 414, "key too long");
        out[0] = '\0';
        *outlen = 0;
        return 0;
    }
    dec = curl_easy_unescape(NULL, tmp, (int)len, &n);
    if (!dec)
        return reject(r, 500, "out of memory");
    if ((size_t)n >= cap) {
        curl_free(dec);
        return reject(r, 414, "key too long");
    }
    memcpy(out, dec, (size_t)n);
    out[n] = '\0';
    *outlen = (size_t)n;
    curl_free(dec);
    return 0;
}

/* A key's file name is base64 of it: one ending in '/' is a directory. */
static int b64_ends_in_slash(const char *key, size_t klen)
{
    unsigned char b64[4 * ((MKV_KEY_MAX + 2) / 3) + 1];
    int n = EVP_EncodeBlock(b64, (const unsigned char *)key, (int)klen);

    return n > 0 && b64[n - 1] == '/';
}

int key_check_stored(const char *key, size_t klen, struct mkv_reject *r)
{
    r->status = 0;
    if (klen == 0 || key[0] != '/')
        return reject(r, 400, "key must start with /");
    if (klen > MKV_KEY_MAX)
        return reject(r, 414, "key longer than 189 bytes (its file name would exceed 255)");
    if (b64_ends_in_slash(key, klen))
        return reject(r, 400, "key not storable: its base64 file name ends in '/'");
    return 0;
}

int key_check(const char *key, size_t klen, struct mkv_reject *r)
{
    r->status = 0;
    if (klen == 0 || key[0] != '/')
        return reject(r, 400, "key must start with /");
    if (klen == 1)
        return reject(r, 400, "empty key");
    if (klen > MKV_KEY_MAX)
        return reject(r, 414, "key longer than 189 bytes (its file name would exceed 255)");
    for (size_t i = 0; i < klen;) {
        size_t j = i + 1, seg;

        while (j < klen && key[j] != '/')
            j++;
        seg = j - i - 1;
        if ((seg == 1 && key[i + 1] == '.') || (seg == 2 && key[i + 1] == '.' && key[i + 2] == '.'))
            return reject(r, 400, "'.' and '..' path segments are not allowed in keys");
        i = j;
    }
    return key_check_stored(key, klen, r);
}

const char *key_unreachable(const char *key, size_t klen)
{
    struct mkv_reject r;
    long depth = 0;

    if (memchr(key, '\0', klen))
        return "it holds a NUL byte (the fronts refuse %00)";
    if (key_check_stored(key, klen, &r) < 0)
        return r.why;
    /* nginx resolves "." and ".." (and merges "//") before it routes a
     * request, and refuses one whose ".." would climb above "/". */
    for (size_t i = 0; i < klen;) {
        size_t j = i + 1, seg;

        while (j < klen && key[j] != '/')
            j++;
        seg = j - i - 1;
        if (seg == 2 && key[i + 1] == '.' && key[i + 2] == '.') {
            if (depth-- == 0)
                return "a '..' segment climbs above the root (nginx refuses the request)";
        } else if (seg > 0 && !(seg == 1 && key[i + 1] == '.')) {
            depth++;
        }
        i = j;
    }
    return NULL;
}

int key_from_uri(const char *uri, char *key, size_t cap, size_t *klen, const char **query,
                 struct mkv_reject *r)
{
    const char *q = strchr(uri, '?');
    size_t plen = q ? (size_t)(q - uri) : strlen(uri);

    *query = q ? q + 1 : NULL;
    if (url_decode(uri, plen, 0, key, cap, klen, r) < 0)
        return -1;
    return key_check(key, *klen, r);
}

size_t query_op_len(const char *q)
{
    const char *amp = strchr(q, '&');

    return amp ? (size_t)(amp - q) : strlen(q);
}

int query_param(const char *q, const char *name, char *out, size_t cap, size_t *outlen, int *found,
                struct mkv_reject *r)
{
    size_t nlen = strlen(name);

    r->status = 0;
    *found = 0;
    while (*q) {
        const char *amp = strchr(q, '&');
        size_t plen = amp ? (size_t)(amp - q) : strlen(q);

        if (plen > nlen && !strncmp(q, name, nlen) && q[nlen] == '=') {
            *found = 1;
            return url_decode(q + nlen + 1, plen - nlen - 1, 1, out, cap, outlen, r);
        }
        if (!amp)
            break;
        q = amp + 1;
    }
    return 0;
}

int parse_limit(const char *s, long long *out, struct mkv_reject *r)
{
    r->status = 0;
    switch (num_parse(s, -MKV_LIMIT_MAX, MKV_LIMIT_MAX, out)) {
    case 0: return 0;
    case MKV_NUM_RANGE: return reject(r, 400, "limit must be an integer of at most 18 digits");
    default: return reject(r, 400, "limit must be an integer");
    }
}

int url_escape_path(const char *in, size_t len, char *out, size_t cap)
{
    size_t off = 0;

    for (size_t i = 0; i < len;) {
        size_t j = i;
        char *e;
        size_t elen;

        while (j < len && in[j] != '/')
            j++;
        if (j > i) {
            e = curl_easy_escape(NULL, in + i, (int)(j - i));
            if (!e)
                return -1;
            elen = strlen(e);
            if (off + elen >= cap) {
                curl_free(e);
                return -1;
            }
            memcpy(out + off, e, elen);
            off += elen;
            curl_free(e);
        }
        if (j < len) {
            if (off + 1 >= cap)
                return -1;
            out[off++] = '/';
            j++;
        }
        i = j;
    }
    if (off >= cap)
        return -1;
    out[off] = '\0';
    return (int)off;
}

int escape_nonprint(const char *in, size_t len, char *out, size_t cap)
{
    size_t off = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];

        if (c <= 0x20 || c >= 0x7f || c == '%') {
            if (off + 3 >= cap)
                return -1;
            snprintf(out + off, 4, "%%%02X", c);
            off += 3;
        } else {
            if (off + 1 >= cap)
                return -1;
            out[off++] = (char)c;
        }
    }
    if (off >= cap)
        return -1;
    out[off] = '\0';
    return (int)off;
}

long unescape_nonprint(const char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        int c = (unsigned char)in[i];

        if (c == '%') {
            int hi = i + 2 < len ? hex_value(in[i + 1]) : -1;
            int lo = hi < 0 ? -1 : hex_value(in[i + 2]);
            if (lo < 0)
                return -1;
            c = hi * 16 + lo;
            i += 2;
        }
        if (o == cap)
            return -1;
        out[o++] = (char)c;
    }
    return (long)o;
}

/* Content-MD5: 32 hex digits (what the store reports) or RFC 1864 base64. */
int parse_content_md5(const char *s, unsigned char out[16])
{
    size_t n = strlen(s);

    if (n == 32) {
        size_t got = 0;
        return OPENSSL_hexstr2buf_ex(out, 16, &got, s, '\0') == 1 && got == 16 ? 0 : -1;
    }
    if (n == 24 && s[22] == '=' && s[23] == '=') {
        unsigned char buf[18], again[25];
        /* EVP_DecodeBlock takes '=' anywhere as zero bits ("====...==" would
         * be a digest of zeros): the 22 data characters must be base64. */
        for (int i = 0; i < 22; i++)
            if (!isalnum((unsigned char)s[i]) && s[i] != '+' && s[i] != '/')
                return -1;
        if (EVP_DecodeBlock(buf, (const unsigned char *)s, 24) != 18)
            return -1;
        /* The last data character carries 4 unused bits: only the encoding
         * with them zero (the one every encoder makes) is the digest's. */
        if (EVP_EncodeBlock(again, buf, 16) != 24 || memcmp(again, s, 24) != 0)
            return -1;
        memcpy(out, buf, 16);
        return 0;
    }
    return -1;
}

int te_is_chunked(const char *te)
{
    static const char word[] = "chunked";
    size_t n;

    while (*te == ' ' || *te == '\t')
        te++;
    n = strlen(te);
    while (n > 0 && (te[n - 1] == ' ' || te[n - 1] == '\t'))
        n--;
    return n == sizeof(word) - 1 && strncasecmp(te, word, n) == 0;
}
