/* test_hex.c: the hex encoder and decoder (lib/hex.c). */
#include <string.h>

#include "hex.h"
#include "unit.h"

static void test_encode(void)
{
    static const unsigned char b[] = {0x00, 0x01, 0x7f, 0x80, 0xab, 0xff};
    char out[2 * sizeof(b) + 1];

    memset(out, 'x', sizeof(out));
    hex_encode(b, sizeof(b), out);
    CHECK(strcmp(out, "00017f80abff") == 0);
    hex_encode(b, 0, out);
    CHECK(out[0] == '\0');
}

static void test_value(void)
{
    const char *digits = "0123456789abcdef", *upper = "ABCDEF";

    for (int i = 0; i < 16; i++)
        CHECK(hex_value(digits[i]) == i);
    for (int i = 0; i < 6; i++)
        CHECK(hex_value(upper[i]) == 10 + i);
    /* every other byte, the neighbours of the ranges and the high half */
    for (int c = -128; c < 128; c++)
        if (!strchr("0123456789abcdefABCDEF", c) || c == 0)
            CHECK(hex_value((char)c) == -1);
}

UNIT_MAIN("hex", T(test_encode), T(test_value))
