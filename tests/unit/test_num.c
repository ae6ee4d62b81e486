/* test_num.c: the bounded number parser, the method table and the argv
 * splitter (lib/num.c, lib/method.c, lib/config.c config_split). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "method.h"
#include "num.h"
#include "unit.h"

static void test_signed_ok(void)
{
    long long v = 0;

    CHECK(num_parse("0", -10, 10, &v) == 0 && v == 0);
    CHECK(num_parse("7", -10, 10, &v) == 0 && v == 7);
    CHECK(num_parse("-7", -10, 10, &v) == 0 && v == -7);
    CHECK(num_parse("-0", -10, 10, &v) == 0 && v == 0);
    CHECK(num_parse("0010", -10, 10, &v) == 0 && v == 10);
    CHECK(num_parse("10", 10, 10, &v) == 0 && v == 10);
    CHECK(num_parse("-10", -10, 10, &v) == 0 && v == -10);
    CHECK(num_parse("9223372036854775807", LLONG_MIN, LLONG_MAX, &v) == 0 && v == LLONG_MAX);
    CHECK(num_parse("-9223372036854775808", LLONG_MIN, LLONG_MAX, &v) == 0 && v == LLONG_MIN);
    CHECK(num_parse("000000000000000000000000000042", 0, 100, &v) == 0 && v == 42);
}

static void test_signed_range(void)
{
    long long v = 5;

    CHECK(num_parse("11", -10, 10, &v) == MKV_NUM_RANGE);
    CHECK(num_parse("-11", -10, 10, &v) == MKV_NUM_RANGE);
    CHECK(num_parse("0", 1, 10, &v) == MKV_NUM_RANGE);
    CHECK(num_parse("-1", 0, 10, &v) == MKV_NUM_RANGE);
    /* Overflow is out of range, never a wrapped value. */
    CHECK(num_parse("9223372036854775808", LLONG_MIN, LLONG_MAX, &v) == MKV_NUM_RANGE);
    CHECK(num_parse("-9223372036854775809", LLONG_MIN, LLONG_MAX, &v) == MKV_NUM_RANGE);
    CHECK(num_parse("18446744073709551616", LLONG_MIN, LLONG_MAX, &v) == MKV_NUM_RANGE);
    CHECK(num_parse("99999999999999999999999999999999", LLONG_MIN, LLONG_MAX, &v) == MKV_NUM_RANGE);
    CHECK(num_parse("-99999999999999999999999999999999", LLONG_MIN, LLONG_MAX, &v) ==
          MKV_NUM_RANGE);
    CHECK(v == 5); /* left alone on failure */
}

static void test_signed_junk(void)
{
    static const char *junk[] = {"",    "-",     "+5",    " 5",  "5 ",   "5\n",  "\t5", "0x10",
                                 "1e3", "1.0",   "--5",   "-+5", "5-",   "five", "5a",  "a5",
                                 "٣",   "1,000", "1_000", "- 5", "\xff", "0b1"};
    long long v = 5;

    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        int rc = num_parse(junk[i], LLONG_MIN, LLONG_MAX, &v);
        if (rc != MKV_NUM_SYNTAX)
            fprintf(stderr, "  junk '%s': %d\n", junk[i], rc);
        CHECK(rc == MKV_NUM_SYNTAX);
    }
    /* Junk after digits that would overflow is junk, not range. */
    CHECK(num_parse("99999999999999999999x", LLONG_MIN, LLONG_MAX, &v) == MKV_NUM_SYNTAX);
    CHECK(v == 5);
}

static void test_unsigned(void)
{
    unsigned long long v = 5;

    CHECK(num_parse_u("0", 0, 10, &v) == 0 && v == 0);
    CHECK(num_parse_u("18446744073709551615", 0, ULLONG_MAX, &v) == 0 && v == ULLONG_MAX);
    v = 5;
    CHECK(num_parse_u("18446744073709551616", 0, ULLONG_MAX, &v) == MKV_NUM_RANGE);
    CHECK(num_parse_u("184467440737095516150", 0, ULLONG_MAX, &v) == MKV_NUM_RANGE);
    CHECK(num_parse_u("11", 0, 10, &v) == MKV_NUM_RANGE);
    CHECK(num_parse_u("0", 1, 10, &v) == MKV_NUM_RANGE);
    CHECK(num_parse_u("-0", 0, 10, &v) == MKV_NUM_SYNTAX);
    CHECK(num_parse_u("-1", 0, 10, &v) == MKV_NUM_SYNTAX);
    CHECK(num_parse_u("+1", 0, 10, &v) == MKV_NUM_SYNTAX);
    CHECK(num_parse_u("", 0, 10, &v) == MKV_NUM_SYNTAX);
    CHECK(num_parse_u("1 ", 0, 10, &v) == MKV_NUM_SYNTAX);
    CHECK(v == 5);
}

