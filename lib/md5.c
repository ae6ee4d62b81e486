/* md5.c: MD5 helpers over OpenSSL EVP. */
#include "md5.h"

#include "hex.h"

#include <openssl/evp.h>

int md5_init(struct mkv_md5 *m)
{
    m->ctx = EVP_MD_CTX_new();
    if (!m->ctx)
        return -1;
    if (EVP_DigestInit_ex(m->ctx, EVP_md5(), NULL) != 1) {
        md5_free(m);
        return -1;
    }
    return 0;
}

int md5_update(struct mkv_md5 *m, const void *data, size_t len)
{
    return EVP_DigestUpdate(m->ctx, data, len) == 1 ? 0 : -1;
}

int md5_final(struct mkv_md5 *m, unsigned char digest[16])
{
    unsigned int n = 0;
    int ok = EVP_DigestFinal_ex(m->ctx, digest, &n) == 1 && n == 16;

    md5_free(m);
    return ok ? 0 : -1;
}

void md5_free(struct mkv_md5 *m)
{
    EVP_MD_CTX_free(m->ctx);
    m->ctx = NULL;
}

int md5_digest(const void *data, size_t len, unsigned char digest[16])
{
    unsigned int n = 0;

    return EVP_Digest(data, len, digest, &n, EVP_md5(), NULL) == 1 && n == 16 ? 0 : -1;
}

void md5_hex(const unsigned char digest[16], char out[33])
{
    hex_encode(digest, 16, out);
}
