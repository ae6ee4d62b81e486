/* method.h: the HTTP methods mkv serves, in one table.
 *
 * The request dispatch, the 405 answer's Allow header and the /?stats labels
 * all come from MKV_METHOD_TABLE, so a method added there is allowed,
 * dispatched and counted alike. */
#ifndef MKV_METHOD_H
#define MKV_METHOD_H

/* The served methods, in the order of /?stats. */
#define MKV_METHOD_TABLE(X) X(GET) X(HEAD) X(PUT) X(DELETE) X(UNLINK) X(REBALANCE)

#define MKV_METHOD_ENUM_(m) MKV_M_##m,
enum mkv_method {
    MKV_METHOD_TABLE(MKV_METHOD_ENUM_) /* MKV_M_GET ... MKV_M_REBALANCE */
    MKV_M_OTHER,                       /* any method not served (counted as "other") */
    MKV_M_COUNT
};
#undef MKV_METHOD_ENUM_

/* The id of a request method (case-sensitive, as HTTP says); MKV_M_OTHER
 * for a name not served, and for NULL. */
enum mkv_method method_id(const char *name);

/* "GET" ... "REBALANCE", and "other" for MKV_M_OTHER (the /?stats label)
 * or an id out of range. */
const char *method_name(enum mkv_method m);

/* The served methods as the 405 answer's Allow header value:
 * "GET, HEAD, PUT, DELETE, UNLINK, REBALANCE". */
const char *method_allow(void);

#endif
