#!/usr/bin/python3
"""conformance_suite.py: small S3 conformance cases modelled on ceph's s3-tests
(s3tests_boto3/functional/test_s3.py, test_headers.py) and MinIO mint, aimed at
where mkv might differ from Amazon S3.

Usage: conformance_suite.py [CASE-SUBSTRING ...]

Endpoint from MKV_S3_ENDPOINT (default http://127.0.0.1:4690), keys from
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (as in the cluster's s3.env).
Prints `ok NAME` or `FAIL NAME: expected ..., got ...` per case and ends with
`N passed, N failed`.  Each case makes its own bucket(s) and removes them.
Expectations are Amazon S3's (us-east-1, unversioned bucket, SigV4); a case
whose name ends in `_unsure` tests behaviour where S3's answer is not certain.
"""

import base64
import calendar
import datetime
import email.utils
import hashlib
import hmac
import http.client
import os
import random
import re
import socket
import string
import sys
import time
import traceback
import urllib.parse
import xml.etree.ElementTree as ET

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ.get('MKV_S3_ENDPOINT', 'http://127.0.0.1:4690').rstrip('/')
U = urllib.parse.urlsplit(ENDPOINT)
HOSTPORT = U.netloc
ACCESS = os.environ.get('AWS_ACCESS_KEY_ID', '')
SECRET = os.environ.get('AWS_SECRET_ACCESS_KEY', '')
REGION = os.environ.get('AWS_DEFAULT_REGION', 'us-east-1')
MIB = 1024 * 1024

# ---------------------------------------------------------------------------
# framework
# ---------------------------------------------------------------------------

CASES = []


class Failure(Exception):
    pass


def case(fn):
    CASES.append(fn)
    return fn


class Ctx:
    """Per-case state: checks recorded, buckets to clean."""

    def __init__(self, name):
        self.name = name
        self.problems = []
        self.buckets = []

    def check(self, cond, what, expected, got):
        if not cond:
            self.problems.append('%s: expected %s, got %s' % (what, expected, got))
        return cond

    def eq(self, what, expected, got):
        return self.check(expected == got, what, repr(expected), repr(got))


C = None  # current Ctx


def check(cond, what, expected, got):
    return C.check(cond, what, expected, got)


def eq(what, expected, got):
    return C.eq(what, expected, got)


def client(**kw):
    cfg = dict(signature_version='s3v4', s3={'addressing_style': 'path'},
               retries={'max_attempts': 1, 'mode': 'standard'},
               connect_timeout=10, read_timeout=60)
    cfg.update(kw.pop('config', {}))
    args = dict(endpoint_url=ENDPOINT, region_name=REGION, config=Config(**cfg),
                aws_access_key_id=ACCESS, aws_secret_access_key=SECRET)
    args.update(kw)
    return boto3.client('s3', **args)


S3 = None


def uniq(prefix='conf'):
    return '%s-%d-%s' % (prefix, int(time.time()) % 100000,
                         ''.join(random.choice(string.ascii_lowercase + string.digits)
                                 for _ in range(8)))


def new_bucket(create=True):
    b = uniq()
    if create:
        S3.create_bucket(Bucket=b)
    C.buckets.append(b)
    return b


def cleanup_bucket(b):
    try:
        for _ in range(20):
            r = S3.list_multipart_uploads(Bucket=b)
            ups = r.get('Uploads', [])
            for u in ups:
                S3.abort_multipart_upload(Bucket=b, Key=u['Key'], UploadId=u['UploadId'])
            if not r.get('IsTruncated'):
                break
        while True:
            r = S3.list_objects_v2(Bucket=b)
            objs = [{'Key': o['Key']} for o in r.get('Contents', [])]
            if not objs:
                break
            for o in objs:
                S3.delete_object(Bucket=b, Key=o['Key'])
        S3.delete_bucket(Bucket=b)
    except ClientError as e:
        if err(e)[1] not in ('NoSuchBucket', '404'):
            print('  (cleanup of %s: %s)' % (b, err(e)))
    except Exception as e:  # noqa: BLE001
        print('  (cleanup of %s: %r)' % (b, e))


def err(e):
    r = e.response
    return r.get('ResponseMetadata', {}).get('HTTPStatusCode'), r.get('Error', {}).get('Code')


def expect_error(what, fn, status, code, **kw):
    """fn(**kw) must raise ClientError with status (an int or a tuple) and code
    (a str, a tuple, or None for any)."""
    sts = status if isinstance(status, tuple) else (status,)
    codes = code if isinstance(code, tuple) or code is None else (code,)
    try:
        r = fn(**kw)
    except ClientError as e:
        st, c = err(e)
        check(st in sts and (codes is None or c in codes), what,
              '%s %s' % ('/'.join(map(str, sts)), '/'.join(codes or ())),
              '%s %s (%s)' % (st, c, e.response.get('Error', {}).get('Message')))
        return e
    meta = r.get('ResponseMetadata', {}) if isinstance(r, dict) else {}
    check(False, what, '%s %s' % ('/'.join(map(str, sts)), '/'.join(codes or ())),
          'success %s' % meta.get('HTTPStatusCode'))
    return None


# ---------------------------------------------------------------------------
# raw requests: own SigV4 signer, exact bytes on the wire
# ---------------------------------------------------------------------------

def q(s, safe='-_.~'):
    return urllib.parse.quote(s, safe=safe)


def qpath(bucket, key=None):
    p = '/' + bucket
    if key is not None:
        p += '/' + q(key, safe='/-_.~')
    return p


def sha256hex(b):
    return hashlib.sha256(b).hexdigest()


def md5hex(b):
    return hashlib.md5(b).hexdigest()


def b64md5(b):
    return base64.b64encode(hashlib.md5(b).digest()).decode()


def signing_key(secret, date, region, service='s3'):
    k = hmac.new(('AWS4' + secret).encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, 'aws4_request'):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    return k


def canon_query(pairs):
    enc = sorted((q(k), q(v)) for k, v in pairs)
    return '&'.join('%s=%s' % kv for kv in enc)


def amz_now(delta=0):
    return (datetime.datetime.utcnow() + datetime.timedelta(seconds=delta)).strftime(
        '%Y%m%dT%H%M%SZ')


def sign(method, path, pairs, headers, payload_hash, access=None, secret=None, region=None,
         service='s3', amzdate=None, signed=None, date_header=False, comma=', '):
    """Adds Authorization (and X-Amz-Date unless date_header) to headers (a
    dict, modified); path is the wire path (already encoded)."""
    access = ACCESS if access is None else access
    secret = SECRET if secret is None else secret
    region = region or REGION
    amzdate = amzdate or amz_now()
    if date_header:
        if not any(k.lower() == 'date' for k in headers):
            headers['Date'] = email.utils.formatdate(usegmt=True)
        dt = datetime.datetime.strptime(
            [v for k, v in headers.items() if k.lower() == 'date'][0],
            '%a, %d %b %Y %H:%M:%S GMT')
        amzdate = dt.strftime('%Y%m%dT%H%M%SZ')
    else:
        if not any(k.lower() == 'x-amz-date' for k in headers):
            headers['X-Amz-Date'] = amzdate
    headers.setdefault('Host', HOSTPORT)
    lower = {}
    for k, v in headers.items():
        lower[k.lower()] = ' '.join(str(v).split())
    names = sorted(signed if signed is not None else lower.keys())
    canon_h = ''.join('%s:%s\n' % (n, lower.get(n, '')) for n in names)
    canon = '\n'.join([method, path, canon_query(pairs), canon_h, ';'.join(names),
                       payload_hash])
    scope = '%s/%s/%s/aws4_request' % (amzdate[:8], region, service)
    sts = '\n'.join(['AWS4-HMAC-SHA256', amzdate, scope, sha256hex(canon.encode())])
    sig = hmac.new(signing_key(secret, amzdate[:8], region, service), sts.encode(),
                   hashlib.sha256).hexdigest()
    headers['Authorization'] = 'AWS4-HMAC-SHA256 Credential=%s/%s%sSignedHeaders=%s%sSignature=%s' % (
        access, scope, comma, ';'.join(names), comma, sig)
    return headers


