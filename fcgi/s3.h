/* s3.h: the S3 routes (fcgi/s3.c), for requests the front marks MKV_API=s3. */
#ifndef MKV_S3_H
#define MKV_S3_H

#include "handlers.h"
#include "http.h"

/* Checks the request's signature and answers it as S3 does. */
void s3_handle(struct worker *w, struct req *r);

#endif
