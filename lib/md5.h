/* md5.h: MD5 through OpenSSL's EVP interface (MD5() is deprecated in 3.0). */
#ifndef MKV_MD5_H
#define MKV_MD5_H

#include <stddef.h>

struct evp_md_ctx_st;

struct mkv_md5 {
    struct evp_md_ctx_st *ctx;
};

int md5_init(struct mkv_md5 *m);
int md5_update(struct mkv_md5 *m, const void *data, size_t len);
/* Writes the 16-byte digest and frees the context. */
int md5_final(struct mkv_md5 *m, unsigned char digest[16]);
void md5_free(struct mkv_md5 *m);

/* One-shot digest of a buffer; returns 0 or -1. */
int md5_digest(const void *data, size_t len, unsigned char digest[16]);

/* 32 lowercase hex digits + NUL. */
void md5_hex(const unsigned char digest[16], char out[33]);

#endif
