#!/usr/bin/python3
"""boto3_suite.py: S3 checks with boto3, run by tests/e2e/test_s3.py.

Usage: boto3_suite.py SCENARIO ARGS-JSON

Run by /usr/bin/python3 (Debian's boto3 1.26) in an environment the test
builds (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, no
proxies, no CA bundle).  ARGS-JSON holds at least "endpoint" (http(s)://
127.0.0.1:PORT) and "bucket"; "verify" is a CA file for https.  Every check
that fails is recorded (request, expected, got) and the scenario goes on
where it can; the script prints one JSON object on stdout:
  {"failures": [...], "info": {...}}
and exits 1 when there is a failure, 2 when the scenario itself crashed.
"""

import base64
import binascii
import datetime
import hashlib
import hmac
import http.client
import json
import os
import sys
import threading
import time
import traceback
import urllib.parse

import boto3
import botocore
from botocore import UNSIGNED
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError

FAILURES = []
INFO = {}


def fail(what, expected, got):
    FAILURES.append('%s: expected %s; got %s' % (what, expected, got))


def check(cond, what, expected, got):
    if not cond:
        fail(what, expected, got)
    return cond


def md5hex(b):
    return hashlib.md5(b).hexdigest()


def b64md5(b):
    return base64.b64encode(hashlib.md5(b).digest()).decode()


def sha256hex(b):
    return hashlib.sha256(b).hexdigest()


def data(n, seed):
    """n deterministic pseudo-random bytes."""
    out = bytearray()
    h = hashlib.sha256(seed.encode()).digest()
    while len(out) < n:
        h = hashlib.sha256(h).digest()
        out += h * 64  # 2 KiB per round: fast enough, varied enough
    return bytes(out[:n])


ARGS = {}


def client(**kw):
    cfg = dict(signature_version='s3v4', s3={'addressing_style': 'path'},
               retries={'max_attempts': 1, 'mode': 'standard'},
               connect_timeout=10, read_timeout=60)
    cfg.update(kw.pop('config', {}))
    args = dict(endpoint_url=ARGS['endpoint'], region_name=os.environ.get('AWS_DEFAULT_REGION',
                                                                         'us-east-1'),
                config=Config(**cfg))
    if ARGS.get('verify'):
        args['verify'] = ARGS['verify']
    args.update(kw)
    return boto3.client('s3', **args)


def err(e):
    """(HTTP status, error code) of a ClientError."""
    r = e.response
    return r.get('ResponseMetadata', {}).get('HTTPStatusCode'), r.get('Error', {}).get('Code')


def expect_error(what, fn, status, code, **kw):
    """fn() must raise a ClientError with this status (and code, if not None)."""
    try:
        r = fn(**kw)
    except ClientError as e:
        st, c = err(e)
        check(st == status and (code is None or c == code), what,
              '%s %s' % (status, code or ''), '%s %s (%s)' % (st, c, e.response.get('Error')))
        return e
    except Exception as e:  # noqa: BLE001
        fail(what, '%s %s' % (status, code or ''), 'exception %r' % e)
        return e
    meta = r.get('ResponseMetadata', {}) if isinstance(r, dict) else {}
    fail(what, '%s %s' % (status, code or ''), 'success %s' % meta.get('HTTPStatusCode'))
    return None


def attempt(what, fn, *a, **kw):
    """fn(*a, **kw), recording an exception as a failure (returns None then)."""
    try:
        return fn(*a, **kw)
    except ClientError as e:
        st, c = err(e)
        fail(what, 'success', '%s %s (%s)' % (st, c, e.response.get('Error')))
    except Exception as e:  # noqa: BLE001
        fail(what, 'success', 'exception %r' % e)
    return None


def status_of(r):
    return r.get('ResponseMetadata', {}).get('HTTPStatusCode') if isinstance(r, dict) else None


def read_body(r):
    return r['Body'].read()


def ensure_bucket(s3, b):
    try:
        s3.create_bucket(Bucket=b)
    except ClientError as e:
        if err(e)[1] != 'BucketAlreadyOwnedByYou':
            raise


# ---------------------------------------------------------------------------
# raw signed requests (headers boto3 will not send wrong on purpose)
# ---------------------------------------------------------------------------

def raw(method, path, body=b'', headers=None, query='', sign=True, payload_hash=None,
        creds=None):
    """One request to the endpoint, SigV4-signed (plain SigV4Auth: the
    x-amz-content-sha256 header, if given in headers or payload_hash, is used
    as is).  Returns (status, headers dict lowercased, body)."""
    u = urllib.parse.urlsplit(ARGS['endpoint'])
    url = '%s://%s%s%s' % (u.scheme, u.netloc, path, '?' + query if query else '')
    h = dict(headers or {})
    if payload_hash is None:
        payload_hash = sha256hex(body) if isinstance(body, bytes) else 'UNSIGNED-PAYLOAD'
    h['X-Amz-Content-SHA256'] = payload_hash
    req = AWSRequest(method=method, url=url, data=body, headers=h)
    if sign:
        sess = boto3.session.Session()
        c = creds or sess.get_credentials()
        botocore.auth.SigV4Auth(c, 's3', sess.region_name or 'us-east-1').add_auth(req)
    p = req.prepare()
    return http_send(p.method, p.url, p.body, dict(p.headers.items()))


def http_send(method, url, body=None, headers=None):
    u = urllib.parse.urlsplit(url)
    if u.scheme == 'https':
        import ssl
        ctx = ssl.create_default_context(cafile=ARGS.get('verify'))
        conn = http.client.HTTPSConnection(u.hostname, u.port, timeout=60, context=ctx)
    else:
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
    try:
        path = u.path + ('?' + u.query if u.query else '')
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def xml_code(body):
    import re
    m = re.search(rb'<Code>([^<]*)</Code>', body or b'')
    return m.group(1).decode() if m else None


