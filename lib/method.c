/* method.c: the method table (see method.h). */
#include "method.h"

#include <string.h>

#define NAME_(m)  #m,
#define ALLOW_(m) ", " #m

/* Indexed by enum mkv_method. */
static const char *const names[MKV_M_COUNT] = {MKV_METHOD_TABLE(NAME_) "other"};
/* ", GET, HEAD, ...": a constant, so threads share it without a lock. */
static const char allow[] = MKV_METHOD_TABLE(ALLOW_);

enum mkv_method method_id(const char *name)
{
    if (!name)
        return MKV_M_OTHER;
    for (int i = 0; i < MKV_M_OTHER; i++)
        if (!strcmp(name, names[i]))
            return (enum mkv_method)i;
    return MKV_M_OTHER;
}

const char *method_name(enum mkv_method m)
{
    return (unsigned)m < MKV_M_COUNT ? names[m] : names[MKV_M_OTHER];
}

const char *method_allow(void)
{
    return allow + 2; /* without the leading ", " */
}
