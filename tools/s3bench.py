#!/usr/bin/python3
"""tools/s3bench.py: the S3 client side of `make bench` row 7, with Debian's
boto3 (run by /usr/bin/python3, keys from the environment).

  s3bench.py multipart URL BUCKET KEY FILE PART_MB   prints seconds: all, the parts, Complete
  s3bench.py list URL BUCKET N       prints p50 p99 ms (raw), p50 ms (boto3), fewest keys
"""
import random
import sys
import time

import boto3
from botocore.config import Config


def client(url):
    return boto3.client('s3', endpoint_url=url,
                        config=Config(signature_version='s3v4', s3={'addressing_style': 'path'},
                                      retries={'max_attempts': 1}))


class Slice:
    """n bytes of a file from off, read as a request body is sent."""

    def __init__(self, path, off, n):
        self.f = open(path, 'rb')
        self.f.seek(off)
        self.left = n

    def read(self, size=-1):
        size = self.left if size < 0 else min(size, self.left)
        b = self.f.read(size)
        self.left -= len(b)
        return b


def multipart(url, bucket, key, path, part_mb):
    """CreateMultipartUpload, the parts 4 at once, CompleteMultipartUpload.
    The parts go up as presigned PUTs (UNSIGNED-PAYLOAD, streamed from the
    file), as curl sends the PutObject row's body: the time is the server's,
    not botocore hashing each part in Python (it signs payloads over http)."""
    import http.client
    import os
    import urllib.parse
    from concurrent.futures import ThreadPoolExecutor
    s3 = client(url)
    size, part = os.path.getsize(path), int(part_mb) << 20
    n = (size + part - 1) // part
    t0 = time.monotonic()
    up = s3.create_multipart_upload(Bucket=bucket, Key=key)['UploadId']

    def put(i):
        u = urllib.parse.urlsplit(s3.generate_presigned_url(
            'upload_part', Params={'Bucket': bucket, 'Key': key, 'UploadId': up,
                                   'PartNumber': i + 1}))
        length = min(part, size - i * part)
        conn = http.client.HTTPConnection(u.hostname, u.port)
        conn.request('PUT', u.path + '?' + u.query, body=Slice(path, i * part, length),
                     headers={'Content-Length': str(length)})
        r = conn.getresponse()
        r.read()
        if r.status != 200:
            sys.exit('part %d: HTTP %d' % (i + 1, r.status))
        return r.getheader('ETag')

    with ThreadPoolExecutor(4) as ex:
        etags = list(ex.map(put, range(n)))
    t1 = time.monotonic()
    s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=up, MultipartUpload={
        'Parts': [{'PartNumber': i + 1, 'ETag': e} for i, e in enumerate(etags)]})
    t2 = time.monotonic()
    print('%.3f %.3f %.3f' % (t2 - t0, t1 - t0, t2 - t1))


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(p * len(v)))]


def listing(url, bucket, n):
    """Pages of up to 1000 keys from random places of the bucket (a day of
    the photo paths tools/bulkload writes): each page's request signed by
    botocore (a presigned URL) and read whole over one kept-alive
    connection, so the time is the server's and the transfer's, not the
    client's XML parsing; then the same through boto3's list_objects_v2."""
    import http.client
    import urllib.parse
    s3 = client(url)
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port)
    rnd = random.Random(1)
    raw, parsed, sizes = [], [], []
    for _ in range(int(n)):
        start = '%04d/%02d/%02d/' % (rnd.randint(2010, 2025), rnd.randint(1, 12),
                                     rnd.randint(1, 28))
        signed = urllib.parse.urlsplit(s3.generate_presigned_url(
            'list_objects_v2', Params={'Bucket': bucket, 'StartAfter': start, 'MaxKeys': 1000}))
        t0 = time.monotonic()
        conn.request('GET', signed.path + '?' + signed.query)
        resp = conn.getresponse()
        body = resp.read()
        raw.append((time.monotonic() - t0) * 1000)
        if resp.status != 200:
            sys.exit('list: HTTP %d %s' % (resp.status, body[:200]))
        t0 = time.monotonic()
        r = s3.list_objects_v2(Bucket=bucket, StartAfter=start, MaxKeys=1000)
        parsed.append((time.monotonic() - t0) * 1000)
        sizes.append(r['KeyCount'])
    print('%.1f %.1f %.1f %d' % (pct(raw, 0.5), pct(raw, 0.99), pct(parsed, 0.5), min(sizes)))


if __name__ == '__main__':
    {'multipart': multipart, 'list': listing}[sys.argv[1]](*sys.argv[2:])