def signing_key(secret, date, region):
    k = hmac.new(('AWS4' + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, 's3', 'aws4_request'):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def streaming_put(path, payload, chunk=65536, break_chunk=None):
    """PutObject with an aws-chunked body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD),
    chunk signatures computed here; break_chunk=i signs chunk i wrongly."""
    sess = boto3.session.Session()
    creds = sess.get_credentials().get_frozen_credentials()
    region = sess.region_name or 'us-east-1'
    u = urllib.parse.urlsplit(ARGS['endpoint'])
    now = datetime.datetime.utcnow()
    amzdate = now.strftime('%Y%m%dT%H%M%SZ')
    date = now.strftime('%Y%m%d')
    scope = '%s/%s/s3/aws4_request' % (date, region)
    chunks = [payload[i:i + chunk] for i in range(0, len(payload), chunk)] + [b'']
    sizes = sum(len('%x' % len(c)) + len(';chunk-signature=') + 64 + 4 + len(c) for c in chunks)
    headers = {
        'Host': u.netloc,
        'x-amz-date': amzdate,
        'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        'x-amz-decoded-content-length': str(len(payload)),
        'Content-Encoding': 'aws-chunked',
        'Content-Length': str(sizes),
    }
    signed = sorted(k.lower() for k in headers)
    canon_headers = ''.join('%s:%s\n' % (k, [v for kk, v in headers.items()
                                             if kk.lower() == k][0].strip()) for k in signed)
    canon = '\n'.join(['PUT', urllib.parse.quote(path, safe='/~'), '', canon_headers,
                       ';'.join(signed), 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'])
    sts = '\n'.join(['AWS4-HMAC-SHA256', amzdate, scope,
                     hashlib.sha256(canon.encode()).hexdigest()])
    key = signing_key(creds.secret_key, date, region)
    seed = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
    headers['Authorization'] = ('AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, '
                                'Signature=%s' % (creds.access_key, scope, ';'.join(signed), seed))
    prev = seed
    body = b''
    for i, c in enumerate(chunks):
        csts = '\n'.join(['AWS4-HMAC-SHA256-PAYLOAD', amzdate, scope, prev,
                          sha256hex(b''), sha256hex(c)])
        sig = hmac.new(key, csts.encode(), hashlib.sha256).hexdigest()
        prev = sig
        if break_chunk == i:
            sig = ('0' if sig[0] != '0' else '1') + sig[1:]
        body += b'%x;chunk-signature=%s\r\n' % (len(c), sig.encode()) + c + b'\r\n'
    assert len(body) == sizes
    return http_send('PUT', '%s://%s%s' % (u.scheme, u.netloc, urllib.parse.quote(path, safe='/~')),
                     body, headers)


# ---------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------

def sc_buckets(s3):
    b = ARGS['bucket']
    names = [x['Name'] for x in attempt('ListBuckets', s3.list_buckets).get('Buckets', [])]
    check(b not in names, 'ListBuckets before CreateBucket', 'no %s' % b, names)
    expect_error('HeadBucket of a missing bucket', s3.head_bucket, 404, None, Bucket=b)
    expect_error('DeleteBucket of a missing bucket', s3.delete_bucket, 404, 'NoSuchBucket',
                 Bucket=b)
    expect_error('ListObjectsV2 of a missing bucket', s3.list_objects_v2, 404, 'NoSuchBucket',
                 Bucket=b)
    expect_error('PutObject into a missing bucket', s3.put_object, 404, 'NoSuchBucket',
                 Bucket=b, Key='k', Body=b'x')
    expect_error('GetObject from a missing bucket', s3.get_object, 404, 'NoSuchBucket',
                 Bucket=b, Key='k')
    r = attempt('CreateBucket', s3.create_bucket, Bucket=b)
    check(status_of(r) == 200, 'CreateBucket status', 200, status_of(r))
    expect_error('CreateBucket again', s3.create_bucket, 409, 'BucketAlreadyOwnedByYou', Bucket=b)
    r = attempt('HeadBucket', s3.head_bucket, Bucket=b)
    check(status_of(r) == 200, 'HeadBucket status', 200, status_of(r))
    lb = attempt('ListBuckets', s3.list_buckets) or {}
    names = [x['Name'] for x in lb.get('Buckets', [])]
    check(b in names, 'ListBuckets after CreateBucket', 'contains %s' % b, names)
    check(names == sorted(names), 'ListBuckets order', 'sorted', names)
    created = [x['CreationDate'] for x in lb.get('Buckets', []) if x['Name'] == b]
    if created:
        age = abs((datetime.datetime.now(datetime.timezone.utc) - created[0]).total_seconds())
        check(age < 120, 'CreationDate of the new bucket', 'about now', created[0])
    r = attempt('GetBucketLocation', s3.get_bucket_location, Bucket=b) or {}
    check(r.get('LocationConstraint') in (None, '', 'us-east-1'), 'GetBucketLocation',
          'None/us-east-1', r.get('LocationConstraint'))
    r = attempt('GetBucketVersioning', s3.get_bucket_versioning, Bucket=b) or {}
    check(status_of(r) == 200 and 'Status' not in r, 'GetBucketVersioning',
          '200 without Status', r)
    r = attempt('ListMultipartUploads', s3.list_multipart_uploads, Bucket=b) or {}
    check(status_of(r) == 200 and not r.get('Uploads'), 'ListMultipartUploads', 'empty', r)
    r = attempt('ListObjectsV2 of an empty bucket', s3.list_objects_v2, Bucket=b) or {}
    check(r.get('KeyCount') == 0 and not r.get('Contents') and r.get('IsTruncated') is False,
          'ListObjectsV2 of an empty bucket', 'KeyCount 0, no Contents, not truncated', r)
    attempt('PutObject', s3.put_object, Bucket=b, Key='dir/x', Body=b'not empty')
    expect_error('DeleteBucket of a non-empty bucket', s3.delete_bucket, 409, 'BucketNotEmpty',
                 Bucket=b)
    r = attempt('HeadBucket after refused DeleteBucket', s3.head_bucket, Bucket=b)
    check(status_of(r) == 200, 'bucket still there after BucketNotEmpty', 200, status_of(r))
    attempt('DeleteObject', s3.delete_object, Bucket=b, Key='dir/x')
    r = attempt('DeleteBucket', s3.delete_bucket, Bucket=b)
    check(status_of(r) == 204, 'DeleteBucket status', 204, status_of(r))
    expect_error('HeadBucket after DeleteBucket', s3.head_bucket, 404, None, Bucket=b)
    names = [x['Name'] for x in (attempt('ListBuckets', s3.list_buckets) or {}).get('Buckets', [])]
    check(b not in names, 'ListBuckets after DeleteBucket', 'no %s' % b, names)
    # invalid names, sent raw (boto3 validates some of them itself)
    for bad in ('ab', 'UPPER', 'under_score', '-lead', 'x' * 64):
        st, _h, body = raw('PUT', '/' + bad)
        check(st == 400 and xml_code(body) == 'InvalidBucketName', 'CreateBucket %r' % bad,
              '400 InvalidBucketName', '%s %s' % (st, body[:200]))
    # the bucket is re-creatable, and kept for the caller's native checks
    attempt('CreateBucket again after DeleteBucket', s3.create_bucket, Bucket=b)


def sc_objects(s3):
    b = ARGS['bucket']
    ensure_bucket(s3, b)
    small = b'hello from boto3\n'
    meta = {'color': 'blue', 'answer': '42'}
    r = attempt('PutObject with headers', s3.put_object, Bucket=b, Key='meta/obj.txt', Body=small,
                ContentType='text/x-mkv', CacheControl='max-age=60',
                ContentDisposition='attachment; filename="o.txt"', ContentLanguage='en',
                ContentEncoding='identity',
                Expires=datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
                Metadata=meta) or {}
    check(r.get('ETag') == '"%s"' % md5hex(small), 'PutObject ETag', '"%s"' % md5hex(small),
          r.get('ETag'))
    h = attempt('HeadObject', s3.head_object, Bucket=b, Key='meta/obj.txt') or {}
    for field, want in [('ETag', '"%s"' % md5hex(small)), ('ContentLength', len(small)),
                        ('ContentType', 'text/x-mkv'), ('CacheControl', 'max-age=60'),
                        ('ContentDisposition', 'attachment; filename="o.txt"'),
                        ('ContentLanguage', 'en'), ('ContentEncoding', 'identity'),
                        ('Metadata', meta)]:
        check(h.get(field) == want, 'HeadObject %s' % field, repr(want), repr(h.get(field)))
    exp = h.get('Expires')
    check(exp is not None and exp.year == 2030 and exp.month == 1 and exp.day == 2,
          'HeadObject Expires', '2030-01-02T03:04:05Z', repr(exp))
    lm = h.get('LastModified')
    if check(lm is not None, 'HeadObject LastModified', 'present', lm):
        age = (datetime.datetime.now(datetime.timezone.utc) - lm).total_seconds()
        check(-5 < age < 120, 'HeadObject LastModified', 'about now', lm)
    g = attempt('GetObject', s3.get_object, Bucket=b, Key='meta/obj.txt')
    if g:
        body = read_body(g)
        check(body == small, 'GetObject body', repr(small), repr(body[:100]))
        # Every header HEAD gives, user metadata included (the front's njs
        # filter adds those nginx drops across its internal redirect).
        for field, want in [('ETag', '"%s"' % md5hex(small)), ('ContentLength', len(small)),
                            ('ContentType', 'text/x-mkv'), ('CacheControl', 'max-age=60'),
                            ('ContentDisposition', 'attachment; filename="o.txt"'),
                            ('ContentLanguage', 'en'), ('ContentEncoding', 'identity'),
                            ('Metadata', meta), ('Expires', exp)]:
            check(g.get(field) == want, 'GetObject %s' % field, repr(want), repr(g.get(field)))
        check(g.get('LastModified') == lm, 'GetObject LastModified = HeadObject LastModified',
              lm, g.get('LastModified'))
        g = attempt('GetObject range with overrides', s3.get_object, Bucket=b, Key='meta/obj.txt',
                    Range='bytes=0-4', ResponseContentLanguage='fr',
                    ResponseContentEncoding='x-mkv')
        if g:
            body = read_body(g)
            check(status_of(g) == 206 and body == small[:5], 'GetObject range with overrides',
                  '206 %r' % small[:5], '%s %r' % (status_of(g), body))
            for field, want in [('ContentLanguage', 'fr'), ('ContentEncoding', 'x-mkv'),
                                ('Metadata', meta)]:
                check(g.get(field) == want, 'GetObject range %s' % field, repr(want),
                      repr(g.get(field)))
    # S3 allows 2 KB of user metadata (names and values): all of it comes
    # back from HEAD and GET, a byte more is MetadataTooLarge.
    big = {'m%02d' % i: chr(ord('a') + i % 26) * 47 for i in range(40)}  # 40 * (3 + 47) = 2000
    if attempt('PutObject with 2000 bytes of metadata', s3.put_object, Bucket=b, Key='meta/big',
               Body=small, Metadata=big) is not None:
        for what, fn in [('HeadObject', s3.head_object), ('GetObject', s3.get_object)]:
            r = attempt('%s of 2000 bytes of metadata' % what, fn, Bucket=b, Key='meta/big') or {}
            check(r.get('Metadata') == big, '%s 2000 bytes of metadata' % what, '40 fields',
                  '%d fields' % len(r.get('Metadata') or {}))
        attempt('DeleteObject meta/big', s3.delete_object, Bucket=b, Key='meta/big')
    over = dict(big, extra='x' * 60)
    expect_error('PutObject with over 2 KB of metadata', s3.put_object, 400, 'MetadataTooLarge', Bucket=b,
                 Key='meta/over', Body=small, Metadata=over)

    # bigger objects, with Content-MD5
    objs = {}
    for key, n in [('big/one-mib', 1 << 20), ('big/three-mib.bin', 3 * (1 << 20) + 17),
                   ('tiny', 1)]:
        v = data(n, key)
        r = attempt('PutObject %s' % key, s3.put_object, Bucket=b, Key=key, Body=v,
                    ContentMD5=b64md5(v)) or {}
        check(r.get('ETag') == '"%s"' % md5hex(v), 'PutObject %s ETag' % key, md5hex(v),
              r.get('ETag'))
        g = attempt('GetObject %s' % key, s3.get_object, Bucket=b, Key=key)
        if g:
            got = read_body(g)
            check(got == v, 'GetObject %s body' % key, 'the %d bytes written' % n,
                  '%d bytes md5 %s' % (len(got), md5hex(got)))
            check(g.get('ETag') == '"%s"' % md5hex(v), 'GetObject %s ETag' % key, md5hex(v),
                  g.get('ETag'))
            check(g.get('ContentType') == 'binary/octet-stream' or g.get('ContentType'),
                  'GetObject %s ContentType' % key, 'a default', g.get('ContentType'))
        objs[key] = md5hex(v)

    # ranges
    v = data(3 * (1 << 20) + 17, 'big/three-mib.bin')
    for rng, lo, hi in [('bytes=10-19', 10, 19), ('bytes=-5', len(v) - 5, len(v) - 1),
                        ('bytes=%d-' % (len(v) - 3), len(v) - 3, len(v) - 1),
                        ('bytes=1048570-1048590', 1048570, 1048590)]:
        g = attempt('GetObject Range %s' % rng, s3.get_object, Bucket=b, Key='big/three-mib.bin',
                    Range=rng)
        if g:
            got = read_body(g)
            check(status_of(g) == 206, 'GetObject Range %s status' % rng, 206, status_of(g))
            check(got == v[lo:hi + 1], 'GetObject Range %s body' % rng, repr(v[lo:hi + 1][:32]),
                  repr(got[:32]))
            check(g.get('ContentRange') == 'bytes %d-%d/%d' % (lo, hi, len(v)),
                  'GetObject Range %s Content-Range' % rng, 'bytes %d-%d/%d' % (lo, hi, len(v)),
                  g.get('ContentRange'))
            check(g.get('ETag') == '"%s"' % md5hex(v), 'GetObject Range %s ETag' % rng,
                  md5hex(v), g.get('ETag'))
    expect_error('GetObject Range beyond the end', s3.get_object, 416, 'InvalidRange', Bucket=b,
                 Key='tiny', Range='bytes=5-9')

    # preconditions
    et = '"%s"' % md5hex(small)
    past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    for what, kw in [('If-Match right', dict(IfMatch=et)),
                     ('If-Match *', dict(IfMatch='*')),
                     ('If-None-Match other', dict(IfNoneMatch='"%s"' % ('0' * 32))),
                     ('If-Modified-Since past', dict(IfModifiedSince=past)),
                     ('If-Unmodified-Since future', dict(IfUnmodifiedSince=future))]:
        g = attempt('GetObject %s' % what, s3.get_object, Bucket=b, Key='meta/obj.txt', **kw)
        if g:
            got = read_body(g)
            check(status_of(g) == 200 and got == small, 'GetObject %s' % what, '200 and the body',
                  '%s %r' % (status_of(g), got[:40]))
    for what, kw, st in [('If-Match wrong', dict(IfMatch='"%s"' % ('0' * 32)), 412),
                         ('If-Unmodified-Since past', dict(IfUnmodifiedSince=past), 412),
                         ('If-None-Match right', dict(IfNoneMatch=et), 304),
                         ('If-None-Match *', dict(IfNoneMatch='*'), 304),
                         ('If-Modified-Since future', dict(IfModifiedSince=future), 304)]:
        code = 'PreconditionFailed' if st == 412 else None
        expect_error('GetObject %s' % what, s3.get_object, st, code, Bucket=b,
                     Key='meta/obj.txt', **kw)
        expect_error('HeadObject %s' % what, s3.head_object, st, None, Bucket=b,
                     Key='meta/obj.txt', **kw)

    # overwrite
    v2 = b'second version of the small object'
    r = attempt('PutObject overwrite', s3.put_object, Bucket=b, Key='meta/obj.txt', Body=v2) or {}
    check(r.get('ETag') == '"%s"' % md5hex(v2), 'PutObject overwrite ETag', md5hex(v2),
          r.get('ETag'))
    g = attempt('GetObject after overwrite', s3.get_object, Bucket=b, Key='meta/obj.txt')
    if g:
        got = read_body(g)
        check(got == v2, 'GetObject after overwrite', repr(v2), repr(got[:60]))
        check(g.get('ETag') == '"%s"' % md5hex(v2), 'GetObject after overwrite ETag', md5hex(v2),
              g.get('ETag'))
    h = attempt('HeadObject after overwrite', s3.head_object, Bucket=b, Key='meta/obj.txt') or {}
    check(h.get('Metadata') == {}, 'HeadObject after overwrite without metadata', '{}',
          h.get('Metadata'))
    objs['meta/obj.txt'] = md5hex(v2)

    # digests: wrong Content-MD5, on a new key and on an existing key
    expect_error('PutObject with a wrong Content-MD5 (new key)', s3.put_object, 400, 'BadDigest',
                 Bucket=b, Key='bad/md5', Body=b'some bytes', ContentMD5=b64md5(b'other bytes'))
    expect_error('HeadObject after BadDigest', s3.head_object, 404, None, Bucket=b, Key='bad/md5')
    expect_error('PutObject with a wrong Content-MD5 (existing key)', s3.put_object, 400,
                 'BadDigest', Bucket=b, Key='meta/obj.txt', Body=b'evil bytes',
                 ContentMD5=b64md5(b'other bytes'))
    g = attempt('GetObject after BadDigest overwrite', s3.get_object, Bucket=b, Key='meta/obj.txt')
    if g:
        got = read_body(g)
        check(got == v2, 'value kept after a refused overwrite', repr(v2), repr(got[:60]))
    expect_error('PutObject with a malformed Content-MD5', s3.put_object, 400, 'InvalidDigest',
                 Bucket=b, Key='bad/md5', Body=b'some bytes', ContentMD5='not-base64!')
    # empty objects (directory markers) are stored
    for key in ('empty', 'marker/'):
        r = attempt('PutObject empty %r' % key, s3.put_object, Bucket=b, Key=key, Body=b'') or {}
        check(r.get('ETag') == '"%s"' % md5hex(b''), 'PutObject empty %r ETag' % key,
              md5hex(b''), r.get('ETag'))
        g = attempt('GetObject empty %r' % key, s3.get_object, Bucket=b, Key=key)
        if g:
            got = read_body(g)
            check(got == b'' and g.get('ContentLength') == 0 and status_of(g) == 200,
                  'GetObject empty %r' % key, '200, 0 bytes',
                  '%s %r ContentLength %s' % (status_of(g), got[:40], g.get('ContentLength')))
            check(g.get('ETag') == '"%s"' % md5hex(b''), 'GetObject empty %r ETag' % key,
                  md5hex(b''), g.get('ETag'))
        h = attempt('HeadObject empty %r' % key, s3.head_object, Bucket=b, Key=key) or {}
        check(h.get('ContentLength') == 0, 'HeadObject empty %r' % key, 0, h.get('ContentLength'))
    r = attempt('ListObjectsV2 Prefix=marker/', s3.list_objects_v2, Bucket=b, Prefix='marker') or {}
    got = [(c['Key'], c['Size']) for c in r.get('Contents', [])]
    check(got == [('marker/', 0)], 'ListObjectsV2 of a directory marker', [('marker/', 0)], got)
    INFO['empty'] = ['empty', 'marker/']

    # raw: x-amz-content-sha256 mismatch, checksum headers, aws-chunked
    path = '/%s/raw/sha' % b
    st, _h, body = raw('PUT', path, b'payload one', payload_hash=sha256hex(b'payload two'))
    check(st == 400 and xml_code(body) == 'XAmzContentSHA256Mismatch',
          'PUT with a wrong x-amz-content-sha256', '400 XAmzContentSHA256Mismatch',
          '%s %s' % (st, body[:300]))
    st, _h, body = raw('HEAD', path)
    check(st == 404, 'HEAD after XAmzContentSHA256Mismatch', 404, st)
    st, _h, body = raw('PUT', path, b'payload one')
    check(st == 200, 'raw signed PUT', 200, '%s %s' % (st, body[:300]))
    val = b'checksummed value'
    crc = base64.b64encode((binascii.crc32(val) & 0xffffffff).to_bytes(4, 'big')).decode()
    sha1 = base64.b64encode(hashlib.sha1(val).digest()).decode()
    sha256 = base64.b64encode(hashlib.sha256(val).digest()).decode()
    for name, good in [('crc32', crc), ('sha1', sha1), ('sha256', sha256)]:
        p = '/%s/raw/ck-%s' % (b, name)
        st, _h, body = raw('PUT', p, val, headers={'x-amz-checksum-' + name: good})
        check(st == 200, 'PUT with a right x-amz-checksum-%s' % name, 200,
              '%s %s' % (st, body[:300]))
        bad = base64.b64encode(b'\x00' * len(base64.b64decode(good))).decode()
        st, _h, body = raw('PUT', p + '-bad', val, headers={'x-amz-checksum-' + name: bad})
        check(st == 400 and xml_code(body) == 'BadDigest',
              'PUT with a wrong x-amz-checksum-%s' % name, '400 BadDigest',
              '%s %s' % (st, body[:300]))
        st, _h, _b = raw('HEAD', p + '-bad')
        check(st == 404, 'HEAD after a wrong x-amz-checksum-%s' % name, 404, st)
    # crc32c: the right value only if the module exists here; a wrong one always
    st, _h, body = raw('PUT', '/%s/raw/ck-crc32c-bad' % b, val,
                       headers={'x-amz-checksum-crc32c': 'AAAAAA=='})
    check(st == 400 and xml_code(body) == 'BadDigest', 'PUT with a wrong x-amz-checksum-crc32c',
          '400 BadDigest', '%s %s' % (st, body[:300]))
    st, _h, body = raw('PUT', '/%s/raw/ck-crc32c' % b, val,
                       headers={'x-amz-checksum-crc32c': crc32c_b64(val)})
    check(st == 200, 'PUT with a right x-amz-checksum-crc32c', 200, '%s %s' % (st, body[:300]))

    if crc64nvme(b'123456789') == 0xae8b14860a799888:  # the CRC-64/NVME check value
        good = base64.b64encode(crc64nvme(val).to_bytes(8, 'big')).decode()
        st, _h, body = raw('PUT', '/%s/raw/ck-crc64nvme' % b, val,
                           headers={'x-amz-checksum-crc64nvme': good})
        check(st == 200, 'PUT with a right x-amz-checksum-crc64nvme', 200,
              '%s %s' % (st, body[:300]))
    st, _h, body = raw('PUT', '/%s/raw/ck-crc64nvme-bad' % b, val,
                       headers={'x-amz-checksum-crc64nvme': 'AAAAAAAAAAA='})
    check(st == 400 and xml_code(body) == 'BadDigest',
          'PUT with a wrong x-amz-checksum-crc64nvme', '400 BadDigest', '%s %s' % (st, body[:300]))

    sv = data(200000, 'stream')
    st, _h, body = streaming_put('/%s/raw/streamed' % b, sv)
    check(st == 200, 'aws-chunked PUT (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)', 200,
          '%s %s' % (st, body[:300]))
    g = attempt('GetObject of the aws-chunked upload', s3.get_object, Bucket=b, Key='raw/streamed')
    if g:
        got = read_body(g)
        check(got == sv, 'aws-chunked upload read back', 'the %d bytes' % len(sv),
              '%d bytes md5 %s' % (len(got), md5hex(got)))
        check(g.get('ETag') == '"%s"' % md5hex(sv), 'aws-chunked upload ETag', md5hex(sv),
              g.get('ETag'))
    objs['raw/streamed'] = md5hex(sv)
    st, _h, body = streaming_put('/%s/raw/streamed-bad' % b, sv, break_chunk=1)
    check(st == 403 and xml_code(body) == 'SignatureDoesNotMatch',
          'aws-chunked PUT with a wrong chunk signature', '403 SignatureDoesNotMatch',
          '%s %s' % (st, body[:300]))
    st, _h, _b = raw('HEAD', '/%s/raw/streamed-bad' % b)
    check(st == 404, 'HEAD after a wrong chunk signature', 404, st)

    # missing keys and deletes
    expect_error('GetObject of a missing key', s3.get_object, 404, 'NoSuchKey', Bucket=b,
                 Key='no/such/key')
    expect_error('HeadObject of a missing key', s3.head_object, 404, None, Bucket=b,
                 Key='no/such/key')
    attempt('PutObject del/1', s3.put_object, Bucket=b, Key='del/1', Body=b'one')
    r = attempt('DeleteObject', s3.delete_object, Bucket=b, Key='del/1')
    check(status_of(r) == 204, 'DeleteObject status', 204, status_of(r))
    expect_error('GetObject after DeleteObject', s3.get_object, 404, 'NoSuchKey', Bucket=b,
                 Key='del/1')
    r = attempt('DeleteObject of a missing key', s3.delete_object, Bucket=b, Key='del/1')
    check(status_of(r) == 204, 'DeleteObject of a missing key status', 204, status_of(r))
    for i in range(4):
        attempt('PutObject del/m%d' % i, s3.put_object, Bucket=b, Key='del/m%d' % i, Body=b'm')
    r = attempt('DeleteObjects', s3.delete_objects, Bucket=b, Delete={
        'Objects': [{'Key': 'del/m0'}, {'Key': 'del/m1'}, {'Key': 'del/absent'}]}) or {}
    got = sorted(x['Key'] for x in r.get('Deleted', []))
    check(got == ['del/absent', 'del/m0', 'del/m1'] and not r.get('Errors'),
          'DeleteObjects Deleted', "['del/absent', 'del/m0', 'del/m1'], no Errors",
          '%s errors %s' % (got, r.get('Errors')))
    r = attempt('DeleteObjects Quiet', s3.delete_objects, Bucket=b, Delete={
        'Objects': [{'Key': 'del/m2'}, {'Key': 'del/m3'}, {'Key': 'del/absent2'}],
        'Quiet': True}) or {}
    check(not r.get('Deleted') and not r.get('Errors') and status_of(r) == 200,
          'DeleteObjects Quiet', '200, no Deleted, no Errors', r)
    lst = attempt('ListObjectsV2 del/', s3.list_objects_v2, Bucket=b, Prefix='del/') or {}
    check(lst.get('KeyCount') == 0, 'ListObjectsV2 after DeleteObjects', 'no keys',
          [x['Key'] for x in lst.get('Contents', [])])

    # 501 for what is not served
    # CopyObject: COPY (the source's metadata) and REPLACE
    attempt('PutObject copy source', s3.put_object, Bucket=b, Key='copy/src', Body=v,
            ContentType='application/x-src', Metadata={'from': 'source'})
    r = attempt('CopyObject', s3.copy_object, Bucket=b, Key='copy/of-three',
                CopySource={'Bucket': b, 'Key': 'copy/src'}) or {}
    et = r.get('CopyObjectResult', {}).get('ETag')
    check(et == '"%s"' % md5hex(v), 'CopyObject result ETag', md5hex(v), et)
    g = attempt('GetObject of the copy', s3.get_object, Bucket=b, Key='copy/of-three')
    if g:
        got = read_body(g)
        check(got == v, 'GetObject of the copy', 'the source bytes',
              '%d bytes md5 %s' % (len(got), md5hex(got)))
    h = attempt('HeadObject of the copy', s3.head_object, Bucket=b, Key='copy/of-three') or {}
    check(h.get('Metadata') == {'from': 'source'} and h.get('ContentType') == 'application/x-src',
          'CopyObject (COPY) metadata', "{'from': 'source'} application/x-src",
          '%s %s' % (h.get('Metadata'), h.get('ContentType')))
    r = attempt('CopyObject REPLACE', s3.copy_object, Bucket=b, Key='copy/replaced',
                CopySource={'Bucket': b, 'Key': 'copy/src'}, MetadataDirective='REPLACE',
                ContentType='text/x-new', Metadata={'new': 'yes'}) or {}
    h = attempt('HeadObject of the REPLACE copy', s3.head_object, Bucket=b,
                Key='copy/replaced') or {}
    check(h.get('Metadata') == {'new': 'yes'} and h.get('ContentType') == 'text/x-new' and
          h.get('ETag') == '"%s"' % md5hex(v), 'CopyObject (REPLACE) metadata',
          "{'new': 'yes'} text/x-new", '%s %s %s' % (h.get('Metadata'), h.get('ContentType'),
                                                   h.get('ETag')))
    objs['copy/of-three'] = md5hex(v)
    objs['copy/replaced'] = md5hex(v)
    expect_error('CopyObject of a missing source', s3.copy_object, 404, 'NoSuchKey',
                 Bucket=b, Key='copy/none', CopySource={'Bucket': b, 'Key': 'no/such'})
    expect_error('HeadObject after a failed CopyObject', s3.head_object, 404, None, Bucket=b,
                 Key='copy/none')
    # CopyObject's conditions on its source: met, the copy is made; not met,
    # PreconditionFailed and nothing written.
    src = {'Bucket': b, 'Key': 'copy/src'}
    past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)
    for what, kw in [('if-match', dict(CopySourceIfMatch='"%s"' % md5hex(v))),
                     ('if-none-match other', dict(CopySourceIfNoneMatch='"%s"' % ('0' * 32))),
                     ('if-modified-since past', dict(CopySourceIfModifiedSince=past)),
                     ('if-unmodified-since future', dict(CopySourceIfUnmodifiedSince=future))]:
        r = attempt('CopyObject %s' % what, s3.copy_object, Bucket=b, Key='copy/cond',
                    CopySource=src, **kw) or {}
        et = r.get('CopyObjectResult', {}).get('ETag')
        check(et == '"%s"' % md5hex(v), 'CopyObject %s' % what, md5hex(v), et)
    attempt('DeleteObject copy/cond', s3.delete_object, Bucket=b, Key='copy/cond')
    for what, kw in [('if-match wrong', dict(CopySourceIfMatch='"%s"' % ('0' * 32))),
                     ('if-none-match right', dict(CopySourceIfNoneMatch='"%s"' % md5hex(v))),
                     ('if-modified-since future', dict(CopySourceIfModifiedSince=future)),
                     ('if-unmodified-since past', dict(CopySourceIfUnmodifiedSince=past))]:
        expect_error('CopyObject %s' % what, s3.copy_object, 412, 'PreconditionFailed', Bucket=b,
                     Key='copy/cond', CopySource=src, **kw)
    expect_error('HeadObject after the refused copies', s3.head_object, 404, None, Bucket=b,
                 Key='copy/cond')
    expect_error('GetObjectAcl', s3.get_object_acl, 501, 'NotImplemented', Bucket=b, Key='tiny')
    expect_error('GetObjectTagging', s3.get_object_tagging, 501, 'NotImplemented', Bucket=b,
                 Key='tiny')
    INFO['objects'] = objs


def crc32c_b64(b):
    poly = 0x82F63B78
    crc = 0xffffffff
    for byte in b:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    crc ^= 0xffffffff
    return base64.b64encode(crc.to_bytes(4, 'big')).decode()


def crc64nvme(b):
    poly = 0x9a6c9329ac4bc9b5
    crc = 0xffffffffffffffff
    for byte in b:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc ^ 0xffffffffffffffff


def listing_keys():
    return sorted(['dir1/k%02d' % i for i in range(10)] +
                  ['dir2/sub/k%02d' % i for i in range(5)] + ['dir2/top'] +
                  ['top%02d' % i for i in range(9)])


def sc_listing(s3):
    b = ARGS['bucket']
    ensure_bucket(s3, b)
    keys = listing_keys()
    for k in keys:
        attempt('PutObject %s' % k, s3.put_object, Bucket=b, Key=k, Body=k.encode() * 3)

    def v2_pages(what, **kw):
        pages, token = [], None
        for _ in range(50):
            args = dict(kw)
            if token:
                args['ContinuationToken'] = token
            r = attempt(what, s3.list_objects_v2, Bucket=b, **args)
            if r is None:
                return pages
            pages.append(r)
            if not r.get('IsTruncated'):
                return pages
            token = r.get('NextContinuationToken')
            if not check(token, what + ' NextContinuationToken', 'present when truncated', r):
                return pages
        fail(what, 'the end within 50 pages', 'still truncated')
        return pages

    # no delimiter, 7 a page
    pages = v2_pages('ListObjectsV2 MaxKeys=7', MaxKeys=7)
    got = [c['Key'] for p in pages for c in p.get('Contents', [])]
    check(got == keys, 'ListObjectsV2 MaxKeys=7 keys', keys, got)
    check([len(p.get('Contents', [])) for p in pages] == [7, 7, 7, 4],
          'ListObjectsV2 MaxKeys=7 page sizes', [7, 7, 7, 4],
          [len(p.get('Contents', [])) for p in pages])
    for i, p in enumerate(pages):
        check(p.get('KeyCount') == len(p.get('Contents', [])), 'KeyCount of page %d' % i,
              len(p.get('Contents', [])), p.get('KeyCount'))
        check(p.get('MaxKeys') == 7, 'MaxKeys of page %d' % i, 7, p.get('MaxKeys'))
        check(p.get('Name') == b, 'Name of page %d' % i, b, p.get('Name'))
    for p in pages:
        for c in p.get('Contents', []):
            v = c['Key'].encode() * 3
            check(c.get('ETag') == '"%s"' % md5hex(v) and c.get('Size') == len(v),
                  'ListObjectsV2 entry %s' % c['Key'], 'ETag "%s" Size %d' % (md5hex(v), len(v)),
                  'ETag %s Size %s' % (c.get('ETag'), c.get('Size')))
    # Owner: ListObjectsV2 names it only with FetchOwner, v1 always
    check(not any('Owner' in c for p in pages for c in p.get('Contents', [])),
          'ListObjectsV2 without FetchOwner', 'no Owner', pages[0].get('Contents', [{}])[0])
    for what, fn, kw in [('ListObjectsV2 FetchOwner', s3.list_objects_v2, dict(FetchOwner=True)),
                         ('ListObjects', s3.list_objects, {})]:
        r = attempt(what, fn, Bucket=b, MaxKeys=2, **kw) or {}
        owners = [c.get('Owner', {}).get('ID') for c in r.get('Contents', [])]
        check(len(owners) == 2 and all(owners), '%s Owner' % what, 'an Owner ID for each',
              owners)
    # delimiter, 3 a page
    pages = v2_pages('ListObjectsV2 Delimiter=/ MaxKeys=3', Delimiter='/', MaxKeys=3)
    got = [c['Key'] for p in pages for c in p.get('Contents', [])]
    pre = [c['Prefix'] for p in pages for c in p.get('CommonPrefixes', [])]
    check(got == ['top%02d' % i for i in range(9)], 'ListObjectsV2 Delimiter=/ keys',
          ['top%02d' % i for i in range(9)], got)
    check(pre == ['dir1/', 'dir2/'], 'ListObjectsV2 Delimiter=/ CommonPrefixes',
          ['dir1/', 'dir2/'], pre)
    for i, p in enumerate(pages):
        n = len(p.get('Contents', [])) + len(p.get('CommonPrefixes', []))
        check(p.get('KeyCount') == n and n <= 3, 'Delimiter page %d KeyCount' % i,
              '%d (<= 3)' % n, p.get('KeyCount'))
    # prefix + delimiter
    r = attempt('ListObjectsV2 Prefix=dir2/ Delimiter=/', s3.list_objects_v2, Bucket=b,
                Prefix='dir2/', Delimiter='/') or {}
    check([c['Key'] for c in r.get('Contents', [])] == ['dir2/top'] and
          [c['Prefix'] for c in r.get('CommonPrefixes', [])] == ['dir2/sub/'] and
          r.get('KeyCount') == 2 and r.get('Prefix') == 'dir2/' and r.get('Delimiter') == '/',
          'ListObjectsV2 Prefix=dir2/ Delimiter=/',
          "Contents ['dir2/top'], CommonPrefixes ['dir2/sub/'], KeyCount 2",
          '%s %s KeyCount %s' % ([c['Key'] for c in r.get('Contents', [])],
                                 r.get('CommonPrefixes'), r.get('KeyCount')))
    r = attempt('ListObjectsV2 Prefix=dir1/ StartAfter=dir1/k04', s3.list_objects_v2, Bucket=b,
                Prefix='dir1/', StartAfter='dir1/k04') or {}
    want = ['dir1/k%02d' % i for i in range(5, 10)]
    check([c['Key'] for c in r.get('Contents', [])] == want, 'ListObjectsV2 StartAfter', want,
          [c['Key'] for c in r.get('Contents', [])])
    r = attempt('ListObjectsV2 Prefix=nothing', s3.list_objects_v2, Bucket=b, Prefix='nothing') or {}
    check(r.get('KeyCount') == 0 and 'Contents' not in r, 'ListObjectsV2 Prefix=nothing',
          'no keys', r.get('Contents'))
    r = attempt('ListObjectsV2 MaxKeys=5000', s3.list_objects_v2, Bucket=b, MaxKeys=5000) or {}
    check(len(r.get('Contents', [])) == 25 and r.get('IsTruncated') is False,
          'ListObjectsV2 MaxKeys=5000', '25 keys, not truncated',
          '%d keys truncated=%s MaxKeys=%s' % (len(r.get('Contents', [])), r.get('IsTruncated'),
                                               r.get('MaxKeys')))
    # the boto3 paginator
    pg = s3.get_paginator('list_objects_v2')
    got = []
    try:
        for p in pg.paginate(Bucket=b, PaginationConfig={'PageSize': 4}):
            got += [c['Key'] for c in p.get('Contents', [])]
    except Exception as e:  # noqa: BLE001
        fail('list_objects_v2 paginator', 'success', repr(e))
    check(got == keys, 'list_objects_v2 paginator PageSize=4', keys, got)
    # v1: Marker / NextMarker
    got, marker = [], ''
    for i in range(20):
        r = attempt('ListObjects Marker=%r' % marker, s3.list_objects, Bucket=b, MaxKeys=6,
                    Marker=marker)
        if r is None:
            break
        page = [c['Key'] for c in r.get('Contents', [])]
        got += page
        if not r.get('IsTruncated'):
            break
        marker = r.get('NextMarker') or (page[-1] if page else '')
    check(got == keys, 'ListObjects (v1) MaxKeys=6 with Marker', keys, got)
    got, pre, marker = [], [], ''
    for i in range(20):
        r = attempt('ListObjects Delimiter=/ Marker=%r' % marker, s3.list_objects, Bucket=b,
                    MaxKeys=4, Delimiter='/', Marker=marker)
        if r is None:
            break
        got += [c['Key'] for c in r.get('Contents', [])]
        pre += [c['Prefix'] for c in r.get('CommonPrefixes', [])]
        if not r.get('IsTruncated'):
            break
        if not check(r.get('NextMarker'), 'ListObjects Delimiter=/ NextMarker',
                     'present when truncated', r):
            break
        marker = r['NextMarker']
    check(got == ['top%02d' % i for i in range(9)] and pre == ['dir1/', 'dir2/'],
          'ListObjects (v1) Delimiter=/ MaxKeys=4', "top00..top08 and ['dir1/', 'dir2/']",
          '%s %s' % (got, pre))
    # versions
    r = attempt('ListObjectVersions', s3.list_object_versions, Bucket=b) or {}
    vs = r.get('Versions', [])
    check([v['Key'] for v in vs] == keys, 'ListObjectVersions keys', keys,
          [v['Key'] for v in vs])
    check(all(v.get('VersionId') == 'null' and v.get('IsLatest') is True for v in vs),
          'ListObjectVersions VersionId/IsLatest', 'null/True',
          [(v.get('VersionId'), v.get('IsLatest')) for v in vs[:3]])
    r = attempt('ListObjectVersions Prefix=dir2/ Delimiter=/', s3.list_object_versions, Bucket=b,
                Prefix='dir2/', Delimiter='/') or {}
    check([v['Key'] for v in r.get('Versions', [])] == ['dir2/top'] and
          [c['Prefix'] for c in r.get('CommonPrefixes', [])] == ['dir2/sub/'],
          'ListObjectVersions Prefix=dir2/ Delimiter=/', "['dir2/top'] and ['dir2/sub/']",
          '%s %s' % ([v['Key'] for v in r.get('Versions', [])], r.get('CommonPrefixes')))
    # raw: without encoding-type, and with encoding-type=url
    st, _h, body = raw('GET', '/' + b, query='list-type=2&prefix=dir2%2F&delimiter=%2F')
    check(st == 200 and b'<Key>dir2/top</Key>' in body and b'<Prefix>dir2/sub/</Prefix>' in body,
          'raw ListObjectsV2 without encoding-type', '<Key>dir2/top</Key> and '
          '<Prefix>dir2/sub/</Prefix>', '%s %s' % (st, body[:600]))
    st, _h, body = raw('GET', '/' + b, query='list-type=2&max-keys=abc')
    check(st == 400 and xml_code(body) == 'InvalidArgument', 'ListObjectsV2 max-keys=abc',
          '400 InvalidArgument', '%s %s' % (st, body[:300]))
    st, _h, body = raw('GET', '/' + b, query='list-type=2&continuation-token=garbage%21')
    check(st == 400 and xml_code(body) == 'InvalidArgument', 'ListObjectsV2 bad token',
          '400 InvalidArgument', '%s %s' % (st, body[:300]))
    INFO['keys'] = keys


SPECIAL = ['with space', 'plus+sign', 'percent%20literal', 'question?mark', 'hash#tag',
           'amp&eq=sign', 'ünïcødé/日本語/ключ', 'tilde~star*', 'semi;colon,comma', 'a//double',
           "quote'dq\"", 'lt<gt>amp&', 'dir/with space/x y', 'emoji-\U0001F600', 'back\\slash',
           'dollar$at@', 'caret^pipe|', 'brackets[]{}()', '.dotstart', 'trailing/']


def sc_keys(s3):
    b = ARGS['bucket']
    ensure_bucket(s3, b)
    for k in SPECIAL:
        v = ('value of ' + k).encode()
        r = attempt('PutObject %r' % k, s3.put_object, Bucket=b, Key=k, Body=v) or {}
        check(r.get('ETag') == '"%s"' % md5hex(v), 'PutObject %r ETag' % k, md5hex(v),
              r.get('ETag'))
        g = attempt('GetObject %r' % k, s3.get_object, Bucket=b, Key=k)
        if g:
            got = read_body(g)
            check(got == v, 'GetObject %r body' % k, repr(v), repr(got[:80]))
        h = attempt('HeadObject %r' % k, s3.head_object, Bucket=b, Key=k) or {}
        check(h.get('ContentLength') == len(v), 'HeadObject %r' % k, len(v),
              h.get('ContentLength'))
    want = sorted(SPECIAL, key=lambda s: s.encode())
    r = attempt('ListObjectsV2 special keys', s3.list_objects_v2, Bucket=b) or {}
    got = [c['Key'] for c in r.get('Contents', [])]
    check(got == want, 'ListObjectsV2 (encoding-type=url) special keys', want, got)
    r = attempt('ListObjects v1 special keys', s3.list_objects, Bucket=b) or {}
    got = [c['Key'] for c in r.get('Contents', [])]
    check(got == want, 'ListObjects (v1, encoding-type=url) special keys', want, got)
    r = attempt('ListObjectsV2 Prefix=ünïcødé/', s3.list_objects_v2, Bucket=b,
                Prefix='ünïcødé/', Delimiter='/') or {}
    check([c['Prefix'] for c in r.get('CommonPrefixes', [])] == ['ünïcødé/日本語/'],
          'ListObjectsV2 unicode prefix + delimiter', ['ünïcødé/日本語/'],
          r.get('CommonPrefixes'))
    # without encoding-type=url: the XML carries the keys escaped as XML
    s3raw = client()
    s3raw.meta.events.unregister('before-parameter-build.s3.ListObjectsV2',
                                 botocore.handlers.set_list_objects_encoding_type_url)
    r = attempt('ListObjectsV2 without encoding-type', s3raw.list_objects_v2, Bucket=b) or {}
    got = [c['Key'] for c in r.get('Contents', [])]
    check(got == want, 'ListObjectsV2 without encoding-type special keys', want, got)
    # key length: "/B/KEY" at most 189 bytes
    room = 189 - len('/%s/' % b)
    k_ok = 'L' * room
    r = attempt('PutObject key of %d bytes (path 189)' % room, s3.put_object, Bucket=b, Key=k_ok,
                Body=b'long')
    g = attempt('GetObject key of %d bytes' % room, s3.get_object, Bucket=b, Key=k_ok)
    if g:
        check(read_body(g) == b'long', 'GetObject longest key', b'long', '?')
    expect_error('PutObject key of %d bytes (path 190)' % (room + 1), s3.put_object, 400,
                 'KeyTooLongError', Bucket=b, Key='L' * (room + 1), Body=b'too long')
    ks = ['L' * room + 'é']  # multibyte: 191 bytes
    expect_error('PutObject key over the limit by a multibyte char', s3.put_object, 400,
                 'KeyTooLongError', Bucket=b, Key=ks[0], Body=b'too long')
    INFO['keys'] = SPECIAL
    INFO['long_key'] = k_ok


def sc_auth(s3):
    b = ARGS['bucket']
    ensure_bucket(s3, b)
    v = b'presigned and secret'
    attempt('PutObject', s3.put_object, Bucket=b, Key='auth/obj', Body=v)
    ak = os.environ['AWS_ACCESS_KEY_ID']
    sk = os.environ['AWS_SECRET_ACCESS_KEY']
    wrong = client(aws_access_key_id=ak, aws_secret_access_key=sk[:-1] + ('x' if sk[-1] != 'x'
                                                                         else 'y'))
    unknown = client(aws_access_key_id='AKIDNOTKNOWN12345678', aws_secret_access_key=sk)
    anon = client(config={'signature_version': UNSIGNED})
    for name, c, st, code in [('wrong secret', wrong, 403, 'SignatureDoesNotMatch'),
                              ('unknown access key', unknown, 403, 'InvalidAccessKeyId'),
                              ('anonymous', anon, 403, 'AccessDenied')]:
        expect_error('ListBuckets (%s)' % name, c.list_buckets, st, code)
        expect_error('GetObject (%s)' % name, c.get_object, st, code, Bucket=b, Key='auth/obj')
        expect_error('PutObject (%s)' % name, c.put_object, st, code, Bucket=b, Key='auth/evil',
                     Body=b'evil')
        expect_error('ListObjectsV2 (%s)' % name, c.list_objects_v2, st, code, Bucket=b)
        expect_error('DeleteObject (%s)' % name, c.delete_object, st, code, Bucket=b,
                     Key='auth/obj')
        expect_error('HeadObject (%s)' % name, c.head_object, st, None, Bucket=b, Key='auth/obj')
    expect_error('HeadObject auth/evil (never written)', s3.head_object, 404, None, Bucket=b,
                 Key='auth/evil')
    g = attempt('GetObject after refused DeleteObjects', s3.get_object, Bucket=b, Key='auth/obj')
    if g:
        check(read_body(g) == v, 'object kept after refused deletes', repr(v), '?')
    # raw: a tampered signature, a skewed clock
    u = s3.generate_presigned_url('get_object', Params={'Bucket': b, 'Key': 'auth/obj'},
                                  ExpiresIn=300)
    st, _h, body = http_send('GET', u)
    check(st == 200 and body == v, 'presigned GET', '200 %r' % v, '%s %r' % (st, body[:200]))
    sig = urllib.parse.parse_qs(urllib.parse.urlsplit(u).query)['X-Amz-Signature'][0]
    tampered = u.replace(sig, ('0' if sig[0] != '0' else '1') + sig[1:])
    st, _h, body = http_send('GET', tampered)
    check(st == 403 and xml_code(body) == 'SignatureDoesNotMatch',
          'presigned GET with a tampered signature', '403 SignatureDoesNotMatch',
          '%s %s' % (st, body[:300]))
    u2 = s3.generate_presigned_url('get_object', Params={'Bucket': b, 'Key': 'auth/none'},
                                   ExpiresIn=300)
    st, _h, body = http_send('GET', u2)
    check(st == 404 and xml_code(body) == 'NoSuchKey', 'presigned GET of a missing key',
          '404 NoSuchKey', '%s %s' % (st, body[:300]))
    u3 = s3.generate_presigned_url('get_object', Params={'Bucket': b, 'Key': 'auth/obj'},
                                   ExpiresIn=300).replace('/auth/obj', '/auth/other')
    st, _h, body = http_send('GET', u3)
    check(st == 403 and xml_code(body) == 'SignatureDoesNotMatch',
          'presigned GET URL moved to another key', '403 SignatureDoesNotMatch',
          '%s %s' % (st, body[:300]))
    pv = b'uploaded through a presigned PUT URL'
    up = s3.generate_presigned_url('put_object', Params={'Bucket': b, 'Key': 'auth/presigned-put'},
                                   ExpiresIn=300)
    st, h, body = http_send('PUT', up, pv, {'Content-Length': str(len(pv))})
    check(st == 200, 'presigned PUT', 200, '%s %s' % (st, body[:300]))
    check(h.get('etag') == '"%s"' % md5hex(pv), 'presigned PUT ETag', md5hex(pv), h.get('etag'))
    g = attempt('GetObject of the presigned PUT', s3.get_object, Bucket=b, Key='auth/presigned-put')
    if g:
        got = read_body(g)
        check(got == pv, 'presigned PUT read back', repr(pv), repr(got[:80]))
    ue = s3.generate_presigned_url('get_object', Params={'Bucket': b, 'Key': 'auth/obj'},
                                   ExpiresIn=1)
    upe = s3.generate_presigned_url('put_object', Params={'Bucket': b, 'Key': 'auth/late'},
                                    ExpiresIn=1)
    time.sleep(2.2)
    st, _h, body = http_send('GET', ue)
    check(st == 403 and xml_code(body) == 'AccessDenied', 'expired presigned GET',
          '403 AccessDenied', '%s %s' % (st, body[:300]))
    st, _h, body = http_send('PUT', upe, b'late', {'Content-Length': '4'})
    check(st == 403, 'expired presigned PUT', 403, '%s %s' % (st, body[:300]))
    expect_error('HeadObject auth/late', s3.head_object, 404, None, Bucket=b, Key='auth/late')
    # a request signed 20 minutes ago
    import unittest.mock
    old = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    with unittest.mock.patch('botocore.auth.datetime') as dt:
        dt.datetime.utcnow.return_value = old
        dt.timedelta = datetime.timedelta
        try:
            st, _h, body = raw('GET', '/' + b, query='list-type=2')
        except Exception as e:  # noqa: BLE001
            st, body = 'exception', repr(e).encode()
    check(st == 403 and xml_code(body) == 'RequestTimeTooSkewed',
          'ListObjectsV2 signed 20 minutes ago', '403 RequestTimeTooSkewed',
          '%s %s' % (st, body[:300]))
    INFO['presigned_put'] = md5hex(pv)


def sc_concurrent(s3):
    """One writer overwrites KEY with A and B; readers must see exactly A or B."""
    b = ARGS['bucket']
    ensure_bucket(s3, b)
    key = 'race/value'
    size = ARGS.get('size', 1 << 20)
    A = data(size, 'A')
    B = data(size, 'B')
    known = {md5hex(A): 'A', md5hex(B): 'B'}
    attempt('PutObject A', s3.put_object, Bucket=b, Key=key, Body=A)
    stop = threading.Event()
    lock = threading.Lock()
    counts = {'writes': 0, 'reads': 0, 'A': 0, 'B': 0}
    problems = []

    def note(p):
        with lock:
            counts['problems'] = counts.get('problems', 0) + 1
            if len(problems) < 8:
                problems.append(p)

    def writer():
        c = client()
        i = 0
        while not stop.is_set():
            v = B if i % 2 == 0 else A
            try:
                r = c.put_object(Bucket=b, Key=key, Body=v)
                if r.get('ETag') != '"%s"' % md5hex(v):
                    note('PutObject ETag %s for %s' % (r.get('ETag'), known[md5hex(v)]))
            except Exception as e:  # noqa: BLE001
                note('PutObject %s: %r' % (known[md5hex(v)], e))
            i += 1
            with lock:
                counts['writes'] += 1

    def reader():
        c = client()
        while not stop.is_set():
            try:
                g = c.get_object(Bucket=b, Key=key)
                body = g['Body'].read()
            except Exception as e:  # noqa: BLE001
                note('GetObject: %r' % e)
                continue
            m = md5hex(body)
            with lock:
                counts['reads'] += 1
                if m in known:
                    counts[known[m]] += 1
            if m not in known:
                note('GetObject body is neither A nor B: %d bytes md5 %s (ETag %s)' % (
                    len(body), m, g.get('ETag')))
            elif g.get('ETag') != '"%s"' % m:
                note('GetObject ETag %s does not match the body read (%s, md5 %s)' % (
                    g.get('ETag'), known[m], m))
            elif g.get('ContentLength') != len(body):
                note('GetObject Content-Length %s, body %d' % (g.get('ContentLength'), len(body)))

    ths = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(4)]
    for t in ths:
        t.start()
    time.sleep(ARGS.get('seconds', 8))
    stop.set()
    for t in ths:
        t.join()
    INFO['counts'] = counts
    for p in problems:
        fail('concurrent overwrite/read', 'every read exactly A or B, no error', p)
    if counts.get('problems', 0) > len(problems):
        fail('concurrent overwrite/read', 'no problem', '%d problems in all (first %d above), '
             'counts %s' % (counts['problems'], len(problems), counts))
    check(counts['writes'] >= 4 and counts['reads'] >= 20, 'concurrent overwrite/read volume',
          '>= 4 writes and >= 20 reads', counts)
    check(counts['A'] > 0 and counts['B'] > 0, 'readers saw both values', 'A and B seen', counts)
    last = attempt('GetObject after the race', s3.get_object, Bucket=b, Key=key)
    if last:
        m = md5hex(read_body(last))
        INFO['final_md5'] = m
        check(m in known, 'final value', 'A or B', m)


def sc_https(s3):
    b = ARGS['bucket']
    attempt('CreateBucket over https', s3.create_bucket, Bucket=b)
    v = data(700000, 'https')
    r = attempt('PutObject over https', s3.put_object, Bucket=b, Key='tls/obj', Body=v) or {}
    check(r.get('ETag') == '"%s"' % md5hex(v), 'PutObject over https ETag', md5hex(v),
          r.get('ETag'))
    g = attempt('GetObject over https', s3.get_object, Bucket=b, Key='tls/obj')
    if g:
        got = read_body(g)
        check(got == v, 'GetObject over https body', 'the bytes', '%d bytes md5 %s' % (
            len(got), md5hex(got)))
    g = attempt('GetObject Range over https', s3.get_object, Bucket=b, Key='tls/obj',
                Range='bytes=100-199')
    if g:
        check(read_body(g) == v[100:200] and status_of(g) == 206, 'GetObject Range over https',
              '206 and 100 bytes', status_of(g))
    h = attempt('HeadObject over https', s3.head_object, Bucket=b, Key='tls/obj') or {}
    check(h.get('ContentLength') == len(v), 'HeadObject over https', len(v), h.get('ContentLength'))
    r = attempt('ListObjectsV2 over https', s3.list_objects_v2, Bucket=b) or {}
    check([c['Key'] for c in r.get('Contents', [])] == ['tls/obj'], 'ListObjectsV2 over https',
          ['tls/obj'], r.get('Contents'))
    u = s3.generate_presigned_url('get_object', Params={'Bucket': b, 'Key': 'tls/obj'},
                                  ExpiresIn=60)
    st, _h, body = http_send('GET', u)
    check(st == 200 and body == v, 'presigned GET over https', 200, st)
    expect_error('wrong secret over https',
                 client(aws_access_key_id=os.environ['AWS_ACCESS_KEY_ID'],
                        aws_secret_access_key='x' * 40).list_buckets, 403,
                 'SignatureDoesNotMatch')
    r = attempt('DeleteObject over https', s3.delete_object, Bucket=b, Key='tls/obj')
    check(status_of(r) == 204, 'DeleteObject over https', 204, status_of(r))
    r = attempt('DeleteBucket over https', s3.delete_bucket, Bucket=b)
    check(status_of(r) == 204, 'DeleteBucket over https', 204, status_of(r))
    INFO['md5'] = md5hex(v)


def sc_basic(s3):
    """A short round trip, for another botocore (newer: sends checksums)."""
    b = ARGS['bucket']
    ensure_bucket(s3, b)
    INFO['botocore'] = botocore.__version__
    sent = INFO.setdefault('put_headers', [])

    def seen(request, **kw):
        if request.method == 'PUT' and len(sent) < 4:
            sent.append(sorted(k.lower() for k in request.headers.keys()
                               if k.lower().startswith(('x-amz-', 'content-'))) +
                        [request.headers.get('x-amz-content-sha256', b'')])
    s3.meta.events.register('before-send.s3', seen)
    for key, n in [('nb/small', 100), ('nb/big', 2 * (1 << 20) + 5)]:
        v = data(n, key)
        r = attempt('PutObject %s' % key, s3.put_object, Bucket=b, Key=key, Body=v) or {}
        check(r.get('ETag') == '"%s"' % md5hex(v), 'PutObject %s ETag' % key, md5hex(v),
              r.get('ETag'))
        g = attempt('GetObject %s' % key, s3.get_object, Bucket=b, Key=key)
        if g:
            got = read_body(g)
            check(got == v, 'GetObject %s body' % key, 'the bytes', '%d bytes md5 %s' % (
                len(got), md5hex(got)))
        v2 = data(n, key + 'x')
        try:
            r = s3.put_object(Bucket=b, Key=key, Body=v2, ChecksumAlgorithm='SHA256')
            check(r.get('ETag') == '"%s"' % md5hex(v2), 'PutObject SHA256 checksum %s' % key,
                  md5hex(v2), r.get('ETag'))
        except ClientError as e:
            fail('PutObject ChecksumAlgorithm=SHA256 %s' % key, 'success', '%s %s' % err(e))
        except Exception as e:  # noqa: BLE001
            fail('PutObject ChecksumAlgorithm=SHA256 %s' % key, 'success', repr(e))
        # The checksum the upload gave (a header, or an aws-chunked trailer)
        # is kept: HEAD and GET answer it when asked, and GET's body is
        # checked against it by the newer botocore.
        cs = base64.b64encode(hashlib.sha256(v2).digest()).decode()
        h = attempt('HeadObject ChecksumMode %s' % key, s3.head_object, Bucket=b, Key=key,
                    ChecksumMode='ENABLED') or {}
        check(h.get('ChecksumSHA256') == cs, 'HeadObject ChecksumSHA256 %s' % key, cs,
              h.get('ChecksumSHA256'))
        h = attempt('HeadObject %s' % key, s3.head_object, Bucket=b, Key=key) or {}
        check('ChecksumSHA256' not in h, 'HeadObject without ChecksumMode %s' % key, 'none',
              h.get('ChecksumSHA256'))
        g = attempt('GetObject ChecksumMode %s' % key, s3.get_object, Bucket=b, Key=key,
                    ChecksumMode='ENABLED')
        if g:
            check(g.get('ChecksumSHA256') == cs, 'GetObject ChecksumSHA256 %s' % key, cs,
                  g.get('ChecksumSHA256'))
            check(read_body(g) == v2, 'GetObject ChecksumMode body %s' % key, 'the bytes', '?')
        g = attempt('GetObject Range ChecksumMode %s' % key, s3.get_object, Bucket=b, Key=key,
                    Range='bytes=0-9', ChecksumMode='ENABLED')
        if g:
            check('ChecksumSHA256' not in g, 'GetObject Range: no whole-object checksum %s' % key,
                  'none', g.get('ChecksumSHA256'))
            check(read_body(g) == v2[:10], 'GetObject Range body %s' % key, v2[:10], '?')
    r = attempt('ListObjectsV2', s3.list_objects_v2, Bucket=b, Prefix='nb/') or {}
    check([c['Key'] for c in r.get('Contents', [])] == ['nb/big', 'nb/small'], 'ListObjectsV2',
          ['nb/big', 'nb/small'], r.get('Contents'))
    r = attempt('DeleteObjects', s3.delete_objects, Bucket=b, Delete={
        'Objects': [{'Key': 'nb/big'}, {'Key': 'nb/small'}]}) or {}
    check(len(r.get('Deleted', [])) == 2, 'DeleteObjects', 2, r)


def sc_multipart(s3):
    """CreateMultipartUpload/UploadPart/Complete/Abort, or INFO['skip'] when
    the server answers 501 NotImplemented."""
    b = ARGS['bucket']
    ensure_bucket(s3, b)
    key = 'mpu/object.bin'
    try:
        up = s3.create_multipart_upload(Bucket=b, Key=key, ContentType='application/x-mpu',
                                        Metadata={'kind': 'multipart'})
    except ClientError as e:
        st, c = err(e)
        if (st, c) == (501, 'NotImplemented'):
            INFO['skip'] = 'CreateMultipartUpload: 501 NotImplemented'
            return
        raise
    uid = up['UploadId']
    r = attempt('ListMultipartUploads', s3.list_multipart_uploads, Bucket=b) or {}
    INFO['listed_uploads'] = [(u.get('Key'), u.get('UploadId') == uid) for u in r.get('Uploads', [])]
    parts = [data(5 << 20, 'p1'), data(5 << 20, 'p2'), data((1 << 20) + 7, 'p3')]
    done = []
    for i, p in enumerate(parts, 1):
        r = attempt('UploadPart %d' % i, s3.upload_part, Bucket=b, Key=key, UploadId=uid,
                    PartNumber=i, Body=p, ContentMD5=b64md5(p)) or {}
        check(r.get('ETag') == '"%s"' % md5hex(p), 'UploadPart %d ETag' % i, md5hex(p),
              r.get('ETag'))
        done.append({'PartNumber': i, 'ETag': r.get('ETag') or '"%s"' % md5hex(p)})
    expect_error('UploadPart with a wrong Content-MD5', s3.upload_part, 400, 'BadDigest',
                 Bucket=b, Key=key, UploadId=uid, PartNumber=9, Body=b'xyz',
                 ContentMD5=b64md5(b'abc'))
    try:
        r = s3.list_parts(Bucket=b, Key=key, UploadId=uid)
        got = [(x['PartNumber'], x['ETag'], x['Size']) for x in r.get('Parts', [])]
        want = [(i, '"%s"' % md5hex(p), len(p)) for i, p in enumerate(parts, 1)]
        check(got == want, 'ListParts', want, got)
    except ClientError as e:
        INFO['list_parts'] = '%s %s' % err(e)
        check(err(e)[0] == 501, 'ListParts', 'the parts, or 501', '%s %s' % err(e))
    expect_error('CompleteMultipartUpload with a wrong part ETag',
                 s3.complete_multipart_upload, 400, 'InvalidPart', Bucket=b, Key=key,
                 UploadId=uid, MultipartUpload={'Parts': [
                     {'PartNumber': 1, 'ETag': '"%s"' % ('0' * 32)}] + done[1:]})
    expect_error('GetObject before CompleteMultipartUpload', s3.get_object, 404, 'NoSuchKey',
                 Bucket=b, Key=key)
    r = attempt('CompleteMultipartUpload', s3.complete_multipart_upload, Bucket=b, Key=key,
                UploadId=uid, MultipartUpload={'Parts': done}) or {}
    whole = b''.join(parts)
    want_et = '"%s-%d"' % (hashlib.md5(b''.join(hashlib.md5(p).digest() for p in parts))
                           .hexdigest(), len(parts))
    check(r.get('ETag') == want_et, 'CompleteMultipartUpload ETag', want_et, r.get('ETag'))
    g = attempt('GetObject of the multipart object', s3.get_object, Bucket=b, Key=key)
    if g:
        got = read_body(g)
        check(got == whole, 'multipart object bytes', '%d bytes md5 %s' % (len(whole),
                                                                          md5hex(whole)),
              '%d bytes md5 %s' % (len(got), md5hex(got)))
        check(g.get('ETag') == want_et, 'GetObject multipart ETag', want_et, g.get('ETag'))
        check(g.get('ContentType') == 'application/x-mpu', 'GetObject multipart ContentType',
              'application/x-mpu', g.get('ContentType'))
    h = attempt('HeadObject of the multipart object', s3.head_object, Bucket=b, Key=key) or {}
    check(h.get('ContentLength') == len(whole) and h.get('Metadata') == {'kind': 'multipart'},
          'HeadObject multipart', '%d bytes, Metadata kind=multipart' % len(whole),
          '%s %s' % (h.get('ContentLength'), h.get('Metadata')))
    lo = (5 << 20) - 10
    g = attempt('GetObject Range across parts', s3.get_object, Bucket=b, Key=key,
                Range='bytes=%d-%d' % (lo, lo + 19))
    if g:
        check(read_body(g) == whole[lo:lo + 20], 'Range across the part boundary',
              'the 20 bytes', '?')
    expect_error('UploadPart after Complete', s3.upload_part, 404, 'NoSuchUpload', Bucket=b,
                 Key=key, UploadId=uid, PartNumber=1, Body=b'late')
    # abort
    up2 = attempt('CreateMultipartUpload 2', s3.create_multipart_upload, Bucket=b,
                  Key='mpu/aborted') or {}
    if up2.get('UploadId'):
        attempt('UploadPart (to abort)', s3.upload_part, Bucket=b, Key='mpu/aborted',
                UploadId=up2['UploadId'], PartNumber=1, Body=b'will be aborted')
        r = attempt('AbortMultipartUpload', s3.abort_multipart_upload, Bucket=b, Key='mpu/aborted',
                    UploadId=up2['UploadId'])
        check(status_of(r) == 204, 'AbortMultipartUpload status', 204, status_of(r))
        expect_error('UploadPart after Abort', s3.upload_part, 404, 'NoSuchUpload', Bucket=b,
                     Key='mpu/aborted', UploadId=up2['UploadId'], PartNumber=2, Body=b'late')
        expect_error('HeadObject of the aborted upload', s3.head_object, 404, None, Bucket=b,
                     Key='mpu/aborted')
    expect_error('CompleteMultipartUpload of an unknown upload', s3.complete_multipart_upload,
                 404, 'NoSuchUpload', Bucket=b, Key='mpu/x', UploadId='no-such-upload',
                 MultipartUpload={'Parts': [{'PartNumber': 1, 'ETag': '"%s"' % ('0' * 32)}]})
    # a part under 5 MiB that is not the last
    up3 = attempt('CreateMultipartUpload 3', s3.create_multipart_upload, Bucket=b,
                  Key='mpu/small') or {}
    if up3.get('UploadId'):
        ps = []
        for i, p in enumerate([b'small part one', b'small part two'], 1):
            r = attempt('UploadPart small %d' % i, s3.upload_part, Bucket=b, Key='mpu/small',
                        UploadId=up3['UploadId'], PartNumber=i, Body=p) or {}
            ps.append({'PartNumber': i, 'ETag': r.get('ETag') or '"%s"' % md5hex(p)})
        expect_error('CompleteMultipartUpload with a small first part',
                     s3.complete_multipart_upload, 400, 'EntityTooSmall', Bucket=b,
                     Key='mpu/small', UploadId=up3['UploadId'], MultipartUpload={'Parts': ps})
        try:
            s3.abort_multipart_upload(Bucket=b, Key='mpu/small', UploadId=up3['UploadId'])
        except ClientError:
            pass
    # UploadPartCopy with a source range
    src = data(6 << 20, 'upc-src')
    attempt('PutObject UploadPartCopy source', s3.put_object, Bucket=b, Key='mpu/src', Body=src)
    up4 = attempt('CreateMultipartUpload 4', s3.create_multipart_upload, Bucket=b,
                  Key='mpu/copied') or {}
    objects = {key: md5hex(whole)}
    if up4.get('UploadId'):
        ps = []
        for i, rng in enumerate([(0, (5 << 20) - 1), (5 << 20, (6 << 20) - 1)], 1):
            r = attempt('UploadPartCopy %d' % i, s3.upload_part_copy, Bucket=b, Key='mpu/copied',
                        UploadId=up4['UploadId'], PartNumber=i,
                        CopySource={'Bucket': b, 'Key': 'mpu/src'},
                        CopySourceRange='bytes=%d-%d' % rng) or {}
            et = r.get('CopyPartResult', {}).get('ETag')
            check(et == '"%s"' % md5hex(src[rng[0]:rng[1] + 1]), 'UploadPartCopy %d ETag' % i,
                  md5hex(src[rng[0]:rng[1] + 1]), et)
            ps.append({'PartNumber': i, 'ETag': et})
        attempt('CompleteMultipartUpload (copied parts)', s3.complete_multipart_upload, Bucket=b,
                Key='mpu/copied', UploadId=up4['UploadId'], MultipartUpload={'Parts': ps})
        g = attempt('GetObject of the copied parts', s3.get_object, Bucket=b, Key='mpu/copied')
        if g:
            got = read_body(g)
            check(got == src, 'UploadPartCopy object bytes', md5hex(src), md5hex(got))
        objects['mpu/copied'] = md5hex(src)
    INFO['objects'] = objects


SCENARIOS = {'multipart': sc_multipart, 'buckets': sc_buckets, 'objects': sc_objects, 'listing': sc_listing,
             'keys': sc_keys, 'auth': sc_auth, 'concurrent': sc_concurrent, 'https': sc_https,
             'basic': sc_basic}


def main():
    global ARGS
    ARGS = json.loads(sys.argv[2])
    try:
        SCENARIOS[sys.argv[1]](client())
    except Exception:  # noqa: BLE001
        print(json.dumps({'failures': FAILURES + ['crashed:\n' + traceback.format_exc()],
                          'info': INFO}, default=str))
        return 2
    print(json.dumps({'failures': FAILURES, 'info': INFO}, default=str))
    return 1 if FAILURES else 0


if __name__ == '__main__':
    sys.exit(main())