class Resp:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # lower-cased names; repeated headers joined by ', '
        self.body = body

    def h(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def xml(self):
        return parse_xml(self.body)

    def code(self):
        m = re.search(rb'<Code>([^<]*)</Code>', self.body or b'')
        return m.group(1).decode() if m else None

    def __repr__(self):
        return '%s %s %s' % (self.status, self.code() or '', (self.body or b'')[:300])


def send(method, path, query_pairs=(), body=b'', headers=None, content_length=True,
         timeout=30, raw_query=None):
    conn = http.client.HTTPConnection(U.hostname, U.port, timeout=timeout)
    try:
        qs = raw_query if raw_query is not None else '&'.join(
            '%s=%s' % (q(k), q(v)) if v is not None else q(k) for k, v in query_pairs)
        url = path + ('?' + qs if qs else '')
        conn.putrequest(method, url, skip_host=True, skip_accept_encoding=True)
        hs = dict(headers or {})
        if not any(k.lower() == 'host' for k in hs):
            hs['Host'] = HOSTPORT
        for k, v in hs.items():
            conn.putheader(k, v)
        if content_length and not any(k.lower() in ('content-length', 'transfer-encoding')
                                      for k in hs) and (body or method in ('PUT', 'POST')):
            conn.putheader('Content-Length', str(len(body or b'')))
        conn.endheaders()
        if body:
            conn.send(body)
        r = conn.getresponse()
        hd = {}
        for k, v in r.getheaders():
            k = k.lower()
            hd[k] = hd[k] + ', ' + v if k in hd else v
        data = r.read()
        return Resp(r.status, hd, data)
    finally:
        conn.close()


def raw(method, path, query=(), body=b'', headers=None, signed=True, payload_hash=None,
        sign_kw=None, content_length=True, timeout=30, after_sign=None):
    """A SigV4-signed request; query is a list of (name, value) pairs (value
    None for a bare subresource, signed as name=)."""
    pairs = [(k, '' if v is None else v) for k, v in query]
    hs = dict(headers or {})
    if payload_hash is None:
        payload_hash = sha256hex(body)
    if payload_hash is not False:
        if not any(k.lower() == 'x-amz-content-sha256' for k in hs):
            hs['X-Amz-Content-Sha256'] = payload_hash
    if signed:
        sign(method, path, pairs, hs, payload_hash or sha256hex(body), **(sign_kw or {}))
    if after_sign:
        after_sign(hs)
    return send(method, path, query, body, hs, content_length=content_length, timeout=timeout)


def presign(method, path, query=(), expires=300, access=None, secret=None, amzdate=None,
            headers=None, region=None):
    access = access or ACCESS
    secret = secret or SECRET
    region = region or REGION
    amzdate = amzdate or amz_now()
    scope = '%s/%s/s3/aws4_request' % (amzdate[:8], region)
    hs = {'host': HOSTPORT}
    for k, v in (headers or {}).items():
        hs[k.lower()] = v
    names = sorted(hs)
    pairs = list(query) + [('X-Amz-Algorithm', 'AWS4-HMAC-SHA256'),
                           ('X-Amz-Credential', '%s/%s' % (access, scope)),
                           ('X-Amz-Date', amzdate), ('X-Amz-Expires', str(expires)),
                           ('X-Amz-SignedHeaders', ';'.join(names))]
    canon_h = ''.join('%s:%s\n' % (n, hs[n]) for n in names)
    canon = '\n'.join([method, path, canon_query(pairs), canon_h, ';'.join(names),
                       'UNSIGNED-PAYLOAD'])
    sts = '\n'.join(['AWS4-HMAC-SHA256', amzdate, scope, sha256hex(canon.encode())])
    sig = hmac.new(signing_key(secret, amzdate[:8], region), sts.encode(),
                   hashlib.sha256).hexdigest()
    return pairs + [('X-Amz-Signature', sig)]


def strip_ns(e):
    for el in e.iter():
        if '}' in el.tag:
            el.tag = el.tag.split('}', 1)[1]
    return e


def parse_xml(b):
    try:
        return strip_ns(ET.fromstring(b))
    except ET.ParseError:
        return None


def xt(root, path, default=None):
    if root is None:
        return default
    el = root.find(path)
    return default if el is None else (el.text or '')


def xall(root, path):
    return [(e.text or '') for e in root.findall(path)] if root is not None else []


def put(b, k, body=b'', **kw):
    return S3.put_object(Bucket=b, Key=k, Body=body, **kw)


def create_objects(b, keys):
    for k in keys:
        put(b, k, k.encode())


def keys_of(r):
    return [o['Key'] for o in r.get('Contents', [])]


def prefixes_of(r):
    return [p['Prefix'] for p in r.get('CommonPrefixes', [])]


def raw_list(b, pairs):
    r = raw('GET', '/' + b, pairs)
    x = r.xml()
    return r, x


def isotime_ok(s):
    return re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$', s or '') is not None


def httpdate_ok(s):
    return re.match(r'^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|'
                    r'Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$', s or '') is not None


def httpdate(ts):
    return email.utils.formatdate(ts, usegmt=True)


def last_modified_ts(b, k):
    h = S3.head_object(Bucket=b, Key=k)
    return calendar.timegm(h['LastModified'].utctimetuple()), h


# ---------------------------------------------------------------------------
# buckets
# ---------------------------------------------------------------------------

BAD_NAMES = {
    'short_one': 'a', 'short_two': 'ab', 'long_64': 'a' * 64, 'uppercase': 'Conf-Upper',
    'underscore': 'conf_underscore', 'dash_at_end': 'conf-dash-', 'starts_dash': '-conf',
    'dot_dot': 'conf..dot', 'dot_dash': 'conf.-dash', 'dash_dot': 'conf-.dash',
    'ip': '192.168.5.123', 'starts_dot': '.conf', 'ends_dot': 'conf.', 'punctuation': 'conf!x',
    'xn_prefix': 'xn--conf', 'sthree_prefix': 'sthree-conf', 's3alias_suffix': 'conf-s3alias',
}


def _bad_name_case(label, name):
    def fn():
        r = raw('PUT', '/' + q(name))
        ok = check(r.status == 400 and r.code() == 'InvalidBucketName',
                   'PUT /%s (CreateBucket)' % name, '400 InvalidBucketName', repr(r))
        if r.status == 200:
            C.buckets.append(name)
        return ok
    fn.__name__ = 'bucket_create_naming_bad_' + label
    return fn


for _l, _n in BAD_NAMES.items():
    case(_bad_name_case(_l, _n))


@case
def bucket_create_naming_good():
    for name in ['a' * 63, uniq('9conf').replace('-', '.'), '123' + uniq('')[1:12]]:
        name = name[:63]
        r = raw('PUT', '/' + name)
        if r.status == 200:
            C.buckets.append(name)
        check(r.status == 200, 'CreateBucket %s' % name, '200', repr(r))


@case
def bucket_create_exists():
    b = new_bucket()
    expect_error('CreateBucket of own bucket', S3.create_bucket, 409, 'BucketAlreadyOwnedByYou',
                 Bucket=b)


@case
def bucket_create_response():
    b = new_bucket(create=False)
    r = raw('PUT', '/' + b)
    eq('CreateBucket status', 200, r.status)
    eq('CreateBucket Location header', '/' + b, r.h('location'))
    check(r.h('x-amz-request-id'), 'x-amz-request-id on CreateBucket', 'present', r.headers)


@case
def bucket_create_location_us_east_1():
    """S3 in us-east-1 refuses an explicit LocationConstraint us-east-1."""
    b = new_bucket(create=False)
    body = (b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b'<LocationConstraint>us-east-1</LocationConstraint></CreateBucketConfiguration>')
    r = raw('PUT', '/' + b, body=body)
    check(r.status == 400 and r.code() == 'InvalidLocationConstraint',
          'CreateBucket LocationConstraint=us-east-1', '400 InvalidLocationConstraint', repr(r))


@case
def bucket_create_location_other_region_unsure():
    b = new_bucket(create=False)
    body = (b'<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint>'
            b'</CreateBucketConfiguration>')
    r = raw('PUT', '/' + b, body=body)
    check(r.status == 400 and r.code() in ('IllegalLocationConstraintException',
                                           'InvalidLocationConstraint'),
          'CreateBucket LocationConstraint=eu-west-1 on a us-east-1 endpoint',
          '400 IllegalLocationConstraintException', repr(r))


@case
def bucket_create_malformed_xml():
    b = new_bucket(create=False)
    r = raw('PUT', '/' + b, body=b'<CreateBucketConfiguration><Loc')
    check(r.status == 400 and r.code() == 'MalformedXML', 'CreateBucket with truncated XML',
          '400 MalformedXML', repr(r))


@case
def bucket_head():
    b = new_bucket()
    r = raw('HEAD', '/' + b)
    eq('HeadBucket status', 200, r.status)
    eq('HeadBucket x-amz-bucket-region', REGION, r.h('x-amz-bucket-region'))


@case
def bucket_head_notexist():
    b = new_bucket(create=False)
    r = raw('HEAD', '/' + b)
    eq('HeadBucket missing: status', 404, r.status)
    eq('HeadBucket missing: body', b'', r.body)
    check(r.h('x-amz-request-id'), 'HeadBucket missing: x-amz-request-id', 'present', r.headers)


@case
def bucket_notexist_error_xml():
    b = new_bucket(create=False)
    r = raw('GET', '/' + b)
    x = r.xml()
    eq('ListObjects missing bucket: status', 404, r.status)
    eq('Code', 'NoSuchBucket', xt(x, 'Code'))
    eq('BucketName element', b, xt(x, 'BucketName'))
    check(xt(x, 'Message'), 'Message element', 'non-empty', r.body)
    eq('RequestId == x-amz-request-id', r.h('x-amz-request-id'), xt(x, 'RequestId'))
    check((r.h('content-type') or '').startswith('application/xml'), 'error Content-Type',
          'application/xml', r.h('content-type'))


@case
def bucket_delete_notexist():
    b = new_bucket(create=False)
    expect_error('DeleteBucket missing', S3.delete_bucket, 404, 'NoSuchBucket', Bucket=b)


@case
def bucket_delete_nonempty():
    b = new_bucket()
    put(b, 'foo', b'x')
    expect_error('DeleteBucket non-empty', S3.delete_bucket, 409, 'BucketNotEmpty', Bucket=b)


@case
def bucket_delete_response():
    b = new_bucket()
    r = raw('DELETE', '/' + b)
    eq('DeleteBucket status', 204, r.status)
    eq('DeleteBucket body', b'', r.body)


@case
def bucket_get_location():
    b = new_bucket()
    r = raw('GET', '/' + b, [('location', None)])
    x = r.xml()
    eq('GetBucketLocation status', 200, r.status)
    check(x is not None and x.tag == 'LocationConstraint' and not (x.text or '').strip(),
          'GetBucketLocation body', 'empty <LocationConstraint/>', r.body)
    b2 = new_bucket(create=False)
    expect_error('GetBucketLocation missing bucket', S3.get_bucket_location, 404, 'NoSuchBucket',
                 Bucket=b2)


@case
def bucket_get_versioning():
    b = new_bucket()
    r = S3.get_bucket_versioning(Bucket=b)
    check('Status' not in r and 'MFADelete' not in r, 'GetBucketVersioning', 'no Status', r)


@case
def bucket_put_versioning_not_implemented():
    b = new_bucket()
    body = (b'<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b'<Status>Enabled</Status></VersioningConfiguration>')
    r = raw('PUT', '/' + b, [('versioning', None)], body=body)
    check(r.status == 501 and r.code() == 'NotImplemented', 'PUT /B?versioning',
          '501 NotImplemented (versioning unsupported)', repr(r))


@case
def bucket_delete_versioning_keeps_bucket():
    """DELETE /B?versioning is no S3 operation: it must not delete the bucket."""
    b = new_bucket()
    r = raw('DELETE', '/' + b, [('versioning', None)])
    check(r.status in (400, 405, 501), 'DELETE /B?versioning', '4xx/501, bucket kept', repr(r))
    r2 = raw('HEAD', '/' + b)
    eq('bucket still there after DELETE ?versioning', 200, r2.status)


@case
def bucket_put_uploads_unsure():
    b = new_bucket()
    r = raw('PUT', '/' + b, [('uploads', None)])
    check(r.status in (400, 405, 501), 'PUT /B?uploads', '405 MethodNotAllowed or 501',
          repr(r))


@case
def list_buckets():
    b = new_bucket()
    r = raw('GET', '/')
    x = r.xml()
    eq('ListBuckets status', 200, r.status)
    eq('root tag', 'ListAllMyBucketsResult', x.tag if x is not None else None)
    check(xt(x, 'Owner/ID'), 'Owner/ID', 'non-empty', r.body[:300])
    check(xt(x, 'Owner/DisplayName') is not None, 'Owner/DisplayName', 'present', r.body[:300])
    found = [bk for bk in x.findall('Buckets/Bucket') if xt(bk, 'Name') == b]
    if check(found, 'bucket listed', b, 'absent'):
        cd = xt(found[0], 'CreationDate')
        check(isotime_ok(cd), 'CreationDate format', 'YYYY-MM-DDTHH:MM:SS.000Z', cd)
        time.sleep(1.1)
        r2 = S3.list_buckets()
        cd2 = [bk['CreationDate'] for bk in r2['Buckets'] if bk['Name'] == b]
        r3 = S3.list_buckets()
        cd3 = [bk['CreationDate'] for bk in r3['Buckets'] if bk['Name'] == b]
        eq('CreationDate stable', cd2, cd3)
    names = [xt(bk, 'Name') for bk in x.findall('Buckets/Bucket')]
    eq('buckets sorted by name', sorted(names), names)


@case
def list_buckets_anonymous():
    r = send('GET', '/')
    check(r.status == 403 and r.code() == 'AccessDenied', 'anonymous ListBuckets',
          '403 AccessDenied', repr(r))


@case
def list_buckets_invalid_auth():
    r = raw('GET', '/', sign_kw={'access': 'AKIAIOSFODNN7EXAMPLE'})
    check(r.status == 403 and r.code() == 'InvalidAccessKeyId', 'ListBuckets unknown key',
          '403 InvalidAccessKeyId', repr(r))


@case
def list_buckets_bad_auth():
    r = raw('GET', '/', sign_kw={'secret': ('y' if SECRET[0] == 'x' else 'x') + SECRET[1:]})
    x = r.xml()
    check(r.status == 403 and r.code() == 'SignatureDoesNotMatch', 'ListBuckets bad secret',
          '403 SignatureDoesNotMatch', repr(r))
    check(xt(x, 'StringToSign') is not None and xt(x, 'CanonicalRequest') is not None
          and xt(x, 'AWSAccessKeyId') == ACCESS,
          'SignatureDoesNotMatch body fields', 'AWSAccessKeyId, StringToSign, CanonicalRequest',
          r.body[:400])


UNSUP_BUCKET_GET = ['acl', 'cors', 'policy', 'lifecycle', 'tagging', 'website', 'logging',
                    'notification', 'replication', 'encryption', 'object-lock', 'accelerate',
                    'requestPayment', 'ownershipControls', 'publicAccessBlock', 'policyStatus',
                    'analytics', 'metrics', 'inventory', 'intelligent-tiering']


@case
def bucket_unsupported_subresources_get():
    b = new_bucket()
    put(b, 'k', b'data')
    for sub in UNSUP_BUCKET_GET:
        r = raw('GET', '/' + b, [(sub, None)])
        check(r.status == 501 and r.code() == 'NotImplemented', 'GET /B?%s' % sub,
              '501 NotImplemented', repr(r)[:120])


@case
def bucket_unsupported_subresources_put_delete():
    b = new_bucket()
    for sub in ['acl', 'cors', 'policy', 'lifecycle', 'tagging', 'website', 'encryption',
                'replication', 'notification', 'logging', 'object-lock', 'accelerate',
                'requestPayment', 'ownershipControls', 'publicAccessBlock']:
        r = raw('PUT', '/' + b, [(sub, None)], body=b'<X/>')
        check(r.status == 501 and r.code() == 'NotImplemented', 'PUT /B?%s' % sub,
              '501 NotImplemented', repr(r)[:120])
    for sub in ['cors', 'policy', 'lifecycle', 'tagging', 'website', 'encryption', 'replication',
                'ownershipControls', 'publicAccessBlock']:
        r = raw('DELETE', '/' + b, [(sub, None)])
        check(r.status == 501 and r.code() == 'NotImplemented', 'DELETE /B?%s' % sub,
              '501 NotImplemented', repr(r)[:120])
    eq('bucket survives', 200, raw('HEAD', '/' + b).status)


@case
def bucket_post_form_upload():
    """POST /B (browser-form PostObject) is not served: 501, not a crash."""
    b = new_bucket()
    bd = b'----xx'
    body = (b'--' + bd + b'\r\nContent-Disposition: form-data; name="key"\r\n\r\nfoo\r\n--' + bd +
            b'\r\nContent-Disposition: form-data; name="file"; filename="f"\r\n\r\nbar\r\n--' +
            bd + b'--\r\n')
    r = send('POST', '/' + b, body=body,
             headers={'Content-Type': 'multipart/form-data; boundary=' + bd.decode()})
    check(r.status in (501, 403, 400) and r.code() in ('NotImplemented', 'AccessDenied',
                                                       'InvalidArgument'),
          'POST /B form upload', '501 NotImplemented (or S3 403/400 XML)', repr(r))


@case
def object_unsupported_subresources():
    b = new_bucket()
    put(b, 'obj', b'original')
    for sub in ['acl', 'tagging', 'torrent', 'retention', 'legal-hold', 'attributes']:
        r = raw('GET', qpath(b, 'obj'), [(sub, None)])
        check(r.status == 501 and r.code() == 'NotImplemented', 'GET /B/K?%s' % sub,
              '501 NotImplemented', repr(r)[:120])
    for sub in ['acl', 'tagging', 'retention', 'legal-hold']:
        r = raw('PUT', qpath(b, 'obj'), [(sub, None)], body=b'<Tagging/>')
        check(r.status == 501 and r.code() == 'NotImplemented', 'PUT /B/K?%s' % sub,
              '501 NotImplemented', repr(r)[:120])
    r = raw('DELETE', qpath(b, 'obj'), [('tagging', None)])
    check(r.status == 501, 'DELETE /B/K?tagging', '501 NotImplemented', repr(r)[:120])
    for sub in [[('restore', None)], [('select', None), ('select-type', '2')]]:
        r = raw('POST', qpath(b, 'obj'), sub, body=b'<X/>')
        check(r.status == 501, 'POST /B/K?%s' % sub[0][0], '501 NotImplemented', repr(r)[:120])
    got = S3.get_object(Bucket=b, Key='obj')['Body'].read()
    eq('object unchanged', b'original', got)


# ---------------------------------------------------------------------------
# listing (modelled on test_bucket_list_* / test_bucket_listv2_*)
# ---------------------------------------------------------------------------

@case
def bucket_list_empty():
    b = new_bucket()
    r = S3.list_objects(Bucket=b)
    eq('Contents', [], r.get('Contents', []))
    eq('IsTruncated', False, r['IsTruncated'])
    r2 = S3.list_objects_v2(Bucket=b)
    eq('v2 KeyCount', 0, r2.get('KeyCount'))


@case
def bucket_list_many():
    b = new_bucket()
    create_objects(b, ['foo', 'bar', 'baz'])
    r = S3.list_objects(Bucket=b, MaxKeys=2)
    eq('page 1 keys', ['bar', 'baz'], keys_of(r))
    eq('page 1 IsTruncated', True, r['IsTruncated'])
    r = S3.list_objects(Bucket=b, Marker='baz', MaxKeys=2)
    eq('page 2 keys', ['foo'], keys_of(r))
    eq('page 2 IsTruncated', False, r['IsTruncated'])


@case
def bucket_list_nextmarker_without_delimiter():
    """S3 returns NextMarker (v1) only when a delimiter is given."""
    b = new_bucket()
    create_objects(b, ['bar', 'baz', 'foo'])
    r, x = raw_list(b, [('max-keys', '1')])
    eq('NextMarker without delimiter', None, xt(x, 'NextMarker'))


@case
def bucket_listv2_many():
    b = new_bucket()
    create_objects(b, ['foo', 'bar', 'baz'])
    r = S3.list_objects_v2(Bucket=b, MaxKeys=2)
    eq('page 1 keys', ['bar', 'baz'], keys_of(r))
    eq('page 1 truncated', True, r['IsTruncated'])
    eq('KeyCount', 2, r['KeyCount'])
    r = S3.list_objects_v2(Bucket=b, StartAfter='baz', MaxKeys=2)
    eq('page 2 keys', ['foo'], keys_of(r))
    eq('page 2 truncated', False, r['IsTruncated'])
    eq('page 2 KeyCount', 1, r['KeyCount'])


@case
def bucket_list_delimiter_basic():
    b = new_bucket()
    create_objects(b, ['foo/bar', 'foo/bar/xyzzy', 'quux/thud', 'asdf'])
    for fn in (S3.list_objects, S3.list_objects_v2):
        r = fn(Bucket=b, Delimiter='/')
        eq('%s Delimiter' % fn.__name__, '/', r.get('Delimiter'))
        eq('%s keys' % fn.__name__, ['asdf'], keys_of(r))
        eq('%s prefixes' % fn.__name__, ['foo/', 'quux/'], prefixes_of(r))
    r = S3.list_objects_v2(Bucket=b, Delimiter='/')
    eq('v2 KeyCount counts prefixes', 3, r.get('KeyCount'))


@case
def bucket_list_encoding_basic():
    b = new_bucket()
    create_objects(b, ['foo+1/bar', 'foo/bar/xyzzy', 'quux ab/thud', 'asdf+b'])
    for v2 in (False, True):
        pairs = [('delimiter', '/'), ('encoding-type', 'url')] + ([('list-type', '2')] if v2 else [])
        r, x = raw_list(b, pairs)
        lab = 'v2' if v2 else 'v1'
        eq('%s EncodingType' % lab, 'url', xt(x, 'EncodingType'))
        eq('%s keys' % lab, ['asdf%2Bb'], xall(x, 'Contents/Key'))
        eq('%s prefixes' % lab, ['foo%2B1/', 'foo/', 'quux%20ab/'], xall(x, 'CommonPrefixes/Prefix'))
        eq('%s Delimiter' % lab, '/', xt(x, 'Delimiter'))


@case
def bucket_list_encoding_fields():
    """encoding-type=url encodes Prefix, Delimiter, Marker/StartAfter and NextMarker too."""
    b = new_bucket()
    create_objects(b, ['a b/1', 'a b/2', 'a b/3'])
    r, x = raw_list(b, [('prefix', 'a b/'), ('marker', 'a b/1'), ('max-keys', '1'),
                        ('delimiter', '+'), ('encoding-type', 'url')])
    eq('v1 Prefix', 'a%20b/', xt(x, 'Prefix'))
    eq('v1 Marker', 'a%20b/1', xt(x, 'Marker'))
    eq('v1 Delimiter', '%2B', xt(x, 'Delimiter'))
    eq('v1 NextMarker', 'a%20b/2', xt(x, 'NextMarker'))
    eq('v1 keys', ['a%20b/2'], xall(x, 'Contents/Key'))
    r, x = raw_list(b, [('list-type', '2'), ('prefix', 'a b/'), ('start-after', 'a b/1'),
                        ('encoding-type', 'url')])
    eq('v2 Prefix', 'a%20b/', xt(x, 'Prefix'))
    eq('v2 StartAfter', 'a%20b/1', xt(x, 'StartAfter'))


@case
def bucket_list_encoding_special_chars():
    b = new_bucket()
    keys = ['a&b', 'a<b>', 'a"q\'', 'a%b', 'a~b', 'a*b', 'é/ü', 'x\ty', 'semi;colon', 'a=b?c']
    create_objects(b, keys)
    r, x = raw_list(b, [('list-type', '2'), ('encoding-type', 'url')])
    got = sorted(urllib.parse.unquote(k) for k in xall(x, 'Contents/Key'))
    eq('decoded keys', sorted(keys), got)
    enc = xall(x, 'Contents/Key')
    for k in enc:
        check(re.match(r'^[A-Za-z0-9%\-_.~/*]*$', k), 'encoded key %r' % k,
              'only unreserved chars and %XX', k)
    r, x = raw_list(b, [('list-type', '2')])
    eq('keys without encoding (XML-escaped)', sorted(keys), sorted(xall(x, 'Contents/Key')))


@case
def bucket_list_encoding_invalid():
    b = new_bucket()
    r = raw('GET', '/' + b, [('encoding-type', 'foo')])
    check(r.status == 400 and r.code() == 'InvalidArgument', 'encoding-type=foo',
          '400 InvalidArgument', repr(r))


@case
def bucket_list_delimiter_prefix():
    b = new_bucket()
    create_objects(b, ['asdf', 'boo/bar', 'boo/baz/xyzzy', 'cquux/thud', 'cquux/bla'])

    def v(prefix, marker, maxk, trunc, keys, prefs, nextm):
        r, x = raw_list(b, [('prefix', prefix), ('delimiter', '/'), ('marker', marker),
                            ('max-keys', str(maxk))])
        lab = 'prefix=%r marker=%r max=%d' % (prefix, marker, maxk)
        eq(lab + ' IsTruncated', 'true' if trunc else 'false', xt(x, 'IsTruncated'))
        eq(lab + ' keys', keys, xall(x, 'Contents/Key'))
        eq(lab + ' prefixes', prefs, xall(x, 'CommonPrefixes/Prefix'))
        eq(lab + ' NextMarker', nextm, xt(x, 'NextMarker'))
        return xt(x, 'NextMarker')
    m = v('', '', 1, True, ['asdf'], [], 'asdf')
    m = v('', m, 1, True, [], ['boo/'], 'boo/')
    v('', m, 1, False, [], ['cquux/'], None)
    m = v('', '', 2, True, ['asdf'], ['boo/'], 'boo/')
    v('', m, 2, False, [], ['cquux/'], None)
    m = v('boo/', '', 1, True, ['boo/bar'], [], 'boo/bar')
    v('boo/', m, 1, False, [], ['boo/baz/'], None)
    v('boo/', '', 2, False, ['boo/bar'], ['boo/baz/'], None)


@case
def bucket_listv2_delimiter_prefix():
    b = new_bucket()
    create_objects(b, ['asdf', 'boo/bar', 'boo/baz/xyzzy', 'cquux/thud', 'cquux/bla'])
    r = S3.list_objects_v2(Bucket=b, Delimiter='/', MaxKeys=1)
    eq('p1', (['asdf'], [], True), (keys_of(r), prefixes_of(r), r['IsTruncated']))
    r = S3.list_objects_v2(Bucket=b, Delimiter='/', MaxKeys=1,
                           ContinuationToken=r.get('NextContinuationToken', ''))
    eq('p2', ([], ['boo/'], True), (keys_of(r), prefixes_of(r), r['IsTruncated']))
    r = S3.list_objects_v2(Bucket=b, Delimiter='/', MaxKeys=1,
                           ContinuationToken=r.get('NextContinuationToken', ''))
    eq('p3', ([], ['cquux/'], False), (keys_of(r), prefixes_of(r), r['IsTruncated']))
    check('NextContinuationToken' not in r, 'last page NextContinuationToken', 'absent', r)


@case
def bucket_list_delimiter_prefix_ends_with_delimiter():
    b = new_bucket()
    create_objects(b, ['asdf/'])
    r = S3.list_objects(Bucket=b, Prefix='asdf/', Delimiter='/')
    eq('keys', ['asdf/'], keys_of(r))
    eq('prefixes', [], prefixes_of(r))


@case
def bucket_list_delimiter_alt():
    b = new_bucket()
    create_objects(b, ['bar', 'baz', 'cab', 'foo'])
    r = S3.list_objects(Bucket=b, Delimiter='a')
    eq('Delimiter', 'a', r.get('Delimiter'))
    eq('keys', ['foo'], keys_of(r))
    eq('prefixes', ['ba', 'ca'], prefixes_of(r))


@case
def bucket_list_delimiter_prefix_underscore():
    b = new_bucket()
    create_objects(b, ['_obj1_', '_under1/bar', '_under1/baz/xyzzy', '_under2/thud', '_under2/bla'])
    r = S3.list_objects(Bucket=b, Delimiter='/', MaxKeys=1)
    eq('p1 keys', ['_obj1_'], keys_of(r))
    eq('p1 NextMarker', '_obj1_', r.get('NextMarker'))
    r = S3.list_objects(Bucket=b, Delimiter='/', MaxKeys=1, Marker='_obj1_')
    eq('p2 prefixes', ['_under1/'], prefixes_of(r))
    r = S3.list_objects(Bucket=b, Delimiter='/', MaxKeys=2, Marker='_under1/')
    eq('p3 prefixes', ['_under2/'], prefixes_of(r))
    eq('p3 truncated', False, r['IsTruncated'])
    r = S3.list_objects(Bucket=b, Delimiter='/', Prefix='_under1/', MaxKeys=1)
    eq('p4 keys', ['_under1/bar'], keys_of(r))


@case
def bucket_list_delimiter_percentage():
    b = new_bucket()
    create_objects(b, ['b%ar', 'b%az', 'c%ab', 'foo'])
    r = S3.list_objects(Bucket=b, Delimiter='%')
    eq('keys', ['foo'], keys_of(r))
    eq('prefixes', ['b%', 'c%'], prefixes_of(r))


@case
def bucket_list_delimiter_whitespace():
    b = new_bucket()
    create_objects(b, ['b ar', 'b az', 'c ab', 'foo'])
    r = S3.list_objects(Bucket=b, Delimiter=' ')
    eq('keys', ['foo'], keys_of(r))
    eq('prefixes', ['b ', 'c '], prefixes_of(r))


@case
def bucket_list_delimiter_dot():
    b = new_bucket()
    create_objects(b, ['b.ar', 'b.az', 'c.ab', 'foo'])
    r = S3.list_objects(Bucket=b, Delimiter='.')
    eq('keys', ['foo'], keys_of(r))
    eq('prefixes', ['b.', 'c.'], prefixes_of(r))


@case
def bucket_list_delimiter_multichar():
    b = new_bucket()
    create_objects(b, ['a--b', 'a--c--d', 'a-e', 'f'])
    r = S3.list_objects_v2(Bucket=b, Delimiter='--')
    eq('keys', ['a-e', 'f'], keys_of(r))
    eq('prefixes', ['a--'], prefixes_of(r))


@case
def bucket_list_delimiter_unreadable():
    b = new_bucket()
    create_objects(b, ['bar', 'baz', 'cab', 'foo'])
    r, x = raw_list(b, [('delimiter', '\x0a')])
    eq('status', 200, r.status)
    eq('keys', ['bar', 'baz', 'cab', 'foo'], xall(x, 'Contents/Key'))
    eq('prefixes', [], xall(x, 'CommonPrefixes/Prefix'))


@case
def bucket_list_delimiter_empty():
    b = new_bucket()
    create_objects(b, ['bar', 'baz', 'cab', 'foo'])
    r, x = raw_list(b, [('delimiter', '')])
    eq('keys', ['bar', 'baz', 'cab', 'foo'], xall(x, 'Contents/Key'))
    eq('prefixes', [], xall(x, 'CommonPrefixes/Prefix'))
    check(xt(x, 'Delimiter') in (None, ''), 'Delimiter element', 'absent (s3-tests)',
          xt(x, 'Delimiter'))


@case
def bucket_list_delimiter_none():
    b = new_bucket()
    create_objects(b, ['bar', 'baz'])
    r, x = raw_list(b, [])
    eq('Delimiter element', None, xt(x, 'Delimiter'))
    r, x = raw_list(b, [('list-type', '2')])
    eq('v2 Delimiter element', None, xt(x, 'Delimiter'))


@case
def bucket_list_delimiter_not_exist():
    b = new_bucket()
    create_objects(b, ['bar', 'baz', 'cab', 'foo'])
    r = S3.list_objects(Bucket=b, Delimiter='/')
    eq('Delimiter', '/', r.get('Delimiter'))
    eq('keys', ['bar', 'baz', 'cab', 'foo'], keys_of(r))
    eq('prefixes', [], prefixes_of(r))


@case
def bucket_list_delimiter_not_skip_special():
    b = new_bucket()
    keys = ['0/'] + ['0/%d' % i for i in range(1000, 1030)] + ['1999', '1999#', '1999+', '2000']
    create_objects(b, keys)
    r = S3.list_objects(Bucket=b, Delimiter='/')
    eq('keys', ['1999', '1999#', '1999+', '2000'], keys_of(r))
    eq('prefixes', ['0/'], prefixes_of(r))
    r = S3.list_objects_v2(Bucket=b, Delimiter='/', MaxKeys=2)
    eq('v2 max 2 keys', ['1999'], keys_of(r))
    eq('v2 max 2 prefixes', ['0/'], prefixes_of(r))
    r = S3.list_objects_v2(Bucket=b, Delimiter='/', MaxKeys=2,
                           ContinuationToken=r.get('NextContinuationToken', ''))
    eq('v2 page 2 keys', ['1999#', '1999+'], keys_of(r))


@case
def bucket_list_prefix_basic():
    b = new_bucket()
    create_objects(b, ['foo/bar', 'foo/baz', 'quux'])
    r = S3.list_objects(Bucket=b, Prefix='foo/')
    eq('Prefix', 'foo/', r.get('Prefix'))
    eq('keys', ['foo/bar', 'foo/baz'], keys_of(r))
    r = S3.list_objects(Bucket=b, Prefix='ba')
    eq('alt keys', [], keys_of(r))


@case
def bucket_list_prefix_empty_none():
    b = new_bucket()
    create_objects(b, ['foo/bar', 'foo/baz', 'quux'])
    r, x = raw_list(b, [('prefix', '')])
    eq('Prefix empty element', '', xt(x, 'Prefix'))
    eq('keys', ['foo/bar', 'foo/baz', 'quux'], xall(x, 'Contents/Key'))
    r, x = raw_list(b, [])
    eq('Prefix element without prefix (v1)', '', xt(x, 'Prefix'))
    eq('Marker element without marker (v1)', '', xt(x, 'Marker'))
    eq('MaxKeys default', '1000', xt(x, 'MaxKeys'))
    eq('Name', b, xt(x, 'Name'))
    r, x = raw_list(b, [('list-type', '2')])
    eq('v2 Prefix element without prefix', '', xt(x, 'Prefix'))


@case
def bucket_list_prefix_unreadable():
    b = new_bucket()
    create_objects(b, ['foo/bar', 'foo/baz', 'quux'])
    r, x = raw_list(b, [('prefix', '\x0a')])
    eq('status', 200, r.status)
    eq('keys', [], xall(x, 'Contents/Key'))


@case
def bucket_list_prefix_delimiter_combos():
    b = new_bucket()
    create_objects(b, ['foo/bar', 'foo/baz/xyzzy', 'quux/thud', 'asdf'])
    r = S3.list_objects(Bucket=b, Prefix='foo/', Delimiter='/')
    eq('basic keys', ['foo/bar'], keys_of(r))
    eq('basic prefixes', ['foo/baz/'], prefixes_of(r))
    b2 = new_bucket()
    create_objects(b2, ['bar', 'bazar', 'cab', 'foo'])
    r = S3.list_objects(Bucket=b2, Prefix='ba', Delimiter='a')
    eq('alt keys', ['bar'], keys_of(r))
    eq('alt prefixes', ['baza'], prefixes_of(r))
    b3 = new_bucket()
    create_objects(b3, ['b/a/r', 'b/a/c', 'b/a/g', 'g'])
    r = S3.list_objects(Bucket=b3, Prefix='d', Delimiter='/')
    eq('prefix not exist', ([], []), (keys_of(r), prefixes_of(r)))
    r = S3.list_objects(Bucket=b3, Prefix='b', Delimiter='z')
    eq('delimiter not exist', (['b/a/c', 'b/a/g', 'b/a/r'], []), (keys_of(r), prefixes_of(r)))
    r = S3.list_objects(Bucket=b3, Prefix='y', Delimiter='z')
    eq('neither exists', ([], []), (keys_of(r), prefixes_of(r)))
    r = S3.list_objects(Bucket=b3, Prefix='b/', Delimiter='/')
    eq('prefix b/', ([], ['b/a/']), (keys_of(r), prefixes_of(r)))


@case
def bucket_list_maxkeys_one():
    b = new_bucket()
    create_objects(b, ['bar', 'baz', 'foo', 'quxx'])
    r = S3.list_objects(Bucket=b, MaxKeys=1)
    eq('keys', ['bar'], keys_of(r))
    eq('truncated', True, r['IsTruncated'])
    r = S3.list_objects(Bucket=b, Marker='bar')
    eq('rest', ['baz', 'foo', 'quxx'], keys_of(r))


@case
def bucket_list_maxkeys_zero():
    b = new_bucket()
    create_objects(b, ['bar', 'baz'])
    r, x = raw_list(b, [('max-keys', '0')])
    eq('v1 status', 200, r.status)
    eq('v1 keys', [], xall(x, 'Contents/Key'))
    eq('v1 IsTruncated (s3-tests: false)', 'false', xt(x, 'IsTruncated'))
    r, x = raw_list(b, [('list-type', '2'), ('max-keys', '0')])
    eq('v2 keys', [], xall(x, 'Contents/Key'))
    eq('v2 KeyCount', '0', xt(x, 'KeyCount'))
    eq('v2 MaxKeys', '0', xt(x, 'MaxKeys'))


@case
def bucket_list_maxkeys_invalid():
    b = new_bucket()
    for v in ('blah', '-1', '1.5', ''):
        r = raw('GET', '/' + b, [('max-keys', v)])
        if v == '':
            check(r.status in (200, 400), 'max-keys= (empty)', '200 or 400', repr(r))
            continue
        check(r.status == 400 and r.code() == 'InvalidArgument', 'max-keys=%s' % v,
              '400 InvalidArgument', repr(r))


@case
def bucket_list_maxkeys_over_1000():
    b = new_bucket()
    create_objects(b, ['a', 'b'])
    r, x = raw_list(b, [('list-type', '2'), ('max-keys', '5000')])
    eq('status', 200, r.status)
    eq('keys', ['a', 'b'], xall(x, 'Contents/Key'))
    check(xt(x, 'MaxKeys') in ('1000', '5000'), 'MaxKeys echoed', '1000 (or 5000)',
          xt(x, 'MaxKeys'))
    r, x = raw_list(b, [('max-keys', '99999999999999999999')])
    check(r.status in (200, 400), 'max-keys=99999999999999999999', '200 or 400 InvalidArgument',
          repr(r))


@case
def bucket_list_marker_cases():
    b = new_bucket()
    create_objects(b, ['bar', 'baz', 'foo', 'quxx'])
    r, x = raw_list(b, [('marker', '')])
    eq('empty marker: Marker', '', xt(x, 'Marker'))
    eq('empty marker: keys', ['bar', 'baz', 'foo', 'quxx'], xall(x, 'Contents/Key'))
    r, x = raw_list(b, [('marker', '\x0a')])
    eq('unreadable marker: keys', ['bar', 'baz', 'foo', 'quxx'], xall(x, 'Contents/Key'))
    eq('unreadable marker: Marker', '\n', xt(x, 'Marker'))
    r = S3.list_objects(Bucket=b, Marker='blah')
    eq('marker not in list: keys', ['foo', 'quxx'], keys_of(r))
    eq('marker not in list: Marker', 'blah', r.get('Marker'))
    r = S3.list_objects(Bucket=b, Marker='zzz')
    eq('marker after list: keys', [], keys_of(r))
    eq('marker after list: truncated', False, r['IsTruncated'])


@case
def bucket_listv2_startafter_cases():
    b = new_bucket()
    create_objects(b, ['bar', 'baz', 'foo', 'quxx'])
    r, x = raw_list(b, [('list-type', '2'), ('start-after', '')])
    eq('empty start-after: keys', ['bar', 'baz', 'foo', 'quxx'], xall(x, 'Contents/Key'))
    r = S3.list_objects_v2(Bucket=b, StartAfter='blah')
    eq('not in list: keys', ['foo', 'quxx'], keys_of(r))
    eq('StartAfter echoed', 'blah', r.get('StartAfter'))
    r = S3.list_objects_v2(Bucket=b, StartAfter='zzz')
    eq('after list: keys', [], keys_of(r))
    eq('after list: truncated', False, r['IsTruncated'])
    r, x = raw_list(b, [('list-type', '2')])
    eq('StartAfter absent when not given', None, xt(x, 'StartAfter'))


@case
def bucket_listv2_continuationtoken_empty():
    b = new_bucket()
    create_objects(b, ['bar', 'baz', 'foo', 'quxx'])
    r, x = raw_list(b, [('list-type', '2'), ('continuation-token', '')])
    check(r.status == 200, 'continuation-token= (empty)', '200 (s3-tests)', repr(r))
    eq('keys', ['bar', 'baz', 'foo', 'quxx'], xall(x, 'Contents/Key'))
    eq('ContinuationToken echoed empty', '', xt(x, 'ContinuationToken'))


@case
def bucket_listv2_continuationtoken():
    b = new_bucket()
    create_objects(b, ['bar', 'baz', 'foo', 'quxx'])
    r1 = S3.list_objects_v2(Bucket=b, MaxKeys=1)
    tok = r1.get('NextContinuationToken')
    check(tok, 'NextContinuationToken', 'present', r1)
    r2 = S3.list_objects_v2(Bucket=b, ContinuationToken=tok or '')
    eq('ContinuationToken echoed', tok, r2.get('ContinuationToken'))
    eq('keys', ['baz', 'foo', 'quxx'], keys_of(r2))
    eq('truncated', False, r2['IsTruncated'])
    check('NextContinuationToken' not in r2, 'last page token', 'absent', r2.get('NextContinuationToken'))


@case
def bucket_listv2_both_continuationtoken_startafter():
    b = new_bucket()
    create_objects(b, ['bar', 'baz', 'foo', 'quxx'])
    r1 = S3.list_objects_v2(Bucket=b, StartAfter='bar', MaxKeys=1)
    eq('p1 keys', ['baz'], keys_of(r1))
    tok = r1.get('NextContinuationToken', '')
    r2 = S3.list_objects_v2(Bucket=b, StartAfter='bar', ContinuationToken=tok)
    eq('ContinuationToken', tok, r2.get('ContinuationToken'))
    eq('StartAfter', 'bar', r2.get('StartAfter'))
    eq('keys', ['foo', 'quxx'], keys_of(r2))


@case
def bucket_listv2_continuationtoken_invalid():
    b = new_bucket()
    create_objects(b, ['bar'])
    r = raw('GET', '/' + b, [('list-type', '2'), ('continuation-token', 'garbage!!')])
    check(r.status == 400 and r.code() == 'InvalidArgument', 'continuation-token=garbage!!',
          '400 InvalidArgument', repr(r))


@case
def bucket_listv2_fetchowner():
    b = new_bucket()
    create_objects(b, ['foo/bar', 'foo/baz', 'quux'])
    r = S3.list_objects_v2(Bucket=b, FetchOwner=True)
    check('Owner' in r['Contents'][0] and r['Contents'][0]['Owner'].get('ID'),
          'FetchOwner=true Owner', 'Owner with ID', r['Contents'][0])
    r = S3.list_objects_v2(Bucket=b)
    check('Owner' not in r['Contents'][0], 'default: no Owner', 'absent', r['Contents'][0])
    r = S3.list_objects_v2(Bucket=b, FetchOwner=False)
    check('Owner' not in r['Contents'][0], 'FetchOwner=false: no Owner', 'absent', r['Contents'][0])


@case
def bucket_list_return_data():
    b = new_bucket()
    create_objects(b, ['bar', 'baz', 'foo'])
    r = S3.list_objects(Bucket=b)
    for o in r['Contents']:
        h = S3.head_object(Bucket=b, Key=o['Key'])
        eq('%s ETag' % o['Key'], h['ETag'], o['ETag'])
        eq('%s Size' % o['Key'], h['ContentLength'], o['Size'])
        eq('%s LastModified list == head' % o['Key'], h['LastModified'], o['LastModified'])
        check(o.get('Owner', {}).get('ID'), '%s v1 Owner/ID' % o['Key'], 'present', o)
        check('DisplayName' in o.get('Owner', {}), '%s v1 Owner/DisplayName' % o['Key'],
              'present', o)
        eq('%s StorageClass' % o['Key'], 'STANDARD', o.get('StorageClass'))
    rr, x = raw_list(b, [])
    for lm in xall(x, 'Contents/LastModified'):
        check(isotime_ok(lm), 'LastModified format', 'YYYY-MM-DDTHH:MM:SS.sssZ', lm)


@case
def bucket_list_objects_anonymous():
    b = new_bucket()
    r = send('GET', '/' + b)
    check(r.status == 403 and r.code() == 'AccessDenied', 'anonymous ListObjects',
          '403 AccessDenied', repr(r))
    r = send('GET', '/' + b, [('list-type', '2')])
    check(r.status == 403 and r.code() == 'AccessDenied', 'anonymous ListObjectsV2',
          '403 AccessDenied', repr(r))


@case
def bucket_listv2_notexist():
    b = new_bucket(create=False)
    expect_error('ListObjectsV2 missing bucket', S3.list_objects_v2, 404, 'NoSuchBucket', Bucket=b)


SPECIAL_NAMES = [' ', '"', '$', '%', '&', "'", '<', '>', '_', '_ ', '_ _', '__']


@case
def bucket_create_special_key_names():
    b = new_bucket()
    for k in SPECIAL_NAMES:
        try:
            put(b, k, k.encode())
        except ClientError as e:
            check(False, 'PutObject %r' % k, 'success', err(e))
    r = S3.list_objects(Bucket=b)
    eq('listed keys', sorted(SPECIAL_NAMES), keys_of(r))
    for k in SPECIAL_NAMES:
        try:
            got = S3.get_object(Bucket=b, Key=k)['Body'].read()
            eq('GetObject %r body' % k, k.encode(), got)
        except ClientError as e:
            check(False, 'GetObject %r' % k, 'success', err(e))


@case
def bucket_list_special_prefix():
    b = new_bucket()
    create_objects(b, ['_bla/1', '_bla/2', '_bla/3', '_bla/4', 'abcd'])
    eq('all', 5, len(keys_of(S3.list_objects(Bucket=b))))
    eq('prefix _bla/', 4, len(keys_of(S3.list_objects(Bucket=b, Prefix='_bla/'))))


@case
def odd_keys_roundtrip():
    b = new_bucket()
    keys = ['a b', 'a+b', '%', '%25', 'a%2Fb', '~', 'a//b', 'dir/', '/lead', 'trail/',
            'q?x', 'h#x', 'ü/日本語', 'semi;c', 'a=b', 'a&b=c', 'star*', '!', "(x)", 'a,b', '@:']
    for k in keys:
        try:
            put(b, k, k.encode())
            got = S3.get_object(Bucket=b, Key=k)['Body'].read()
            eq('GetObject %r' % k, k.encode(), got)
        except ClientError as e:
            check(False, 'Put/Get %r' % k, 'success', err(e))
    r = S3.list_objects_v2(Bucket=b)
    eq('listed', sorted(keys), keys_of(r))
    r = S3.list_objects_v2(Bucket=b, Prefix='a', Delimiter='/')
    eq('prefix a delimiter /', sorted(k for k in keys if k.startswith('a') and '/' not in k[1:]),
       keys_of(r))
    eq('prefix a delimiter / prefixes', ['a/'], prefixes_of(r))


@case
def list_prefix_special_signed():
    """Signed query strings with characters that need encoding."""
    b = new_bucket()
    create_objects(b, ['a b+c~d*e/1', 'a b+c~d*e/2', 'x'])
    r = S3.list_objects_v2(Bucket=b, Prefix='a b+c~d*e/')
    eq('boto3 list with prefix a b+c~d*e/', ['a b+c~d*e/1', 'a b+c~d*e/2'], keys_of(r))
    r, x = raw_list(b, [('list-type', '2'), ('prefix', 'a b+c~d*e/')])
    eq('raw list with prefix', ['a b+c~d*e/1', 'a b+c~d*e/2'], xall(x, 'Contents/Key'))
    r, x = raw_list(b, [('list-type', '2'), ('prefix', 'é')])
    eq('unicode prefix status', 200, r.status)


@case
def list_object_versions():
    b = new_bucket()
    create_objects(b, ['a', 'b/1', 'b/2', 'c'])
    r = S3.list_object_versions(Bucket=b)
    vs = r.get('Versions', [])
    eq('keys', ['a', 'b/1', 'b/2', 'c'], [v['Key'] for v in vs])
    for v in vs[:1]:
        eq('VersionId', 'null', v.get('VersionId'))
        eq('IsLatest', True, v.get('IsLatest'))
        check(v.get('ETag') and v.get('Size') == 1 and v.get('LastModified'), 'fields',
              'ETag Size LastModified', v)
        check(v.get('Owner', {}).get('ID'), 'Owner', 'present', v)
        eq('StorageClass', 'STANDARD', v.get('StorageClass'))
    r = S3.list_object_versions(Bucket=b, MaxKeys=1)
    eq('page IsTruncated', True, r['IsTruncated'])
    eq('NextKeyMarker', 'a', r.get('NextKeyMarker'))
    eq('NextVersionIdMarker', 'null', r.get('NextVersionIdMarker'))
    r = S3.list_object_versions(Bucket=b, KeyMarker='a', MaxKeys=2)
    eq('page 2 keys', ['b/1', 'b/2'], [v['Key'] for v in r.get('Versions', [])])
    eq('KeyMarker echoed', 'a', r.get('KeyMarker'))
    r = S3.list_object_versions(Bucket=b, Delimiter='/')
    eq('delimiter keys', ['a', 'c'], [v['Key'] for v in r.get('Versions', [])])
    eq('delimiter prefixes', ['b/'], prefixes_of(r))
    r = raw('GET', '/' + b, [('versions', None), ('version-id-marker', 'null')])
    check(r.status == 400 and r.code() == 'InvalidArgument',
          'version-id-marker without key-marker', '400 InvalidArgument', repr(r))


# ---------------------------------------------------------------------------
# objects
# ---------------------------------------------------------------------------

@case
def object_write_check_etag():
    b = new_bucket()
    r = put(b, 'foo', b'bar')
    eq('ETag', '"37b51d194a7513e45b56f6524f2d51f2"', r['ETag'])
    rr = raw('PUT', qpath(b, 'foo2'), body=b'bar')
    eq('raw PUT status', 200, rr.status)
    eq('raw PUT body', b'', rr.body)
    check(rr.h('x-amz-request-id'), 'x-amz-request-id', 'present', rr.headers)
    check(httpdate_ok(rr.h('date')), 'Date header', 'RFC 1123 GMT', rr.h('date'))


@case
def response_x_amz_id_2():
    b = new_bucket()
    for what, r in [('PutObject', raw('PUT', qpath(b, 'foo'), body=b'bar')),
                    ('ListObjects', raw('GET', '/' + b)),
                    ('NoSuchKey', raw('GET', qpath(b, 'nope')))]:
        check(r.h('x-amz-id-2'), '%s x-amz-id-2 header' % what, 'present', sorted(r.headers))


@case
def object_get_request_id_header():
    b = new_bucket()
    put(b, 'foo', b'0123456789')
    for what, hs in [('200', {}), ('206', {'Range': 'bytes=0-1'})]:
        g = raw('GET', qpath(b, 'foo'), headers=hs)
        check(g.h('x-amz-request-id'), 'GetObject %s x-amz-request-id' % what, 'present',
              sorted(g.headers))


@case
def object_head_zero_bytes():
    b = new_bucket()
    put(b, 'foo', b'')
    h = S3.head_object(Bucket=b, Key='foo')
    eq('ContentLength', 0, h['ContentLength'])
    eq('ETag', '"d41d8cd98f00b204e9800998ecf8427e"', h['ETag'])
    g = raw('GET', qpath(b, 'foo'))
    eq('GET zero bytes status', 200, g.status)
    eq('GET zero bytes body', b'', g.body)
    eq('GET zero bytes Content-Length', '0', g.h('content-length'))


@case
def object_read_not_exist():
    b = new_bucket()
    r = raw('GET', qpath(b, 'bar'))
    x = r.xml()
    eq('status', 404, r.status)
    eq('Code', 'NoSuchKey', xt(x, 'Code'))
    eq('Key element', 'bar', xt(x, 'Key'))
    eq('RequestId == header', r.h('x-amz-request-id'), xt(x, 'RequestId'))
    check(xt(x, 'Resource') in (None, '/%s/bar' % b), 'Resource', '/B/bar or absent',
          xt(x, 'Resource'))


@case
def object_head_not_exist():
    b = new_bucket()
    r = raw('HEAD', qpath(b, 'bar'))
    eq('status', 404, r.status)
    eq('body', b'', r.body)
    check(r.h('x-amz-request-id'), 'x-amz-request-id', 'present', r.headers)
    b2 = new_bucket(create=False)
    r = raw('HEAD', qpath(b2, 'bar'))
    eq('HEAD object in missing bucket', 404, r.status)


@case
def object_requestid_matches_header_on_error():
    b = new_bucket()
    try:
        S3.get_object(Bucket=b, Key='nope')
        check(False, 'GetObject missing', 'NoSuchKey', 'success')
    except ClientError as e:
        eq('RequestId', e.response['ResponseMetadata']['HTTPHeaders'].get('x-amz-request-id'),
           e.response['Error'].get('RequestId', e.response['ResponseMetadata'].get('RequestId')))


@case
def object_write_cache_control_expires():
    b = new_bucket()
    exp = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    put(b, 'foo', b'bar', CacheControl='public, max-age=14400', Expires=exp,
        ContentDisposition='attachment; filename="x y.txt"', ContentLanguage='de',
        ContentEncoding='identity')
    g = S3.get_object(Bucket=b, Key='foo')
    eq('Cache-Control', 'public, max-age=14400', g.get('CacheControl'))
    eq('Expires', exp, g.get('Expires'))
    eq('Content-Disposition', 'attachment; filename="x y.txt"', g.get('ContentDisposition'))
    eq('Content-Language', 'de', g.get('ContentLanguage'))
    h = S3.head_object(Bucket=b, Key='foo')
    eq('HEAD Cache-Control', 'public, max-age=14400', h.get('CacheControl'))
    eq('HEAD Expires', exp, h.get('Expires'))


@case
def object_metadata_replaced_on_put():
    b = new_bucket()
    put(b, 'foo', b'bar', Metadata={'meta1': 'bar'})
    put(b, 'foo', b'bar')
    eq('metadata after overwrite', {}, S3.head_object(Bucket=b, Key='foo')['Metadata'])


@case
def object_metadata_case_and_values():
    b = new_bucket()
    r = raw('PUT', qpath(b, 'foo'), body=b'x',
            headers={'X-Amz-Meta-MixedCase': 'Value With Caps', 'x-amz-meta-empty': '',
                     'x-amz-meta-spaces': '  padded  ', 'x-amz-meta-dash-name': 'a=b;c'})
    eq('PUT status', 200, r.status)
    g = raw('GET', qpath(b, 'foo'))
    eq('GET mixedcase (lower-cased name)', 'Value With Caps', g.h('x-amz-meta-mixedcase'))
    eq('GET dash-name', 'a=b;c', g.h('x-amz-meta-dash-name'))
    eq('GET spaces (trimmed)', 'padded', g.h('x-amz-meta-spaces'))
    h = raw('HEAD', qpath(b, 'foo'))
    eq('HEAD mixedcase', 'Value With Caps', h.h('x-amz-meta-mixedcase'))
    check('x-amz-meta-empty' in h.headers, 'HEAD empty-valued meta', 'present (empty)',
          sorted(h.headers))


@case
def object_metadata_unicode_unsure():
    b = new_bucket()
    r = raw('PUT', qpath(b, 'foo'), body=b'x',
            headers={'x-amz-meta-u': '=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?='})
    eq('PUT status (RFC 2047 value)', 200, r.status)
    h = raw('HEAD', qpath(b, 'foo'))
    eq('value kept as sent', '=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?=', h.h('x-amz-meta-u'))


@case
def object_content_type_default():
    b = new_bucket()
    r = raw('PUT', qpath(b, 'noct'), body=b'x')
    g = raw('GET', qpath(b, 'noct'))
    eq('Content-Type without one at PUT', 'binary/octet-stream', g.h('content-type'))
    raw('PUT', qpath(b, 'ct'), body=b'x', headers={'Content-Type': 'text/plain; charset=utf-8'})
    g = raw('GET', qpath(b, 'ct'))
    eq('Content-Type kept', 'text/plain; charset=utf-8', g.h('content-type'))
    h = raw('HEAD', qpath(b, 'ct'))
    eq('HEAD Content-Type', 'text/plain; charset=utf-8', h.h('content-type'))


@case
def object_get_headers():
    b = new_bucket()
    put(b, 'foo', b'0123456789')
    g = raw('GET', qpath(b, 'foo'))
    eq('Accept-Ranges', 'bytes', g.h('accept-ranges'))
    check(httpdate_ok(g.h('last-modified')), 'Last-Modified', 'RFC 1123 GMT', g.h('last-modified'))
    eq('ETag', '"%s"' % md5hex(b'0123456789'), g.h('etag'))
    eq('Content-Length', '10', g.h('content-length'))
    h = raw('HEAD', qpath(b, 'foo'))
    eq('HEAD Content-Length', '10', h.h('content-length'))
    eq('HEAD Accept-Ranges', 'bytes', h.h('accept-ranges'))
    eq('HEAD ETag', g.h('etag'), h.h('etag'))
    eq('HEAD Last-Modified', g.h('last-modified'), h.h('last-modified'))


@case
def object_overwrite():
    b = new_bucket()
    put(b, 'foo', b'first', ContentType='text/a', Metadata={'a': '1'})
    put(b, 'foo', b'second!', ContentType='text/b')
    g = S3.get_object(Bucket=b, Key='foo')
    eq('body', b'second!', g['Body'].read())
    eq('type', 'text/b', g['ContentType'])
    eq('meta', {}, g['Metadata'])
    eq('listing size', [7], [o['Size'] for o in S3.list_objects_v2(Bucket=b)['Contents']])


@case
def object_response_headers_override():
    b = new_bucket()
    put(b, 'foo', b'bar', ContentType='text/plain')
    r = raw('GET', qpath(b, 'foo'), [('response-content-type', 'foo/bar'),
                                     ('response-content-disposition', 'attachment; filename="a b.txt"'),
                                     ('response-content-language', 'esperanto'),
                                     ('response-content-encoding', 'aaa'),
                                     ('response-cache-control', 'no-cache'),
                                     ('response-expires', 'Thu, 01 Dec 1994 16:00:00 GMT')])
    eq('status', 200, r.status)
    eq('content-type', 'foo/bar', r.h('content-type'))
    eq('content-disposition', 'attachment; filename="a b.txt"', r.h('content-disposition'))
    eq('content-language', 'esperanto', r.h('content-language'))
    eq('content-encoding', 'aaa', r.h('content-encoding'))
    eq('cache-control', 'no-cache', r.h('cache-control'))
    eq('expires', 'Thu, 01 Dec 1994 16:00:00 GMT', r.h('expires'))


@case
def head_object_response_override_unsure():
    """HeadObject's response-* parameters are newer than botocore 1.29's model."""
    b = new_bucket()
    put(b, 'foo', b'bar', ContentType='text/plain')
    h = raw('HEAD', qpath(b, 'foo'), [('response-content-type', 'foo/bar')])
    eq('HEAD response-content-type', 'foo/bar', h.h('content-type'))


@case
def head_object_headers_as_get():
    """A HeadObject answers the headers its GetObject would, overrides too."""
    b = new_bucket()
    r = raw('PUT', qpath(b, 'foo'), body=b'bar', headers={
        'content-type': 'text/plain', 'cache-control': 'max-age=60', 'content-language': 'de',
        'x-amz-meta-colour': 'blue', 'x-amz-storage-class': 'REDUCED_REDUNDANCY'})
    eq('PUT', 200, r.status)
    names = ['content-type', 'cache-control', 'content-disposition', 'content-encoding',
             'content-language', 'expires', 'x-amz-storage-class', 'x-amz-meta-colour', 'etag',
             'last-modified', 'content-length']
    for q in ([], [('response-content-type', 'x/y'), ('response-content-encoding', 'gzip'),
                   ('response-content-disposition', 'inline')]):
        g, h = raw('GET', qpath(b, 'foo'), q), raw('HEAD', qpath(b, 'foo'), q)
        eq('GET and HEAD %s' % (q and 'with overrides' or 'plain'),
           {n: g.h(n) for n in names}, {n: h.h(n) for n in names})


@case
def object_unknown_query_param_ignored():
    b = new_bucket()
    put(b, 'foo', b'bar')
    r = raw('GET', qpath(b, 'foo'), [('foo', 'bar'), ('x-id', 'GetObject')])
    eq('GET with unknown params', (200, b'bar'), (r.status, r.body))


@case
def object_versionid_null():
    b = new_bucket()
    put(b, 'foo', b'bar')
    r = raw('GET', qpath(b, 'foo'), [('versionId', 'null')])
    eq('GET ?versionId=null', (200, b'bar'), (r.status, r.body))
    r = raw('HEAD', qpath(b, 'foo'), [('versionId', 'null')])
    eq('HEAD ?versionId=null', 200, r.status)
    r = raw('DELETE', qpath(b, 'foo'), [('versionId', 'null')])
    eq('DELETE ?versionId=null', 204, r.status)
    eq('gone after DELETE versionId=null', 404, raw('HEAD', qpath(b, 'foo')).status)


@case
def object_versionid_bogus_unsure():
    b = new_bucket()
    put(b, 'foo', b'bar')
    r = raw('GET', qpath(b, 'foo'), [('versionId', 'abc')])
    check(r.status in (400, 404) and r.code() in ('InvalidArgument', 'NoSuchVersion'),
          'GET ?versionId=abc', '400 InvalidArgument (malformed id) / 404 NoSuchVersion',
          repr(r))


# ---- Range --------------------------------------------------------------

def _range(b, k, rng, method='GET'):
    return raw(method, qpath(b, k), headers={'Range': rng})


@case
def ranged_request_response_code():
    b = new_bucket()
    put(b, 'foo', b'testcontent')
    for rng, cr, body in [('bytes=4-7', 'bytes 4-7/11', b'cont'),
                          ('bytes=4-', 'bytes 4-10/11', b'content'),
                          ('bytes=-7', 'bytes 4-10/11', b'content'),
                          ('bytes=0-0', 'bytes 0-0/11', b't'),
                          ('bytes=10-10', 'bytes 10-10/11', b't'),
                          ('bytes=5-100', 'bytes 5-10/11', b'ontent'),
                          ('bytes=-100', 'bytes 0-10/11', b'testcontent'),
                          ('bytes=0-', 'bytes 0-10/11', b'testcontent')]:
        r = _range(b, 'foo', rng)
        eq('%s status' % rng, 206, r.status)
        eq('%s Content-Range' % rng, cr, r.h('content-range'))
        eq('%s body' % rng, body, r.body)
        eq('%s Content-Length' % rng, str(len(body)), r.h('content-length'))


@case
def ranged_request_head():
    b = new_bucket()
    put(b, 'foo', b'testcontent')
    r = _range(b, 'foo', 'bytes=4-7', 'HEAD')
    eq('HEAD Range status', 206, r.status)
    eq('HEAD Content-Range', 'bytes 4-7/11', r.h('content-range'))
    eq('HEAD Content-Length', '4', r.h('content-length'))


@case
def ranged_request_invalid_range():
    b = new_bucket()
    put(b, 'foo', b'testcontent')
    for rng in ('bytes=40-50', 'bytes=11-', 'bytes=11-20'):
        r = _range(b, 'foo', rng)
        check(r.status == 416 and r.code() == 'InvalidRange', 'Range %s on 11 bytes' % rng,
              '416 InvalidRange', repr(r))
    r = _range(b, 'foo', 'bytes=40-50')
    x = r.xml()
    eq('416 ActualObjectSize', '11', xt(x, 'ActualObjectSize'))
    eq('416 RangeRequested', 'bytes=40-50', xt(x, 'RangeRequested'))
    eq('416 Content-Range', 'bytes */11', r.h('content-range'))


@case
def ranged_request_empty_object():
    b = new_bucket()
    put(b, 'foo', b'')
    r = _range(b, 'foo', 'bytes=40-50')
    check(r.status == 416 and r.code() == 'InvalidRange', 'Range bytes=40-50 on empty object',
          '416 InvalidRange', repr(r))


@case
def ranged_request_ignored_forms():
    b = new_bucket()
    put(b, 'foo', b'testcontent')
    for rng in ('bytes=abc', 'bytes=5-2', 'items=0-1', 'bytes=', 'bytes=--1', 'bytes 0-1'):
        r = _range(b, 'foo', rng)
        eq('Range %r ignored: status' % rng, 200, r.status)
        eq('Range %r ignored: body' % rng, b'testcontent', r.body)


@case
def ranged_request_multiple_unsure():
    b = new_bucket()
    put(b, 'foo', b'testcontent')
    r = _range(b, 'foo', 'bytes=0-1,4-5')
    check(r.status == 200 and r.body == b'testcontent' or
          (r.status == 206 and r.body == b'te' and r.h('content-range') == 'bytes 0-1/11'),
          'Range bytes=0-1,4-5', '200 whole object (S3 serves no multi-range)', repr(r))


@case
def ranged_request_suffix_zero_unsure():
    b = new_bucket()
    put(b, 'foo', b'testcontent')
    r = _range(b, 'foo', 'bytes=-0')
    check(r.status in (416, 200), 'Range bytes=-0', '416 InvalidRange', repr(r))


# ---- conditionals -------------------------------------------------------

def _get_cond(b, k, headers, method='GET'):
    return raw(method, qpath(b, k), headers=headers)


@case
def get_object_conditionals():
    b = new_bucket()
    etag = put(b, 'foo', b'bar')['ETag']
    lm, _ = last_modified_ts(b, 'foo')
    past, future = httpdate(lm - 86400), httpdate(lm + 86400)
    exact = httpdate(lm)
    cases = [
        ('If-Match good', {'If-Match': etag}, 200),
        ('If-Match failed', {'If-Match': '"ABCORZ"'}, 412),
        ('If-Match *', {'If-Match': '*'}, 200),
        ('If-Match list', {'If-Match': '"xyz", %s' % etag}, 200),
        ('If-Match unquoted', {'If-Match': etag.strip('"')}, 200),
        ('If-None-Match good (matches)', {'If-None-Match': etag}, 304),
        ('If-None-Match failed (differs)', {'If-None-Match': '"ABCORZ"'}, 200),
        ('If-None-Match *', {'If-None-Match': '*'}, 304),
        ('If-Modified-Since past', {'If-Modified-Since': past}, 200),
        ('If-Modified-Since future', {'If-Modified-Since': future}, 304),
        ('If-Modified-Since == Last-Modified', {'If-Modified-Since': exact}, 304),
        ('If-Modified-Since garbage ignored', {'If-Modified-Since': 'not a date'}, 200),
        ('If-Unmodified-Since 1994', {'If-Unmodified-Since': 'Sat, 29 Oct 1994 19:43:31 GMT'}, 412),
        ('If-Unmodified-Since 2100', {'If-Unmodified-Since': 'Sun, 29 Oct 2100 19:43:31 GMT'}, 200),
        ('If-Unmodified-Since == Last-Modified', {'If-Unmodified-Since': exact}, 200),
        ('If-Unmodified-Since garbage ignored', {'If-Unmodified-Since': 'garbage'}, 200),
        ('If-Match true + If-Unmodified-Since false', {'If-Match': etag,
                                                       'If-Unmodified-Since': past}, 200),
        ('If-None-Match false + If-Modified-Since true', {'If-None-Match': etag,
                                                          'If-Modified-Since': past}, 304),
        ('If-Match false + If-None-Match differs', {'If-Match': '"zz"',
                                                    'If-None-Match': '"yy"'}, 412),
        ('If-None-Match differs + If-Modified-Since false', {'If-None-Match': '"zz"',
                                                             'If-Modified-Since': future}, 200),
        ('If-Match true + If-Modified-Since false', {'If-Match': etag,
                                                     'If-Modified-Since': future}, 304),
        ('If-Unmodified-Since false + If-None-Match matches', {'If-Unmodified-Since': past,
                                                               'If-None-Match': etag}, 412),
    ]
    for what, hs, st in cases:
        for method in ('GET', 'HEAD'):
            r = _get_cond(b, 'foo', hs, method)
            ok = check(r.status == st, '%s %s' % (method, what), str(st), repr(r)[:120])
            if ok and st == 412 and method == 'GET':
                eq('%s error Code' % what, 'PreconditionFailed', r.code())
            if ok and st == 304:
                eq('%s %s 304 body' % (method, what), b'', r.body)


@case
def get_object_conditional_date_formats():
    """HTTP dates in the obsolete RFC 850 and asctime forms (RFC 7231 says accept them)."""
    b = new_bucket()
    put(b, 'foo', b'bar')
    lm, _ = last_modified_ts(b, 'foo')
    for fmt in ('%A, %d-%b-%y %H:%M:%S GMT', '%a %b %d %H:%M:%S %Y'):
        d = time.strftime(fmt, time.gmtime(lm + 86400))
        r = _get_cond(b, 'foo', {'If-Modified-Since': d})
        eq('If-Modified-Since %r (a day after)' % d, 304, r.status)


@case
def get_object_304_412_headers():
    b = new_bucket()
    etag = put(b, 'foo', b'bar', CacheControl='max-age=5', Metadata={'m': 'v'})['ETag']
    r = _get_cond(b, 'foo', {'If-None-Match': etag})
    eq('304 status', 304, r.status)
    eq('304 ETag', etag, r.h('etag'))
    check(httpdate_ok(r.h('last-modified')), '304 Last-Modified', 'present', r.h('last-modified'))
    check(r.h('x-amz-request-id'), '304 x-amz-request-id', 'present', r.headers)
    check('content-type' not in r.headers or r.h('content-type') != 'application/xml',
          '304 no XML content-type', 'no application/xml', r.h('content-type'))
    r = _get_cond(b, 'foo', {'If-Match': '"nope"'})
    x = r.xml()
    eq('412 Condition element', 'If-Match', xt(x, 'Condition'))
    r = _get_cond(b, 'foo', {'If-Match': '"nope"'}, 'HEAD')
    eq('HEAD 412 body', b'', r.body)


@case
def get_object_conditional_with_range():
    b = new_bucket()
    etag = put(b, 'foo', b'testcontent')['ETag']
    r = _get_cond(b, 'foo', {'If-Match': etag, 'Range': 'bytes=0-3'})
    eq('If-Match + Range', (206, b'test'), (r.status, r.body))
    r = _get_cond(b, 'foo', {'If-Match': '"x"', 'Range': 'bytes=0-3'})
    eq('If-Match failed + Range', 412, r.status)
    r = _get_cond(b, 'foo', {'If-None-Match': etag, 'Range': 'bytes=40-50'})
    check(r.status in (304, 416), 'If-None-Match match + bad Range', '304 (or 416)', repr(r))


@case
def put_object_if_none_match_star():
    """PutObject If-None-Match: * (S3 since 2024): 412 on an existing key."""
    b = new_bucket()
    put(b, 'foo', b'bar')
    r = raw('PUT', qpath(b, 'foo'), body=b'new', headers={'If-None-Match': '*'})
    check(r.status == 412 and r.code() == 'PreconditionFailed',
          'PutObject If-None-Match:* on existing key', '412 PreconditionFailed', repr(r))
    eq('body unchanged', b'bar', S3.get_object(Bucket=b, Key='foo')['Body'].read())
    r = raw('PUT', qpath(b, 'new'), body=b'x', headers={'If-None-Match': '*'})
    eq('PutObject If-None-Match:* on a new key', 200, r.status)


@case
def put_object_if_match():
    """PutObject If-Match (S3 since late 2024)."""
    b = new_bucket()
    etag = put(b, 'foo', b'bar')['ETag']
    r = raw('PUT', qpath(b, 'foo'), body=b'new', headers={'If-Match': '"00000000000000000000000000000000"'})
    check(r.status == 412 and r.code() == 'PreconditionFailed', 'PutObject If-Match wrong',
          '412 PreconditionFailed', repr(r))
    eq('body unchanged', b'bar', S3.get_object(Bucket=b, Key='foo')['Body'].read())
    r = raw('PUT', qpath(b, 'foo'), body=b'new', headers={'If-Match': etag})
    eq('PutObject If-Match right', 200, r.status)
    r = raw('PUT', qpath(b, 'missing'), body=b'new', headers={'If-Match': etag})
    check(r.status == 404 and r.code() == 'NoSuchKey', 'PutObject If-Match on missing key',
          '404 NoSuchKey', repr(r))


# ---- PUT edge cases (test_headers.py) -----------------------------------

@case
def object_create_bad_md5_empty_and_short():
    b = new_bucket()
    r = raw('PUT', qpath(b, 'foo'), body=b'bar', headers={'Content-MD5': ''})
    check(r.status == 400 and r.code() == 'InvalidDigest', 'Content-MD5 empty', '400 InvalidDigest',
          repr(r))
    r = raw('PUT', qpath(b, 'foo'), body=b'bar', headers={'Content-MD5': 'YWJyYWNhZGFicmE='})
    check(r.status == 400 and r.code() == 'InvalidDigest', 'Content-MD5 of 11 bytes',
          '400 InvalidDigest', repr(r))
    r = raw('PUT', qpath(b, 'foo'), body=b'bar', headers={'Content-MD5': 'rL0Y20xC+Fzt72VPzMSk2A=='})
    check(r.status == 400 and r.code() == 'BadDigest', 'Content-MD5 wrong', '400 BadDigest', repr(r))
    eq('no object after', 404, raw('HEAD', qpath(b, 'foo')).status)


@case
def object_create_bad_contentlength():
    b = new_bucket()
    r = raw('PUT', qpath(b, 'foo'), body=b'', headers={'Content-Length': '-1'}, content_length=False)
    check(r.status == 400, 'Content-Length: -1', '400', repr(r))
    r = raw('PUT', qpath(b, 'foo2'), body=b'', headers={'Content-Length': ''})
    check(r.status == 400, 'Content-Length empty', '400', repr(r))


def raw_socket(data, timeout=10):
    s = socket.create_connection((U.hostname, U.port), timeout=timeout)
    try:
        s.sendall(data)
        out = b''
        while True:
            try:
                c = s.recv(65536)
            except socket.timeout:
                return out + b'<<timeout>>'
            if not c:
                break
            out += c
            body = re.sub(rb'^(HTTP/1\.[01] 100[^\r]*\r\n(?:[^\r]+\r\n)*\r\n)+', b'', out)
            if b'\r\n\r\n' in body:
                head, _, rest = body.partition(b'\r\n\r\n')
                m = re.search(rb'(?i)content-length:\s*(\d+)', head)
                if m and len(rest) >= int(m.group(1)):
                    break
                if not m and b'chunked' not in head.lower():
                    break
                if b'chunked' in head.lower() and rest.endswith(b'0\r\n\r\n'):
                    break
        return out
    finally:
        s.close()


def signed_socket_request(method, path, extra_headers, body=b'', payload_hash=None):
    hs = dict(extra_headers)
    ph = payload_hash or sha256hex(body)
    hs['X-Amz-Content-Sha256'] = ph
    sign(method, path, [], hs, ph)
    lines = ['%s %s HTTP/1.1' % (method, path)] + ['%s: %s' % kv for kv in hs.items()] + \
        ['Connection: close']
    return ('\r\n'.join(lines) + '\r\n\r\n').encode() + body


def status_line(out):
    """The final status of a raw response (skipping 100 Continue)."""
    for m in re.finditer(rb'HTTP/1\.[01] (\d+)', out):
        if m.group(1) != b'100':
            return int(m.group(1))
    return None


@case
def object_create_contentlength_none():
    b = new_bucket()
    req = signed_socket_request('PUT', qpath(b, 'foo'), {})
    out = raw_socket(req)
    st = status_line(out)
    check(st == 411 and b'MissingContentLength' in out, 'PUT without Content-Length',
          '411 MissingContentLength', out[:300])


@case
def object_create_chunked_transfer_unsure():
    """PUT with Transfer-Encoding: chunked (signed body hash UNSIGNED-PAYLOAD)."""
    b = new_bucket()
    req = signed_socket_request('PUT', qpath(b, 'foo'), {'Transfer-Encoding': 'chunked'},
                                payload_hash='UNSIGNED-PAYLOAD')
    out = raw_socket(req + b'3\r\nbar\r\n0\r\n\r\n')
    st = status_line(out)
    check(st in (200, 411, 501), 'PUT Transfer-Encoding: chunked',
          '200 stored (or S3-style 501 NotImplemented / 411 MissingContentLength XML)', out[:300])
    if st == 200:
        eq('chunked body stored', b'bar', S3.get_object(Bucket=b, Key='foo')['Body'].read())
    elif st is not None:
        check(b'<Code>' in out, 'chunked refusal is S3 XML', 'S3 error XML', out[:300])


@case
def object_create_too_large():
    b = new_bucket()
    req = signed_socket_request('PUT', qpath(b, 'big'),
                                {'Content-Length': str(5 * 1024 ** 3 + 1), 'Expect': '100-continue'},
                                payload_hash='UNSIGNED-PAYLOAD')
    out = raw_socket(req, timeout=15)
    st = status_line(out)
    check(st == 400 and b'EntityTooLarge' in out, 'PUT Content-Length 5 GiB + 1',
          '400 EntityTooLarge (S3 XML)', out[:400])
    check(not out.startswith(b'HTTP/1.1 100'), 'PUT 5 GiB + 1 with Expect: 100-continue',
          'refused without 100 Continue', out[:60])


@case
def object_create_expect_variants():
    b = new_bucket()
    for exp in ('200', ''):
        r = raw('PUT', qpath(b, 'foo'), body=b'bar', headers={'Expect': exp})
        check(r.status == 200, 'PUT Expect: %r' % exp, '200 (s3-tests bad_expect_*)', repr(r))


@case
def object_anon_put_get():
    b = new_bucket()
    put(b, 'foo', b'bar')
    r = send('PUT', qpath(b, 'foo'), body=b'evil')
    check(r.status == 403 and r.code() == 'AccessDenied', 'anonymous PutObject', '403 AccessDenied',
          repr(r))
    r = send('GET', qpath(b, 'foo'))
    check(r.status == 403 and r.code() == 'AccessDenied', 'anonymous GetObject', '403 AccessDenied',
          repr(r))
    r = send('HEAD', qpath(b, 'foo'))
    eq('anonymous HeadObject', 403, r.status)
    r = send('GET', '/' + b, headers={'Authorization': ''})
    check(r.status == 403 and r.code() == 'AccessDenied', 'Authorization: (empty)',
          '403 AccessDenied', repr(r))


@case
def auth_header_malformed():
    b = new_bucket()
    r = send('GET', '/' + b, headers={'Authorization': 'AWS4-HMAC-SHA256 Credential=HAHAHA',
                                      'X-Amz-Date': amz_now(),
                                      'X-Amz-Content-Sha256': sha256hex(b'')})
    check(r.status == 400 and r.code() in ('AuthorizationHeaderMalformed', 'InvalidArgument'),
          'Authorization: AWS4-HMAC-SHA256 Credential=HAHAHA', '400 AuthorizationHeaderMalformed',
          repr(r))
    r = send('GET', '/' + b, headers={
        'Authorization': 'AWS4-HMAC-SHA256 Credential=AKIAIGR7ZNNBHC5BKSUB/20150930/us-east-1/s3/'
                         'aws4_request,SignedHeaders=host;user-agent;x-amz-content-sha256;x-amz-date,'
                         'Signature=FWeDfwojDSdS2Ztmpfeubhd9isU=',
        'X-Amz-Date': amz_now(), 'X-Amz-Content-Sha256': sha256hex(b'')})
    check(r.status == 403 and r.code() in ('InvalidAccessKeyId', 'SignatureDoesNotMatch',
                                            'AccessDenied'),
          'Authorization with unknown key, malformed signature', '403 InvalidAccessKeyId', repr(r))


@case
def auth_wrong_region():
    b = new_bucket()
    r = raw('GET', '/' + b, sign_kw={'region': 'us-west-2'})
    x = r.xml()
    check(r.status == 400 and r.code() == 'AuthorizationHeaderMalformed',
          'credential scope region us-west-2', '400 AuthorizationHeaderMalformed', repr(r))
    eq('Region element', 'us-east-1', xt(x, 'Region'))


@case
def auth_wrong_service():
    b = new_bucket()
    r = raw('GET', '/' + b, sign_kw={'service': 'ec2'})
    check(r.status in (400, 403) and r.code() in ('AuthorizationHeaderMalformed',
                                                   'SignatureDoesNotMatch'),
          'credential scope service ec2', '400 AuthorizationHeaderMalformed', repr(r))


@case
def auth_no_space_after_commas():
    b = new_bucket()
    r = raw('GET', '/' + b, sign_kw={'comma': ','})
    eq('Authorization with "," separators', 200, r.status)


@case
def auth_header_whitespace_collapse():
    b = new_bucket()
    r = raw('PUT', qpath(b, 'foo'), body=b'x', headers={'x-amz-meta-sp': 'a   b  c',
                                                        'x-amz-meta-tr': ' lead'})
    check(r.status == 200, 'signed header values with runs of spaces', '200', repr(r))


@case
def auth_date_header_instead_of_x_amz_date():
    b = new_bucket()
    r = raw('GET', '/' + b, sign_kw={'date_header': True})
    eq('SigV4 with Date (no X-Amz-Date)', 200, r.status)


@case
def auth_bad_date_with_good_amz_date():
    b = new_bucket()
    r = raw('PUT', qpath(b, 'foo'), body=b'bar', headers={'Date': 'Bad Date'},
            sign_kw={'signed': ['host', 'x-amz-content-sha256', 'x-amz-date']})
    eq('Date: Bad Date, X-Amz-Date fine', 200, r.status)


@case
def auth_amz_date_bad_values():
    b = new_bucket()
    for label, v, codes in [('invalid', 'Bad Date', ('AccessDenied', 'SignatureDoesNotMatch')),
                            ('empty', '', ('AccessDenied', 'SignatureDoesNotMatch')),
                            ('before today', '20100707T215304Z', ('RequestTimeTooSkewed',)),
                            ('after today', '20300707T215304Z', ('RequestTimeTooSkewed',)),
                            ('before epoch', '19500707T215304Z', ('AccessDenied', 'RequestTimeTooSkewed')),
                            ('after end', '99990707T215304Z', ('AccessDenied', 'RequestTimeTooSkewed'))]:
        r = raw('PUT', qpath(b, 'foo'), body=b'bar', headers={'X-Amz-Date': v},
                sign_kw={'amzdate': v if re.match(r'^\d{8}T\d{6}Z$', v) else amz_now()})
        check(r.status == 403 and r.code() in codes, 'X-Amz-Date %s (%r)' % (label, v),
              '403 %s' % '/'.join(codes), repr(r))
    r = raw('PUT', qpath(b, 'foo'), body=b'bar', sign_kw={'amzdate': amz_now(-3600)})
    x = r.xml()
    check(r.status == 403 and r.code() == 'RequestTimeTooSkewed', 'X-Amz-Date an hour ago',
          '403 RequestTimeTooSkewed', repr(r))
    check(xt(x, 'RequestTime') and xt(x, 'ServerTime') and xt(x, 'MaxAllowedSkewMilliseconds'),
          'RequestTimeTooSkewed fields', 'RequestTime ServerTime MaxAllowedSkewMilliseconds',
          r.body[:300])


@case
def auth_amz_date_none():
    b = new_bucket()
    hs = {'X-Amz-Content-Sha256': sha256hex(b'bar')}
    sign('PUT', qpath(b, 'foo'), [], hs, sha256hex(b'bar'))
    del hs['X-Amz-Date']
    r = send('PUT', qpath(b, 'foo'), body=b'bar', headers=hs)
    check(r.status == 403 and r.code() in ('AccessDenied', 'SignatureDoesNotMatch'),
          'no X-Amz-Date, no Date', '403 AccessDenied', repr(r))


@case
def auth_missing_signed_header():
    b = new_bucket()

    def drop(hs):
        del hs['x-amz-meta-foo']
    r = raw('PUT', qpath(b, 'foo'), body=b'bar', headers={'x-amz-meta-foo': 'bar'},
            after_sign=drop)
    check(r.status == 403 and r.code() == 'SignatureDoesNotMatch',
          'signed x-amz-meta-foo missing', '403 SignatureDoesNotMatch', repr(r))

    def change(hs):
        hs['x-amz-meta-foo'] = 'changed'
    r = raw('PUT', qpath(b, 'foo'), body=b'bar', headers={'x-amz-meta-foo': 'bar'},
            after_sign=change)
    check(r.status == 403 and r.code() == 'SignatureDoesNotMatch', 'signed header changed',
          '403 SignatureDoesNotMatch', repr(r))


@case
def auth_unsigned_amz_header_unsure():
    """S3 requires every x-amz-* header to be signed (header auth)."""
    b = new_bucket()

    def add(hs):
        hs['x-amz-meta-sneaky'] = 'yes'
    r = raw('PUT', qpath(b, 'foo'), body=b'bar', after_sign=add)
    check(r.status == 403 and r.code() in ('AccessDenied', 'SignatureDoesNotMatch'),
          'unsigned x-amz-meta-* header', '403 AccessDenied "There were headers present in the '
          'request which were not signed"', repr(r))


@case
def auth_content_sha256_missing():
    b = new_bucket()
    r = raw('GET', '/' + b, payload_hash=False)
    check(r.status == 400 and r.code() == 'InvalidRequest', 'no x-amz-content-sha256',
          '400 InvalidRequest (Missing required header: x-amz-content-sha256)', repr(r))


@case
def auth_content_sha256_mismatch():
    b = new_bucket()
    r = raw('PUT', qpath(b, 'foo'), body=b'bar', payload_hash=sha256hex(b'baz'))
    x = r.xml()
    check(r.status == 400 and r.code() == 'XAmzContentSHA256Mismatch', 'x-amz-content-sha256 wrong',
          '400 XAmzContentSHA256Mismatch', repr(r))
    eq('ClientComputedContentSHA256', sha256hex(b'baz'), xt(x, 'ClientComputedContentSHA256'))
    eq('S3ComputedContentSHA256', sha256hex(b'bar'), xt(x, 'S3ComputedContentSHA256'))
    eq('no object', 404, raw('HEAD', qpath(b, 'foo')).status)


@case
def auth_content_sha256_invalid_value():
    b = new_bucket()
    r = raw('PUT', qpath(b, 'foo'), body=b'bar', payload_hash='foo')
    check(r.status == 400 and r.code() in ('InvalidArgument', 'XAmzContentSHA256Mismatch'),
          'x-amz-content-sha256: foo', '400 InvalidArgument', repr(r))


@case
def auth_signature_v2_refused():
    b = new_bucket()
    r = send('GET', '/' + b, headers={'Authorization': 'AWS %s:%s' % (ACCESS, 'x' * 28),
                                      'Date': email.utils.formatdate(usegmt=True)})
    check(r.status in (400, 403) and r.code() is not None, 'SigV2 Authorization',
          '400/403 S3 XML (SignatureDoesNotMatch / InvalidRequest)', repr(r))


# ---- presigned URLs -----------------------------------------------------

@case
def presigned_get_put():
    b = new_bucket()
    put(b, 'foo', b'bar')
    r = send('GET', qpath(b, 'foo'), presign('GET', qpath(b, 'foo')))
    eq('presigned GET', (200, b'bar'), (r.status, r.body))
    r = send('HEAD', qpath(b, 'foo'), presign('HEAD', qpath(b, 'foo')))
    eq('presigned HEAD', 200, r.status)
    r = send('PUT', qpath(b, 'up'), presign('PUT', qpath(b, 'up')), body=b'uploaded')
    eq('presigned PUT', 200, r.status)
    eq('presigned PUT stored', b'uploaded', S3.get_object(Bucket=b, Key='up')['Body'].read())
    url = S3.generate_presigned_url('get_object', Params={'Bucket': b, 'Key': 'foo',
                                                          'ResponseContentType': 'x/y'})
    u = urllib.parse.urlsplit(url)
    r = send('GET', u.path, raw_query=u.query)
    eq('boto3 presigned GET with response-content-type', (200, 'x/y'),
       (r.status, r.h('content-type')))
    r = send('GET', qpath(b, 'foo'), presign('GET', qpath(b, 'foo'),
                                             [('response-content-disposition', 'inline')]))
    eq('presigned with response-content-disposition', (200, 'inline'),
       (r.status, r.h('content-disposition')))


@case
def presigned_special_key():
    b = new_bucket()
    k = 'a b+c/ü~*'
    put(b, k, b'bar')
    url = S3.generate_presigned_url('get_object', Params={'Bucket': b, 'Key': k})
    u = urllib.parse.urlsplit(url)
    r = send('GET', u.path, raw_query=u.query)
    eq('presigned GET of %r' % k, (200, b'bar'), (r.status, r.body))


@case
def presigned_expired():
    b = new_bucket()
    put(b, 'foo', b'bar')
    pairs = presign('GET', qpath(b, 'foo'), expires=1, amzdate=amz_now(-60))
    r = send('GET', qpath(b, 'foo'), pairs)
    check(r.status == 403 and r.code() == 'AccessDenied', 'expired presigned GET',
          '403 AccessDenied (Request has expired)', repr(r))
    pairs = presign('PUT', qpath(b, 'foo'), expires=1, amzdate=amz_now(-60))
    r = send('PUT', qpath(b, 'foo'), pairs, body=b'evil')
    check(r.status == 403, 'expired presigned PUT', '403 AccessDenied', repr(r))
    eq('object unchanged', b'bar', S3.get_object(Bucket=b, Key='foo')['Body'].read())


@case
def presigned_expires_out_of_range():
    b = new_bucket()
    put(b, 'foo', b'bar')
    r = send('GET', qpath(b, 'foo'), presign('GET', qpath(b, 'foo'), expires=100000))
    eq('X-Amz-Expires=100000', 200, r.status)
    r = send('GET', qpath(b, 'foo'), presign('GET', qpath(b, 'foo'), expires=604800))
    eq('X-Amz-Expires=604800', 200, r.status)
    for v in (609901, 0, -7):
        r = send('GET', qpath(b, 'foo'), presign('GET', qpath(b, 'foo'), expires=v))
        check(r.status in (400, 403) and r.code() in ('AuthorizationQueryParametersError',
                                                       'AccessDenied'),
              'X-Amz-Expires=%d' % v, '403 (s3-tests) / 400 AuthorizationQueryParametersError',
              repr(r))


@case
def presigned_bad_signature():
    b = new_bucket()
    put(b, 'foo', b'bar')
    pairs = presign('GET', qpath(b, 'foo'))
    pairs[-1] = ('X-Amz-Signature', '0' * 64)
    r = send('GET', qpath(b, 'foo'), pairs)
    check(r.status == 403 and r.code() == 'SignatureDoesNotMatch', 'presigned bad signature',
          '403 SignatureDoesNotMatch', repr(r))
    pairs = presign('GET', qpath(b, 'foo'), access='AKIAIOSFODNN7EXAMPLE')
    r = send('GET', qpath(b, 'foo'), pairs)
    check(r.status == 403 and r.code() == 'InvalidAccessKeyId', 'presigned unknown key',
          '403 InvalidAccessKeyId', repr(r))
    pairs = presign('GET', qpath(b, 'foo'))
    r = send('GET', qpath(b, 'other'), pairs)
    check(r.status == 403 and r.code() == 'SignatureDoesNotMatch', 'presigned URL for another key',
          '403 SignatureDoesNotMatch', repr(r))


@case
def presigned_put_invalid_hash_unsure():
    """mint testPresignedPutInvalidHash: presigned PUT with a bad x-amz-content-sha256 header."""
    b = new_bucket()
    pairs = presign('PUT', qpath(b, 'foo'))
    r = send('PUT', qpath(b, 'foo'), pairs, body=b'bar',
             headers={'X-Amz-Content-Sha256': 'invalid-sha256'})
    check(r.status == 400 and r.code() in ('XAmzContentSHA256Mismatch', 'InvalidArgument'),
          'presigned PUT with x-amz-content-sha256: invalid-sha256',
          '400 XAmzContentSHA256Mismatch (mint) / InvalidArgument', repr(r))


@case
def presigned_put_wrong_signed_hash():
    """A presigned PUT whose signed x-amz-content-sha256 header is not the body's hash."""
    b = new_bucket()
    pairs = presign('PUT', qpath(b, 'foo'), headers={'x-amz-content-sha256': sha256hex(b'baz')})
    r = send('PUT', qpath(b, 'foo'), pairs, body=b'bar',
             headers={'X-Amz-Content-Sha256': sha256hex(b'baz')})
    check(r.status == 400 and r.code() == 'XAmzContentSHA256Mismatch',
          'presigned PUT, x-amz-content-sha256 (signed) = sha256("baz"), body "bar"',
          '400 XAmzContentSHA256Mismatch', repr(r))


@case
def unsupported_request_headers_unsure():
    """Headers asking for features mkv lacks: S3 would honour them; silently ignoring
    them (object stored unencrypted, untagged, private) is what a client cannot see."""
    b = new_bucket()
    for what, h in [('SSE-C', {'x-amz-server-side-encryption-customer-algorithm': 'AES256',
                               'x-amz-server-side-encryption-customer-key':
                                   'MzJieXRlc2xvbmdzZWNyZXRrZXltdXN0YmVwcm92aWRlZA==',
                               'x-amz-server-side-encryption-customer-key-MD5':
                                   '7PpPLAK26ONlVUGOWlusfg=='}),
                    ('SSE-KMS', {'x-amz-server-side-encryption': 'aws:kms'}),
                    ('x-amz-acl public-read', {'x-amz-acl': 'public-read'}),
                    ('x-amz-grant-read', {'x-amz-grant-read': 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'}),
                    ('x-amz-tagging', {'x-amz-tagging': 'a=b'}),
                    ('object lock', {'x-amz-object-lock-mode': 'GOVERNANCE',
                                     'x-amz-object-lock-retain-until-date': '2030-01-01T00:00:00Z'})]:
        r = raw('PUT', qpath(b, 'h'), body=b'x', headers=h)
        check(r.status in (400, 501), 'PutObject with %s' % what,
              'honoured, or refused (501 NotImplemented / 400 for SSE-C over http)', '%d (ignored)' % r.status)
    r = raw('PUT', qpath(b, 'sse'), body=b'x', headers={'x-amz-server-side-encryption': 'AES256'})
    eq('SSE-S3 AES256 accepted', 200, r.status)
    eq('SSE-S3 echoed', 'AES256', r.h('x-amz-server-side-encryption'))


@case
def bucket_delete_with_upload_in_progress_unsure():
    b = new_bucket()
    uid = mpu(b, 'k')
    upart(b, 'k', uid, 1, b'abc')
    r = raw('DELETE', '/' + b)
    if r.status == 204:
        S3.create_bucket(Bucket=b)
        ups = S3.list_multipart_uploads(Bucket=b).get('Uploads', [])
        eq('uploads of a deleted then re-created bucket', [], [u['Key'] for u in ups])
    else:
        check(r.code() == 'BucketNotEmpty', 'DeleteBucket with an upload in progress',
              '204 (uploads dropped) or 409 BucketNotEmpty', repr(r))


# ---- delete -------------------------------------------------------------

@case
def object_delete_responses():
    b = new_bucket()
    put(b, 'foo', b'bar')
    r = raw('DELETE', qpath(b, 'foo'))
    eq('DeleteObject status', 204, r.status)
    r = raw('DELETE', qpath(b, 'foo'))
    eq('DeleteObject missing key status', 204, r.status)
    b2 = new_bucket(create=False)
    r = raw('DELETE', qpath(b2, 'foo'))
    check(r.status == 404 and r.code() == 'NoSuchBucket', 'DeleteObject in missing bucket',
          '404 NoSuchBucket', repr(r))


def _delete_xml(keys, quiet=False):
    body = '<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">' + (
        '<Quiet>true</Quiet>' if quiet else '')
    for k in keys:
        body += '<Object><Key>%s</Key></Object>' % (k.replace('&', '&amp;').replace('<', '&lt;')
                                                    .replace('>', '&gt;'))
    return (body + '</Delete>').encode()


@case
def multi_object_delete():
    b = new_bucket()
    create_objects(b, ['key0', 'key1', 'key2'])
    r = S3.delete_objects(Bucket=b, Delete={'Objects': [{'Key': k} for k in ['key0', 'key1', 'key2']]})
    eq('Deleted', ['key0', 'key1', 'key2'], sorted(d['Key'] for d in r.get('Deleted', [])))
    check('Errors' not in r, 'no Errors', 'absent', r.get('Errors'))
    eq('bucket empty', [], keys_of(S3.list_objects(Bucket=b)))
    r = S3.delete_objects(Bucket=b, Delete={'Objects': [{'Key': k} for k in ['key0', 'key1', 'key2']]})
    eq('Deleted again (missing keys count as deleted)', 3, len(r.get('Deleted', [])))


@case
def multi_object_delete_quiet():
    b = new_bucket()
    create_objects(b, ['key0', 'key1'])
    r = S3.delete_objects(Bucket=b, Delete={'Objects': [{'Key': 'key0'}, {'Key': 'key1'}],
                                           'Quiet': True})
    eq('Quiet: Deleted', [], r.get('Deleted', []))
    eq('Quiet: objects gone', [], keys_of(S3.list_objects(Bucket=b)))


@case
def multi_object_delete_key_limit():
    b = new_bucket()
    body = _delete_xml(['key-%d' % i for i in range(1001)])
    r = raw('POST', '/' + b, [('delete', None)], body=body, headers={'Content-MD5': b64md5(body)})
    check(r.status == 400 and r.code() == 'MalformedXML', 'DeleteObjects with 1001 keys',
          '400 MalformedXML', repr(r))
    body = _delete_xml(['key-%d' % i for i in range(1000)], quiet=True)
    r = raw('POST', '/' + b, [('delete', None)], body=body, headers={'Content-MD5': b64md5(body)})
    eq('DeleteObjects with 1000 keys', 200, r.status)


@case
def multi_object_delete_empty_and_malformed():
    b = new_bucket()
    for what, body in [('no Object', b'<Delete></Delete>'), ('truncated', b'<Delete><Object><Key>a'),
                       ('not XML', b'hello'), ('wrong root', b'<Foo><Object><Key>a</Key></Object></Foo>')]:
        r = raw('POST', '/' + b, [('delete', None)], body=body, headers={'Content-MD5': b64md5(body)})
        check(r.status == 400 and r.code() == 'MalformedXML', 'DeleteObjects %s' % what,
              '400 MalformedXML', repr(r))


@case
def multi_object_delete_md5():
    b = new_bucket()
    put(b, 'a', b'x')
    body = _delete_xml(['a'])
    r = raw('POST', '/' + b, [('delete', None)], body=body, headers={'Content-MD5': b64md5(b'x')})
    check(r.status == 400 and r.code() == 'BadDigest', 'DeleteObjects wrong Content-MD5',
          '400 BadDigest', repr(r))
    eq('object kept', 200, raw('HEAD', qpath(b, 'a')).status)
    r = raw('POST', '/' + b, [('delete', None)], body=body)
    check(r.status == 400 and r.code() in ('InvalidRequest', 'MissingContentMD5'),
          'DeleteObjects without Content-MD5 (or x-amz-checksum-*)',
          '400 InvalidRequest (Missing required header: Content-MD5)', repr(r))


@case
def multi_object_delete_special_keys():
    b = new_bucket()
    keys = ['a&b', '<x>', 'q"\'', 'sp ace', 'ü', 'a/b/']
    create_objects(b, keys)
    body = _delete_xml(keys)
    r = raw('POST', '/' + b, [('delete', None)], body=body, headers={'Content-MD5': b64md5(body)})
    x = r.xml()
    eq('status', 200, r.status)
    eq('Deleted keys', sorted(keys), sorted(xall(x, 'Deleted/Key')))
    eq('bucket empty', [], keys_of(S3.list_objects_v2(Bucket=b)))
    r = S3.delete_objects(Bucket=b, Delete={'Objects': [{'Key': 'a&b', 'VersionId': 'null'}]})
    eq('VersionId null entry', 1, len(r.get('Deleted', [])))


@case
def multi_object_delete_missing_bucket():
    b = new_bucket(create=False)
    expect_error('DeleteObjects missing bucket', S3.delete_objects, 404, 'NoSuchBucket', Bucket=b,
                 Delete={'Objects': [{'Key': 'a'}]})


# ---- storage class and checksums ---------------------------------------

@case
def object_storage_class():
    b = new_bucket()
    r = raw('PUT', qpath(b, 'std'), body=b'x', headers={'x-amz-storage-class': 'STANDARD'})
    eq('PUT STANDARD', 200, r.status)
    r = raw('PUT', qpath(b, 'rr'), body=b'x', headers={'x-amz-storage-class': 'REDUCED_REDUNDANCY'})
    eq('PUT REDUCED_REDUNDANCY (mint testStorageClassMetadataPutObject)', 200, r.status)
    if r.status == 200:
        h = raw('HEAD', qpath(b, 'rr'))
        eq('HEAD x-amz-storage-class', 'REDUCED_REDUNDANCY', h.h('x-amz-storage-class'))
        g = raw('GET', qpath(b, 'rr'))
        eq('GET x-amz-storage-class', 'REDUCED_REDUNDANCY', g.h('x-amz-storage-class'))
        lst = {o['Key']: o.get('StorageClass') for o in S3.list_objects_v2(Bucket=b)['Contents']}
        eq('listing StorageClass', 'REDUCED_REDUNDANCY', lst.get('rr'))
    r = raw('PUT', qpath(b, 'bad'), body=b'x', headers={'x-amz-storage-class': 'FOO'})
    check(r.status == 400 and r.code() == 'InvalidStorageClass', 'PUT storage class FOO',
          '400 InvalidStorageClass', repr(r))


@case
def object_checksum_sha256():
    b = new_bucket()
    body = b'hello checksum'
    cs = base64.b64encode(hashlib.sha256(body).digest()).decode()
    r = S3.put_object(Bucket=b, Key='k', Body=body, ChecksumAlgorithm='SHA256', ChecksumSHA256=cs)
    eq('PutObject ChecksumSHA256 echoed', cs, r.get('ChecksumSHA256'))
    h = S3.head_object(Bucket=b, Key='k')
    check('ChecksumSHA256' not in h, 'HEAD without ChecksumMode', 'no checksum', h.get('ChecksumSHA256'))
    h = S3.head_object(Bucket=b, Key='k', ChecksumMode='ENABLED')
    eq('HEAD ChecksumMode=ENABLED', cs, h.get('ChecksumSHA256'))
    g = S3.get_object(Bucket=b, Key='k', ChecksumMode='ENABLED')
    eq('GET ChecksumMode=ENABLED', cs, g.get('ChecksumSHA256'))
    g['Body'].read()
    r = raw('PUT', qpath(b, 'k2'), body=body, headers={'x-amz-checksum-sha256': 'bad'})
    check(r.status == 400 and r.code() == 'InvalidRequest', 'x-amz-checksum-sha256: bad',
          '400 InvalidRequest (s3-tests)', repr(r))
    wrong = base64.b64encode(hashlib.sha256(b'other').digest()).decode()
    r = raw('PUT', qpath(b, 'k3'), body=body, headers={'x-amz-checksum-sha256': wrong})
    check(r.status == 400 and r.code() == 'BadDigest', 'x-amz-checksum-sha256 wrong',
          '400 BadDigest', repr(r))


# ---------------------------------------------------------------------------
# copy
# ---------------------------------------------------------------------------

def copy(b, src, dst, srcb=None, **kw):
    return S3.copy_object(Bucket=b, Key=dst, CopySource={'Bucket': srcb or b, 'Key': src}, **kw)


@case
def object_copy_same_bucket():
    b = new_bucket()
    put(b, 'foo123bar', b'foo')
    r = copy(b, 'foo123bar', 'bar321foo')
    eq('copied body', b'foo', S3.get_object(Bucket=b, Key='bar321foo')['Body'].read())
    eq('CopyObjectResult ETag', '"%s"' % md5hex(b'foo'), r['CopyObjectResult']['ETag'])


@case
def object_copy_result_xml():
    b = new_bucket()
    put(b, 'src', b'foo')
    r = raw('PUT', qpath(b, 'dst'), headers={'x-amz-copy-source': '/%s/src' % b})
    x = r.xml()
    eq('status', 200, r.status)
    eq('root', 'CopyObjectResult', x.tag if x is not None else None)
    eq('ETag', '"%s"' % md5hex(b'foo'), xt(x, 'ETag'))
    check(isotime_ok(xt(x, 'LastModified')), 'LastModified', 'ISO 8601 .sssZ', xt(x, 'LastModified'))
    r = raw('PUT', qpath(b, 'dst2'), headers={'x-amz-copy-source': '%s/src' % b})
    eq('copy source without leading slash', 200, r.status)
    r = raw('PUT', qpath(b, 'dst3'), headers={'x-amz-copy-source': '%s/src?versionId=null' % b})
    eq('copy source ?versionId=null', 200, r.status)


@case
def object_copy_verify_contenttype():
    b = new_bucket()
    put(b, 'foo', b'bar', ContentType='text/bla')
    copy(b, 'foo', 'bar')
    eq('copied Content-Type', 'text/bla', S3.get_object(Bucket=b, Key='bar')['ContentType'])


@case
def object_copy_to_itself():
    b = new_bucket()
    put(b, 'foo', b'bar')
    e = expect_error('copy onto itself (COPY)', copy, 400, 'InvalidRequest', b=b, src='foo', dst='foo')
    r = copy(b, 'foo', 'foo', MetadataDirective='REPLACE', Metadata={'foo': 'bar'})
    eq('copy onto itself with REPLACE', {'foo': 'bar'}, S3.head_object(Bucket=b, Key='foo')['Metadata'])
    eq('body kept', b'bar', S3.get_object(Bucket=b, Key='foo')['Body'].read())


@case
def object_copy_to_itself_storage_class_unsure():
    b = new_bucket()
    put(b, 'foo', b'bar')
    r = raw('PUT', qpath(b, 'foo'), headers={'x-amz-copy-source': '/%s/foo' % b,
                                             'x-amz-storage-class': 'STANDARD'})
    check(r.status in (200, 400), 'copy onto itself changing storage class to STANDARD',
          '200 (storage class change allowed)', repr(r))


@case
def object_copy_diff_bucket():
    b1 = new_bucket()
    b2 = new_bucket()
    put(b1, 'foo123bar', b'foo')
    copy(b2, 'foo123bar', 'bar321foo', srcb=b1)
    eq('copied across buckets', b'foo', S3.get_object(Bucket=b2, Key='bar321foo')['Body'].read())


@case
def object_copy_retaining_metadata():
    b = new_bucket()
    exp = datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc)
    put(b, 'foo', b'x' * 100, ContentType='audio/ogg', Metadata={'key1': 'value1', 'key2': 'value2'},
        CacheControl='no-store', ContentDisposition='inline', ContentLanguage='fr',
        ContentEncoding='gzip', Expires=exp)
    copy(b, 'foo', 'bar', Metadata={'ignored': 'yes'})
    g = S3.get_object(Bucket=b, Key='bar')
    eq('Content-Type', 'audio/ogg', g['ContentType'])
    eq('Metadata (COPY ignores given)', {'key1': 'value1', 'key2': 'value2'}, g['Metadata'])
    eq('ContentLength', 100, g['ContentLength'])
    eq('Cache-Control', 'no-store', g.get('CacheControl'))
    eq('Content-Disposition', 'inline', g.get('ContentDisposition'))
    eq('Content-Language', 'fr', g.get('ContentLanguage'))
    eq('Content-Encoding', 'gzip', g.get('ContentEncoding'))
    eq('Expires', exp, g.get('Expires'))


@case
def object_copy_replacing_metadata():
    b = new_bucket()
    put(b, 'foo', b'x' * 10, ContentType='audio/ogg', Metadata={'key1': 'value1'},
        CacheControl='no-store')
    copy(b, 'foo', 'bar', MetadataDirective='REPLACE', ContentType='audio/mpeg',
         Metadata={'key3': 'value3'})
    g = S3.get_object(Bucket=b, Key='bar')
    eq('Content-Type', 'audio/mpeg', g['ContentType'])
    eq('Metadata', {'key3': 'value3'}, g['Metadata'])
    eq('Cache-Control dropped on REPLACE', None, g.get('CacheControl'))
    copy(b, 'foo', 'baz', MetadataDirective='REPLACE')
    eq('REPLACE without Content-Type', 'binary/octet-stream',
       S3.head_object(Bucket=b, Key='baz')['ContentType'])


@case
def object_copy_bucket_not_found():
    b = new_bucket()
    missing = new_bucket(create=False)
    expect_error('copy from missing bucket', copy, 404, 'NoSuchBucket', b=b, src='foo', dst='bar',
                 srcb=missing)
    put(b, 'foo', b'x')
    expect_error('copy into missing bucket', S3.copy_object, 404, 'NoSuchBucket', Bucket=missing,
                 Key='bar', CopySource={'Bucket': b, 'Key': 'foo'})


@case
def object_copy_bad_args():
    b = new_bucket()
    put(b, 'foo', b'x')
    r = raw('PUT', qpath(b, 'bar'), headers={'x-amz-copy-source': '/%s/foo' % b,
                                             'x-amz-metadata-directive': 'FOO'})
    check(r.status == 400 and r.code() == 'InvalidArgument', 'x-amz-metadata-directive: FOO',
          '400 InvalidArgument', repr(r))
    r = raw('PUT', qpath(b, 'bar'), headers={'x-amz-copy-source': b})
    check(r.status == 400 and r.code() == 'InvalidArgument', 'x-amz-copy-source: bucket only',
          '400 InvalidArgument', repr(r))
    r = raw('PUT', qpath(b, 'bar'), headers={'x-amz-copy-source': '/%s/foo' % b}, body=b'data')
    check(r.status == 400, 'CopyObject with a request body', '400 InvalidRequest', repr(r))


@case
def object_copy_special_keys():
    b = new_bucket()
    for k in ['a b', 'a+b', '%', 'ü', '?versionId', 'x&y']:
        put(b, k, k.encode())
        try:
            copy(b, k, 'dst/' + k)
            eq('copy of %r' % k, k.encode(), S3.get_object(Bucket=b, Key='dst/' + k)['Body'].read())
        except ClientError as e:
            check(False, 'copy of %r' % k, 'success', err(e))


@case
def copy_object_conditional_combo_unsure():
    """if-none-match true + if-modified-since false: S3's docs name only the other combos."""
    b = new_bucket()
    put(b, 'foo', b'bar')
    lm, _ = last_modified_ts(b, 'foo')
    r = raw('PUT', qpath(b, 'dst'), headers={'x-amz-copy-source': '/%s/foo' % b,
                                             'x-amz-copy-source-if-none-match': '"zz"',
                                             'x-amz-copy-source-if-modified-since': httpdate(lm + 86400)})
    eq('CopyObject if-none-match true + if-modified-since false', 412, r.status)


@case
def object_copy_zero_size_variants():
    b = new_bucket()
    put(b, 'zero', b'')
    for what, key, hs in [('COPY', 'z1', {}), ('REPLACE', 'z2', {'x-amz-metadata-directive': 'REPLACE'}),
                          ('onto itself REPLACE', 'zero', {'x-amz-metadata-directive': 'REPLACE'})]:
        h = dict(hs)
        h['x-amz-copy-source'] = '/%s/zero' % b
        r = raw('PUT', qpath(b, key), headers=h)
        check(r.status == 200, 'CopyObject of a 0-byte object (%s)' % what, '200', repr(r))
    uid = mpu(b, 'm')
    try:
        r = S3.upload_part_copy(Bucket=b, Key='m', UploadId=uid, PartNumber=1,
                                CopySource={'Bucket': b, 'Key': 'zero'})
        eq('UploadPartCopy of a 0-byte object ETag', '"d41d8cd98f00b204e9800998ecf8427e"',
           r['CopyPartResult']['ETag'])
    except ClientError as e:
        check(False, 'UploadPartCopy of a 0-byte object', 'success', '%s %s' % err(e))


@case
def multipart_single_empty_part():
    b = new_bucket()
    uid = mpu(b, 'm')
    e1 = upart(b, 'm', uid, 1, b'')
    try:
        r = complete(b, 'm', uid, [(1, e1)])
        eq('ETag', mpu_etag([b'']), r['ETag'])
        eq('size', 0, S3.head_object(Bucket=b, Key='m')['ContentLength'])
    except ClientError as e:
        check(False, 'Complete with one empty part', '200, a 0-byte object', '%s %s' % err(e))
    uid = mpu(b, 'm2')
    e1 = upart(b, 'm2', uid, 1, b'x' * (5 * MIB))
    e2 = upart(b, 'm2', uid, 2, b'')
    try:
        complete(b, 'm2', uid, [(1, e1), (2, e2)])
        eq('size with an empty last part', 5 * MIB, S3.head_object(Bucket=b, Key='m2')['ContentLength'])
    except ClientError as e:
        check(False, 'Complete with an empty last part', '200', '%s %s' % err(e))


@case
def copy_object_conditionals():
    b = new_bucket()
    etag = put(b, 'foo', b'bar')['ETag']
    lm, _ = last_modified_ts(b, 'foo')
    past, future = httpdate(lm - 86400), httpdate(lm + 86400)
    cases = [
        ('if-match good', {'x-amz-copy-source-if-match': etag}, 200),
        ('if-match failed', {'x-amz-copy-source-if-match': '"ABCORZ"'}, 412),
        ('if-none-match good (differs)', {'x-amz-copy-source-if-none-match': '"ABCORZ"'}, 200),
        ('if-none-match failed (matches)', {'x-amz-copy-source-if-none-match': etag}, 412),
        ('if-modified-since future', {'x-amz-copy-source-if-modified-since': future}, 412),
        ('if-unmodified-since past', {'x-amz-copy-source-if-unmodified-since': past}, 412),
        ('if-match true + if-unmodified-since false',
         {'x-amz-copy-source-if-match': etag, 'x-amz-copy-source-if-unmodified-since': past}, 200),
        ('if-none-match false + if-modified-since true',
         {'x-amz-copy-source-if-none-match': etag, 'x-amz-copy-source-if-modified-since': past}, 412),
    ]
    for i, (what, hs, st) in enumerate(cases):
        h = dict(hs)
        h['x-amz-copy-source'] = '/%s/foo' % b
        r = raw('PUT', qpath(b, 'dst%d' % i), headers=h)
        if check(r.status == st, 'CopyObject %s' % what, str(st), repr(r)) and st == 412:
            eq('%s Code' % what, 'PreconditionFailed', r.code())


# ---------------------------------------------------------------------------
# multipart
# ---------------------------------------------------------------------------

def mpu(b, k, **kw):
    return S3.create_multipart_upload(Bucket=b, Key=k, **kw)['UploadId']


def upart(b, k, uid, n, body):
    return S3.upload_part(Bucket=b, Key=k, UploadId=uid, PartNumber=n, Body=body)['ETag']


def complete(b, k, uid, parts):
    return S3.complete_multipart_upload(Bucket=b, Key=k, UploadId=uid, MultipartUpload={
        'Parts': [{'PartNumber': n, 'ETag': e} for n, e in parts]})


def mpu_etag(parts):
    return '"%s-%d"' % (hashlib.md5(b''.join(hashlib.md5(p).digest() for p in parts)).hexdigest(),
                        len(parts))


@case
def multipart_upload_empty():
    b = new_bucket()
    uid = mpu(b, 'mymultipart')
    expect_error('Complete with no parts', S3.complete_multipart_upload, 400, 'MalformedXML',
                 Bucket=b, Key='mymultipart', UploadId=uid, MultipartUpload={'Parts': []})
    body = b'<CompleteMultipartUpload></CompleteMultipartUpload>'
    r = raw('POST', qpath(b, 'mymultipart'), [('uploadId', uid)], body=body)
    check(r.status == 400 and r.code() == 'MalformedXML', 'Complete raw empty',
          '400 MalformedXML', repr(r))
    r = raw('POST', qpath(b, 'mymultipart'), [('uploadId', uid)], body=b'')
    check(r.status == 400 and r.code() == 'MalformedXML', 'Complete without a body',
          '400 MalformedXML', repr(r))


@case
def multipart_upload_small():
    b = new_bucket()
    uid = mpu(b, 'foo', ContentType='text/x', Metadata={'m': 'v'})
    e1 = upart(b, 'foo', uid, 1, b'a')
    r = complete(b, 'foo', uid, [(1, e1)])
    eq('ETag', mpu_etag([b'a']), r['ETag'])
    eq('Bucket', b, r.get('Bucket'))
    eq('Key', 'foo', r.get('Key'))
    check(r.get('Location'), 'Location', 'present', r)
    h = S3.head_object(Bucket=b, Key='foo')
    eq('HEAD ETag', mpu_etag([b'a']), h['ETag'])
    eq('HEAD ContentType', 'text/x', h['ContentType'])
    eq('HEAD Metadata', {'m': 'v'}, h['Metadata'])
    eq('listing ETag', mpu_etag([b'a']), S3.list_objects_v2(Bucket=b)['Contents'][0]['ETag'])


@case
def multipart_upload_response_xml():
    b = new_bucket()
    r = raw('POST', qpath(b, 'k'), [('uploads', None)])
    x = r.xml()
    eq('Initiate root', 'InitiateMultipartUploadResult', x.tag if x is not None else None)
    eq('Initiate Bucket', b, xt(x, 'Bucket'))
    eq('Initiate Key', 'k', xt(x, 'Key'))
    uid = xt(x, 'UploadId')
    r = raw('PUT', qpath(b, 'k'), [('partNumber', '1'), ('uploadId', uid)], body=b'abc')
    eq('UploadPart ETag', '"%s"' % md5hex(b'abc'), r.h('etag'))
    eq('UploadPart body', b'', r.body)
    body = ('<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>%s</ETag></Part>'
            '</CompleteMultipartUpload>' % md5hex(b'abc')).encode()
    r = raw('POST', qpath(b, 'k'), [('uploadId', uid)], body=body)
    x = r.xml()
    eq('Complete (unquoted ETag) status', 200, r.status)
    eq('Complete root', 'CompleteMultipartUploadResult', x.tag if x is not None else None)
    eq('Complete ETag', mpu_etag([b'abc']), xt(x, 'ETag'))
    r = raw('DELETE', qpath(b, 'k2'), [('uploadId', mpu(b, 'k2'))])
    eq('Abort status', 204, r.status)


@case
def multipart_part_number_bounds():
    b = new_bucket()
    uid = mpu(b, 'k')
    for n in ('0', '10001', '-1', 'abc'):
        r = raw('PUT', qpath(b, 'k'), [('partNumber', n), ('uploadId', uid)], body=b'x')
        check(r.status == 400 and r.code() == 'InvalidArgument', 'UploadPart partNumber=%s' % n,
              '400 InvalidArgument', repr(r))
    r = raw('PUT', qpath(b, 'k'), [('partNumber', '10000'), ('uploadId', uid)], body=b'x')
    eq('UploadPart partNumber=10000', 200, r.status)


@case
def multipart_upload_bad_part_order():
    b = new_bucket()
    uid = mpu(b, 'k')
    e1 = upart(b, 'k', uid, 1, b'a' * 10)
    e2 = upart(b, 'k', uid, 2, b'b' * 10)
    expect_error('Complete parts 2,1', complete, 400, 'InvalidPartOrder', b=b, k='k', uid=uid,
                 parts=[(2, e2), (1, e1)])
    expect_error('Complete part 1 twice', complete, 400, 'InvalidPartOrder', b=b, k='k', uid=uid,
                 parts=[(1, e1), (1, e1)])


@case
def multipart_upload_missing_part():
    b = new_bucket()
    uid = mpu(b, 'k')
    upart(b, 'k', uid, 1, b'a')
    expect_error('Complete with part 9999 never uploaded', complete, 400, 'InvalidPart', b=b, k='k',
                 uid=uid, parts=[(9999, '"%s"' % md5hex(b'a'))])


@case
def multipart_upload_size_too_small():
    b = new_bucket()
    uid = mpu(b, 'k')
    parts = [(n, upart(b, 'k', uid, n, b'x' * 100 * 1024)) for n in (1, 2, 3)]
    e = expect_error('Complete with 100 KiB parts', complete, 400, 'EntityTooSmall', b=b, k='k',
                     uid=uid, parts=parts)
    if e is not None:
        x = e.response.get('Error', {})
        check(x.get('ProposedSize') and x.get('MinSizeAllowed') and x.get('PartNumber'),
              'EntityTooSmall fields', 'ProposedSize MinSizeAllowed PartNumber ETag', x)
    r = S3.list_parts(Bucket=b, Key='k', UploadId=uid)
    eq('upload still there after EntityTooSmall', 3, len(r.get('Parts', [])))


@case
def multipart_upload_resend_part_and_subset():
    b = new_bucket()
    uid = mpu(b, 'k')
    p1 = b'1' * (5 * MIB)
    upart(b, 'k', uid, 1, b'old' * 10)
    e1 = upart(b, 'k', uid, 1, p1)
    e2 = upart(b, 'k', uid, 2, b'two')
    e3 = upart(b, 'k', uid, 3, b'three')
    r = S3.list_parts(Bucket=b, Key='k', UploadId=uid)
    eq('ListParts sizes', [5 * MIB, 3, 5], [p['Size'] for p in r['Parts']])
    r = complete(b, 'k', uid, [(1, e1), (3, e3)])
    eq('ETag of parts 1,3', mpu_etag([p1, b'three']), r['ETag'])
    g = S3.get_object(Bucket=b, Key='k')
    body = g['Body'].read()
    eq('size', 5 * MIB + 5, len(body))
    eq('tail', b'three', body[-5:])
    # GetObject partNumber
    r = raw('GET', qpath(b, 'k'), [('partNumber', '2')])
    eq('GET partNumber=2 status', 206, r.status)
    eq('GET partNumber=2 body', b'three', r.body)
    eq('GET partNumber=2 Content-Range', 'bytes %d-%d/%d' % (5 * MIB, 5 * MIB + 4, 5 * MIB + 5),
       r.h('content-range'))
    eq('x-amz-mp-parts-count', '2', r.h('x-amz-mp-parts-count'))
    r = raw('HEAD', qpath(b, 'k'), [('partNumber', '1')])
    eq('HEAD partNumber=1', (206, str(5 * MIB)), (r.status, r.h('content-length')))
    eq('HEAD partNumber=1 parts count', '2', r.h('x-amz-mp-parts-count'))
    r = raw('GET', qpath(b, 'k'), [('partNumber', '3')])
    check(r.status in (416, 400) and r.code() in ('InvalidPartNumber', 'InvalidPart'),
          'GET partNumber=3 of 2', '416 InvalidPartNumber (s3-tests: 400 InvalidPart)', repr(r))
    r = raw('GET', qpath(b, 'k'), [('partNumber', '1')], headers={'Range': 'bytes=0-1'})
    check(r.status == 400, 'GET partNumber with Range', '400 InvalidRequest', repr(r))


@case
def non_multipart_get_part():
    b = new_bucket()
    etag = put(b, 'k', b'abcdef')['ETag']
    r = raw('GET', qpath(b, 'k'), [('partNumber', '1')])
    check(r.status in (200, 206) and r.body == b'abcdef', 'GET partNumber=1 of a plain object',
          '206 whole object', repr(r))
    eq('ETag', etag, r.h('etag'))
    r = raw('GET', qpath(b, 'k'), [('partNumber', '2')])
    check(r.status in (416, 400) and r.code() in ('InvalidPartNumber', 'InvalidPart'),
          'GET partNumber=2 of a plain object', '416 InvalidPartNumber (s3-tests: 400 InvalidPart)',
          repr(r))


@case
def multipart_abort():
    b = new_bucket()
    uid = mpu(b, 'k')
    upart(b, 'k', uid, 1, b'a')
    S3.abort_multipart_upload(Bucket=b, Key='k', UploadId=uid)
    eq('ListMultipartUploads after abort', [], S3.list_multipart_uploads(Bucket=b).get('Uploads', []))
    eq('no object', [], keys_of(S3.list_objects_v2(Bucket=b)))
    expect_error('Complete after abort', complete, 404, 'NoSuchUpload', b=b, k='k', uid=uid,
                 parts=[(1, '"%s"' % md5hex(b'a'))])
    expect_error('ListParts after abort', S3.list_parts, 404, 'NoSuchUpload', Bucket=b, Key='k',
                 UploadId=uid)
    expect_error('Abort unknown upload', S3.abort_multipart_upload, 404, 'NoSuchUpload', Bucket=b,
                 Key='k', UploadId='nonexistent-upload-id')
    uid2 = mpu(b, 'k2')
    expect_error('Abort with the wrong key', S3.abort_multipart_upload, 404, 'NoSuchUpload', Bucket=b,
                 Key='other', UploadId=uid2)
    expect_error('UploadPart with the wrong key', S3.upload_part, 404, 'NoSuchUpload', Bucket=b,
                 Key='other', UploadId=uid2, PartNumber=1, Body=b'x')


@case
def multipart_list_parts_paging():
    b = new_bucket()
    uid = mpu(b, 'k')
    for n in (1, 2, 3, 5):
        upart(b, 'k', uid, n, b'p%d' % n)
    r = S3.list_parts(Bucket=b, Key='k', UploadId=uid, MaxParts=2)
    eq('page1 parts', [1, 2], [p['PartNumber'] for p in r['Parts']])
    eq('page1 IsTruncated', True, r['IsTruncated'])
    eq('NextPartNumberMarker', 2, r.get('NextPartNumberMarker'))
    eq('MaxParts', 2, r.get('MaxParts'))
    p = r['Parts'][0]
    eq('part ETag', '"%s"' % md5hex(b'p1'), p['ETag'])
    eq('part Size', 2, p['Size'])
    check(p.get('LastModified'), 'part LastModified', 'present', p)
    check(r.get('Initiator', {}).get('ID') and r.get('Owner', {}).get('ID'), 'Initiator/Owner',
          'present', {k: r.get(k) for k in ('Initiator', 'Owner')})
    eq('StorageClass', 'STANDARD', r.get('StorageClass'))
    r = S3.list_parts(Bucket=b, Key='k', UploadId=uid, MaxParts=2, PartNumberMarker=2)
    eq('page2 parts', [3, 5], [p['PartNumber'] for p in r['Parts']])
    eq('page2 IsTruncated', False, r['IsTruncated'])
    eq('PartNumberMarker echoed', 2, r.get('PartNumberMarker'))
    rr = raw('GET', qpath(b, 'k'), [('uploadId', uid)])
    x = rr.xml()
    eq('default MaxParts', '1000', xt(x, 'MaxParts'))
    eq('ListParts Bucket/Key/UploadId', (b, 'k', uid), (xt(x, 'Bucket'), xt(x, 'Key'), xt(x, 'UploadId')))
    expect_error('ListParts unknown upload', S3.list_parts, 404, 'NoSuchUpload', Bucket=b, Key='k',
                 UploadId='bogus')


@case
def multipart_list_uploads():
    b = new_bucket()
    u = {}
    for k in ('a/1', 'a/2', 'b', 'c'):
        u[k] = mpu(b, k)
    u2 = mpu(b, 'b')
    r = S3.list_multipart_uploads(Bucket=b)
    eq('all uploads', 5, len(r.get('Uploads', [])))
    eq('MaxUploads default', 1000, r.get('MaxUploads'))
    r = S3.list_multipart_uploads(Bucket=b, Prefix='a/')
    eq('Prefix a/', ['a/1', 'a/2'], sorted(x['Key'] for x in r.get('Uploads', [])))


@case
def multipart_list_uploads_order():
    """S3 lists uploads by key, then initiation time (mkv documents upload-id order)."""
    b = new_bucket()
    for k in ('d', 'a/1', 'c', 'a/2', 'b'):
        mpu(b, k)
    r = S3.list_multipart_uploads(Bucket=b)
    eq('keys sorted', ['a/1', 'a/2', 'b', 'c', 'd'], [x['Key'] for x in r['Uploads']])


@case
def multipart_list_uploads_fields():
    b = new_bucket()
    mpu(b, 'k')
    r = S3.list_multipart_uploads(Bucket=b, KeyMarker='', Prefix='')
    x0 = r['Uploads'][0]
    check(x0.get('Initiator', {}).get('ID') and x0.get('Owner', {}).get('ID') and x0.get('Initiated')
          and x0.get('StorageClass') == 'STANDARD', 'Upload fields',
          'Initiator Owner Initiated StorageClass', x0)
    rr = raw('GET', '/' + b, [('uploads', None), ('max-uploads', 'abc')])
    check(rr.status == 400 and rr.code() == 'InvalidArgument', 'max-uploads=abc',
          '400 InvalidArgument', repr(rr))


@case
def multipart_list_uploads_paging():
    b = new_bucket()
    u = {}
    for k in ('a/1', 'a/2', 'b', 'c'):
        u[k] = mpu(b, k)
    u2 = mpu(b, 'b')
    r = S3.list_multipart_uploads(Bucket=b, Delimiter='/')
    eq('Delimiter / uploads', ['b', 'b', 'c'], [x['Key'] for x in r.get('Uploads', [])])
    eq('Delimiter / prefixes', ['a/'], prefixes_of(r))
    r = S3.list_multipart_uploads(Bucket=b, KeyMarker='b')
    eq('KeyMarker b', ['c'], [x['Key'] for x in r.get('Uploads', [])])
    r = S3.list_multipart_uploads(Bucket=b, MaxUploads=2)
    eq('MaxUploads 2', ['a/1', 'a/2'], [x['Key'] for x in r.get('Uploads', [])])
    eq('truncated', True, r['IsTruncated'])
    eq('NextKeyMarker', 'a/2', r.get('NextKeyMarker'))
    eq('NextUploadIdMarker', u['a/2'], r.get('NextUploadIdMarker'))
    r = S3.list_multipart_uploads(Bucket=b, MaxUploads=1, KeyMarker='b',
                                  UploadIdMarker=sorted([u['b'], u2])[0])
    first = [(x['Key'], x['UploadId']) for x in r.get('Uploads', [])]
    eq('KeyMarker b + UploadIdMarker (first of b)', [('b', sorted([u['b'], u2])[1])], first)
    rr = raw('GET', '/' + b, [('uploads', None), ('encoding-type', 'url'), ('prefix', 'a/')])
    x = rr.xml()
    eq('encoding-type=url accepted', 200, rr.status)
    eq('Bucket element', b, xt(x, 'Bucket'))


@case
def multipart_copy_small_and_ranges():
    b = new_bucket()
    put(b, 'src', b'0123456789')
    uid = mpu(b, 'dst')
    r = S3.upload_part_copy(Bucket=b, Key='dst', UploadId=uid, PartNumber=1,
                            CopySource={'Bucket': b, 'Key': 'src'}, CopySourceRange='bytes=2-5')
    e1 = r['CopyPartResult']['ETag']
    eq('CopyPartResult ETag', '"%s"' % md5hex(b'2345'), e1)
    check(r['CopyPartResult'].get('LastModified'), 'CopyPartResult LastModified', 'present', r)
    complete(b, 'dst', uid, [(1, e1)])
    eq('content', b'2345', S3.get_object(Bucket=b, Key='dst')['Body'].read())
    uid = mpu(b, 'dst2')
    r = S3.upload_part_copy(Bucket=b, Key='dst2', UploadId=uid, PartNumber=1,
                            CopySource={'Bucket': b, 'Key': 'src'})
    complete(b, 'dst2', uid, [(1, r['CopyPartResult']['ETag'])])
    eq('copy without range', 10, S3.head_object(Bucket=b, Key='dst2')['ContentLength'])


@case
def multipart_copy_invalid_range():
    b = new_bucket()
    put(b, 'src', b'01234')
    uid = mpu(b, 'dst')
    expect_error('UploadPartCopy bytes=0-21 of 5 bytes', S3.upload_part_copy, (400, 416),
                 'InvalidRange', Bucket=b, Key='dst', UploadId=uid, PartNumber=1,
                 CopySource={'Bucket': b, 'Key': 'src'}, CopySourceRange='bytes=0-21')


@case
def multipart_copy_improper_range():
    b = new_bucket()
    put(b, 'src', b'01234')
    uid = mpu(b, 'dst')
    for rng in ['0-2', 'bytes=0', 'bytes=hello-world', 'bytes=0-bar', 'bytes=hello-', 'bytes=0-2,3-5']:
        expect_error('UploadPartCopy range %r' % rng, S3.upload_part_copy, 400, 'InvalidArgument',
                     Bucket=b, Key='dst', UploadId=uid, PartNumber=1,
                     CopySource={'Bucket': b, 'Key': 'src'}, CopySourceRange=rng)


@case
def multipart_copy_special_names():
    b = new_bucket()
    for k in (' ', '_', '__', '?versionId'):
        put(b, k, b'abc')
        uid = mpu(b, 'dst')
        try:
            r = S3.upload_part_copy(Bucket=b, Key='dst', UploadId=uid, PartNumber=1,
                                    CopySource={'Bucket': b, 'Key': k}, CopySourceRange='bytes=0-1')
            complete(b, 'dst', uid, [(1, r['CopyPartResult']['ETag'])])
            eq('copied part of %r' % k, b'ab', S3.get_object(Bucket=b, Key='dst')['Body'].read())
        except ClientError as e:
            check(False, 'UploadPartCopy from %r' % k, 'success', err(e))


@case
def multipart_copy_missing_source():
    b = new_bucket()
    uid = mpu(b, 'dst')
    expect_error('UploadPartCopy of a missing key', S3.upload_part_copy, 404, 'NoSuchKey', Bucket=b,
                 Key='dst', UploadId=uid, PartNumber=1, CopySource={'Bucket': b, 'Key': 'nope'})
    put(b, 'src', b'abc')
    expect_error('UploadPartCopy to unknown upload', S3.upload_part_copy, 404, 'NoSuchUpload',
                 Bucket=b, Key='dst', UploadId='bogus', PartNumber=1,
                 CopySource={'Bucket': b, 'Key': 'src'})
    r = raw('PUT', qpath(b, 'dst'), [('partNumber', '1'), ('uploadId', uid)],
            headers={'x-amz-copy-source': '/%s/src' % b, 'x-amz-copy-source-if-match': '"nope"'})
    check(r.status == 412 and r.code() == 'PreconditionFailed', 'UploadPartCopy if-match failed',
          '412 PreconditionFailed', repr(r))


@case
def multipart_checksum_sha256_unsure():
    b = new_bucket()
    body = b'partdata'
    cs = base64.b64encode(hashlib.sha256(body).digest()).decode()
    try:
        uid = S3.create_multipart_upload(Bucket=b, Key='k', ChecksumAlgorithm='SHA256')['UploadId']
        r = S3.upload_part(Bucket=b, Key='k', UploadId=uid, PartNumber=1, Body=body,
                           ChecksumAlgorithm='SHA256')
        eq('UploadPart ChecksumSHA256', cs, r.get('ChecksumSHA256'))
        r2 = S3.complete_multipart_upload(Bucket=b, Key='k', UploadId=uid, MultipartUpload={
            'Parts': [{'PartNumber': 1, 'ETag': r['ETag'], 'ChecksumSHA256': cs}]})
        comp = base64.b64encode(hashlib.sha256(hashlib.sha256(body).digest()).digest()).decode()
        eq('Complete ChecksumSHA256 (composite)', comp + '-1', r2.get('ChecksumSHA256'))
    except ClientError as e:
        check(False, 'multipart with ChecksumAlgorithm=SHA256', 'success', err(e))


@case
def multipart_overwrite_and_metadata_of_upload():
    b = new_bucket()
    put(b, 'k', b'old', Metadata={'old': '1'})
    uid = mpu(b, 'k', CacheControl='max-age=1', Metadata={'new': '2'})
    complete(b, 'k', uid, [(1, upart(b, 'k', uid, 1, b'new'))])
    g = S3.get_object(Bucket=b, Key='k')
    eq('body', b'new', g['Body'].read())
    eq('Metadata', {'new': '2'}, g['Metadata'])
    eq('CacheControl', 'max-age=1', g.get('CacheControl'))


@case
def multipart_complete_twice_unsure():
    b = new_bucket()
    uid = mpu(b, 'k')
    e1 = upart(b, 'k', uid, 1, b'a')
    complete(b, 'k', uid, [(1, e1)])
    try:
        r = complete(b, 'k', uid, [(1, e1)])
        eq('second Complete ETag', mpu_etag([b'a']), r.get('ETag'))
    except ClientError as e:
        check(err(e) == (404, 'NoSuchUpload'), 'second Complete', '200 same result or 404 NoSuchUpload',
              err(e))


@case
def multipart_create_in_missing_bucket():
    b = new_bucket(create=False)
    expect_error('CreateMultipartUpload in missing bucket', S3.create_multipart_upload, 404,
                 'NoSuchBucket', Bucket=b, Key='k')
    expect_error('ListMultipartUploads in missing bucket', S3.list_multipart_uploads, 404,
                 'NoSuchBucket', Bucket=b)


@case
def multipart_upload_part_bad_md5():
    b = new_bucket()
    uid = mpu(b, 'k')
    r = raw('PUT', qpath(b, 'k'), [('partNumber', '1'), ('uploadId', uid)], body=b'abc',
            headers={'Content-MD5': 'YWJj'})
    check(r.status == 400 and r.code() == 'InvalidDigest', 'UploadPart malformed Content-MD5',
          '400 InvalidDigest', repr(r))


# ---------------------------------------------------------------------------
# misc protocol
# ---------------------------------------------------------------------------

@case
def method_not_allowed_on_root():
    r = raw('PUT', '/')
    check(r.status in (405, 400) and r.code() in ('MethodNotAllowed', 'InvalidRequest'),
          'PUT /', '405 MethodNotAllowed', repr(r))
    r = raw('PATCH', '/' + 'conf-nothere')
    check(r.status in (405, 501) and r.code() is not None, 'PATCH /bucket',
          '405 MethodNotAllowed / 501 (S3 XML)', repr(r))


@case
def keep_alive_after_errors():
    """HTTP/1.1 keep-alive: a connection survives an error and a HEAD."""
    b = new_bucket()
    put(b, 'foo', b'bar')
    conn = http.client.HTTPConnection(U.hostname, U.port, timeout=15)
    try:
        for method, path in [('HEAD', qpath(b, 'missing')), ('GET', qpath(b, 'missing')),
                             ('HEAD', qpath(b, 'foo')), ('GET', qpath(b, 'foo'))]:
            hs = {'X-Amz-Content-Sha256': sha256hex(b'')}
            sign(method, path, [], hs, sha256hex(b''))
            conn.request(method, path, headers=hs)
            r = conn.getresponse()
            data = r.read()
        eq('last GET on a reused connection', (200, b'bar'), (r.status, data))
    except Exception as e:  # noqa: BLE001
        check(False, 'keep-alive sequence', 'works', repr(e))
    finally:
        conn.close()


# ---------------------------------------------------------------------------

def main():
    global S3, C
    S3 = client()
    sel = sys.argv[1:]
    passed = failed = 0
    for fn in CASES:
        name = fn.__name__
        if sel and not any(s in name for s in sel):
            continue
        C = Ctx(name)
        try:
            fn()
        except ClientError as e:
            C.problems.append('unexpected error %s %s (%s)' % (
                err(e) + (e.response.get('Error', {}).get('Message'),)))
        except Exception as e:  # noqa: BLE001
            C.problems.append('exception %r at %s' % (
                e, traceback.extract_tb(e.__traceback__)[-1][1:3]))
        for b in C.buckets:
            cleanup_bucket(b)
        if C.problems:
            failed += 1
            # (a problem names what it got: bodies of megabytes, cut short)
            print('FAIL %s: %s' % (name, ' | '.join(p[:600] for p in C.problems)))
        else:
            passed += 1
            print('ok %s' % name)
        sys.stdout.flush()
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