static void test_methods(void)
{
    CHECK(method_id("GET") == MKV_M_GET);
    CHECK(method_id("REBALANCE") == MKV_M_REBALANCE);
    CHECK(method_id("get") == MKV_M_OTHER); /* methods are case-sensitive */
    CHECK(method_id("POST") == MKV_M_OTHER);
    CHECK(method_id("") == MKV_M_OTHER);
    CHECK(method_id(NULL) == MKV_M_OTHER);
    CHECK_STR(method_name(MKV_M_UNLINK), "UNLINK");
    CHECK_STR(method_name(MKV_M_OTHER), "other");
    CHECK_STR(method_name((enum mkv_method)99), "other");
    CHECK_STR(method_allow(), "GET, HEAD, PUT, DELETE, UNLINK, REBALANCE");
    for (int m = 0; m < MKV_M_OTHER; m++)
        CHECK(method_id(method_name((enum mkv_method)m)) == (enum mkv_method)m);
}

/* Takes --mine and --bad=..., leaves the rest to the settings. */
static int own(void *ctx, const char *a, char *err, size_t errlen)
{
    if (!strcmp(a, "--mine")) {
        (*(int *)ctx)++;
        return 1;
    }
    if (!strncmp(a, "--bad=", 6)) {
        snprintf(err, errlen, "bad %s", a);
        return -1;
    }
    return 0;
}

static void test_split(void)
{
    enum { N = 1000 }; /* far past the old fixed arrays of 256 */
    char *argv[N + 4];
    struct mkv_args ca;
    char err[128];
    int mine = 0, argc = 0;

    argv[argc++] = "tool";
    argv[argc++] = "-c";
    argv[argc++] = "--mine"; /* a file named like a flag: -c's value */
    for (int i = 0; i < N; i++)
        argv[argc++] = i % 2 ? "--mine" : "--replicas=1";
    argv[argc] = NULL;
    CHECK(config_split(argc, argv, own, &mine, &ca, err, sizeof(err)) == 0);
    CHECK(!ca.help && mine == N / 2 && ca.argc == 3 + N / 2);
    CHECK_STR(ca.argv[0], "tool");
    CHECK_STR(ca.argv[1], "-c");
    CHECK_STR(ca.argv[2], "--mine");
    CHECK_STR(ca.argv[ca.argc - 1], "--replicas=1");
    CHECK(ca.argv[ca.argc] == NULL);
    config_args_free(&ca);

    argv[3] = "--bad=1";
    CHECK(config_split(argc, argv, own, &mine, &ca, err, sizeof(err)) == -1);
    CHECK_STR(err, "bad --bad=1");
    CHECK(ca.argv == NULL);

    argv[argc - 1] = "--help"; /* help wins over an error before it */
    CHECK(config_split(argc, argv, own, &mine, &ca, err, sizeof(err)) == 0 && ca.help);
    config_args_free(&ca);

    {
        char *v[] = {"tool", "-c", "-h", "pos", NULL};
        CHECK(config_split(4, v, NULL, NULL, &ca, err, sizeof(err)) == 0 && !ca.help);
        CHECK(ca.argc == 4); /* -c's value "-h" is a file; "pos" for config_load to refuse */
        config_args_free(&ca);
    }
}

/* Volume names the records could not hold are refused at load time, not
 * written into records that every reader then refuses. */
static void test_volume_names(void)
{
    static const char *bad[] = {"host:3001/prefix",
                                "host:3001/sv01",
                                "a\r\nX-Evil: 1",
                                "host:99999",
                                "host name:1",
                                "",
                                "h:1,"};
    static const char *good[] = {"localhost:3001", "127.0.0.1:3001,127.0.0.1:3002", "[::1]:3001",
                                 "larry,moe,curly"};
    struct mkv_config cfg;
    char err[256];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char flag[300];
        char *argv[] = {"t", flag, "--replicas=1", NULL};
        snprintf(flag, sizeof(flag), "--volumes=%s", bad[i]);
        CHECK(config_load(&cfg, 3, argv, err, sizeof(err)) == -1);
    }
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char flag[300];
        char *argv[] = {"t", flag, "--replicas=1", NULL};
        snprintf(flag, sizeof(flag), "--volumes=%s", good[i]);
        CHECK(config_load(&cfg, 3, argv, err, sizeof(err)) == 0);
    }
}

UNIT_MAIN("num", T(test_signed_ok), T(test_signed_range), T(test_signed_junk), T(test_unsigned),
          T(test_methods), T(test_split), T(test_volume_names))
