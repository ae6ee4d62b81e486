/* hex.h: the one hex encoder and decoder, for digests, signatures, upload
 * ids and %XX escapes alike.
 *
 * Digests and ids are written in lowercase, as S3 and the original write
 * them; a digit is read in either case (percent-escapes come in both).
 * ASCII only, whatever the locale: isxdigit() would follow it. */
#ifndef MKV_HEX_H
#define MKV_HEX_H

#include <stddef.h>

/* Writes the n bytes at p as 2n lowercase hex digits and a NUL into out,
 * which holds 2n + 1 bytes. */
void hex_encode(const void *p, size_t n, char *out);

/* The value of one hex digit (0-15), or -1 for any other byte. */
int hex_value(char c);

#endif
