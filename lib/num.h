/* num.h: the one parser of decimal numbers, for settings, flags, headers and
 * query parameters alike.
 *
 * The whole string is the number: an optional '-' (signed parser only), then
 * one or more ASCII digits, nothing else.  No blanks, no '+', no "0x", no
 * exponent, no trailing bytes: a typo fails instead of becoming 0 or a
 * prefix of what was meant.  Leading zeros are allowed.  Values are checked
 * against [min, max] while they are accumulated, so nothing overflows. */
#ifndef MKV_NUM_H
#define MKV_NUM_H

#define MKV_NUM_SYNTAX (-1) /* not a decimal integer (empty, junk, sign misplaced) */
#define MKV_NUM_RANGE  (-2) /* a decimal integer outside [min, max] */

/* Parses s into *out (left alone on failure).  Returns 0, MKV_NUM_SYNTAX
 * or MKV_NUM_RANGE.  min <= max is the caller's promise. */
int num_parse(const char *s, long long min, long long max, long long *out);

/* The same without a sign: '-' is a syntax error, even for "-0". */
int num_parse_u(const char *s, unsigned long long min, unsigned long long max,
                unsigned long long *out);

#endif
