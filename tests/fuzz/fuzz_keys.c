/* fuzz_keys.c: libFuzzer harness for request path, query and Content-MD5
 * decoding.  Properties: decoding never yields NUL; an accepted key obeys
 * every key rule; escaping a decoded key and decoding it again gives it back;
 * an accepted Content-MD5 is 32 hex digits or 24 base64 characters that
 * encode the digest it gave. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "keys.h"
#include "placement.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char out[MKV_URI_MAX], esc[3 * MKV_URI_MAX + 1], back[MKV_URI_MAX], s[MKV_URI_MAX + 1];
    struct mkv_reject r;
    const char *q;
    size_t n, m;
    long long limit;
    int found;

    if (size > MKV_URI_MAX)
        return 0;
    for (int plus = 0; plus < 2; plus++) {
        if (url_decode((const char *)data, size, plus, out, sizeof(out), &n, &r) == 0) {
            if (memchr(out, '\0', n) || out[n] != '\0')
                abort();
            if (url_escape_path(out, n, esc, sizeof(esc)) >= 0 && !plus) {
                if (url_decode(esc, strlen(esc), 0, back, sizeof(back), &m, &r) != 0 || m != n ||
                    memcmp(back, out, n) != 0)
                    abort();
            }
            if (key_check(out, n, &r) == 0 && (n > MKV_KEY_MAX || n < 2 || out[0] != '/'))
                abort();
        } else if (r.status < 400 || r.status > 499 || !r.why) {
            abort();
        }
    }
    /* escape_nonprint and unescape_nonprint are inverses on any bytes. */
    if (escape_nonprint((const char *)data, size, esc, sizeof(esc)) >= 0 &&
        (unescape_nonprint(esc, strlen(esc), back, sizeof(back)) != (long)size ||
         memcmp(back, data, size) != 0))
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    if (strlen(s) == size) {
        if (key_from_uri(s, out, sizeof(out), &n, &q, &r) == 0 && q && (q < s || q > s + size))
            abort();
        if (query_op_len(s) > size)
            abort();
        if (query_param(s, "limit", out, 64, &n, &found, &r) == 0 && found && n >= 64)
            abort();
        if (query_param(s, "start", out, sizeof(out), &n, &found, &r) < 0 && r.status == 0)
            abort();
        if (parse_limit(s, &limit, &r) == 0 &&
            (limit > 999999999999999999LL || limit < -999999999999999999LL))
            abort();
    }
    if (strlen(s) == size) {
        unsigned char d[16], b64[32];
        char hex[33];
        if (parse_content_md5(s, d) == 0) {
            if (size == 32) {
                for (int i = 0; i < 16; i++)
                    snprintf(hex + 2 * i, 3, "%02x", d[i]);
                if (strcasecmp(hex, s) != 0)
                    abort();
            } else if (size != 24 || EVP_EncodeBlock(b64, d, 16) != 24 || memcmp(b64, s, 24) != 0) {
                abort();
            }
        }
    }
    if (escape_nonprint((const char *)data, size, esc, sizeof(esc)) >= 0)
        for (const char *p = esc; *p; p++)
            if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
                abort();
    return 0;
}
