"""Hostile input: a table of malformed and hostile requests sent over raw
sockets (every byte goes out exactly as written, nothing normalised by an
HTTP client library), then proof that nothing was harmed.

Each row is one request and what may answer it:

* `want`: the statuses the mkv worker must give, derived from fcgi/handlers.c,
  lib/keys.c, README.md ("Status codes", "Where mkv deliberately differs")
  and docs/compat.md §4, §8.1 and §9.  A worker error (4xx/5xx other than a
  plain 404) must carry a one-line text/plain reason; `why` is a substring
  that reason must contain when the row needs to tell two 400s apart.
* `front`: statuses the front web server may answer itself, per front
  (its own HTML page, or None: it closed the connection without an answer).
  nginx answers 400 itself for a URI with a bad escape, a %00 or a `..`
  above the root, 414/400 for a request line/header over
  large_client_header_buffers (8k), and 400 for lowercase methods;
  lighttpd answers 501 for methods it does not know (REBALANCE, FOO,
  lowercase), 431 when the header block exceeds server.max-request-field-size
  (8k, request line included) and 400 for a body on GET/HEAD.  No front may
  answer where the worker is expected, and the worker may never answer with a
  status that is not in `want`.

Keys are raw bytes (README: "Keys are the percent-decoded URL path";
lib/keys.c checks no UTF-8; the lighttpd front keeps the URL as sent): invalid
UTF-8, overlong UTF-8 encodings of '/' and '.', control bytes, CR LF, '\\',
'//' and %2F are therefore not errors.  The table PUTs such keys and the test
then checks they round-trip (GET through the redirect returns the value, the
listing shows them, Go-style, with U+FFFD for invalid bytes) and that nothing
else was stored.  %2F is an alias of '/' (the key is the decoded path), so
`..%2F` is a '..' segment and refused.

After the table: no worker died (supervisor and worker pids unchanged, front
pid unchanged, ?health answers), the index holds exactly the keys the table
created, and the volumes' disks hold exactly their replica files (walked
before and after); the created keys are then deleted and both are back to
where they started.  Prints
`  N malformed requests, N wrong answers, N crashes`.
"""

import base64
import hashlib
import json
import os
import secrets
import socket
import subprocess
import time
import urllib.parse

import harness
from harness import check, md5hex, own_cluster, show

LIVE_VALUE = b'the live fixture value'
KEY_MAX = 189  # lib/placement.h MKV_KEY_MAX


# ---------------------------------------------------------------------------
# raw HTTP
# ---------------------------------------------------------------------------

def build(method, target, headers=(), body=None, version=b'HTTP/1.1', host=True,
          close=True, length=True):
    """A request as bytes.  headers: raw header lines (bytes, no CRLF)."""
    line = method + b' ' + target + (b' ' + version if version else b'')
    lines = [line]
    if host:
        lines.append(b'Host: mkv-hostile')
    if close:
        lines.append(b'Connection: close')
    lines += list(headers)
    if body is not None and length:
        lines.append(b'Content-Length: %d' % len(body))
    return b'\r\n'.join(lines) + b'\r\n\r\n' + (body or b'')


class Resp:
    def __init__(self, status, reason, headers, body, error=None):
        self.status = status      # int, or None: no HTTP status line came back
        self.reason = reason
        self.headers = headers    # lowercased name -> value (joined with ', ')
        self.body = body
        self.error = error        # transport trouble (reset, timeout), or None

    def describe(self, limit=200):
        if self.status is None:
            return 'no HTTP answer (%s, %d bytes: %r)' % (
                self.error or 'closed', len(self.body), self.body[:limit])
        b = self.body[:limit]
        return 'status=%s headers=%r body=%r%s' % (
            self.status, self.headers, b, '...' if len(self.body) > limit else '')


def _dechunk(data):
    out = b''
    while True:
        line, sep, rest = data.partition(b'\r\n')
        if not sep:
            return out, False
        try:
            n = int(line.split(b';')[0].strip() or b'x', 16)
        except ValueError:
            return out, False
        if n == 0:
            return out, True
        if len(rest) < n + 2:
            return out, False
        out += rest[:n]
        data = rest[n + 2:]


def _parse(buf, head_request):
    """(Resp, complete) from the bytes received so far."""
    if not buf.startswith(b'HTTP/'):
        return Resp(None, '', {}, buf), False
    head, sep, rest = buf.partition(b'\r\n\r\n')
    if not sep:
        return Resp(None, '', {}, buf), False
    lines = head.split(b'\r\n')
    parts = lines[0].split(b' ', 2)
    try:
        status = int(parts[1])
    except (IndexError, ValueError):
        return Resp(None, '', {}, buf), False
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(b':')
        k = k.strip().lower().decode('latin-1')
        v = v.strip().decode('latin-1')
        hdrs[k] = hdrs[k] + ', ' + v if k in hdrs else v
    reason = parts[2].decode('latin-1') if len(parts) > 2 else ''
    if head_request or status in (204, 304) or 100 <= status < 200:
        return Resp(status, reason, hdrs, b''), True
    if 'chunked' in hdrs.get('transfer-encoding', '').lower():
        body, done = _dechunk(rest)
        return Resp(status, reason, hdrs, body), done
    if 'content-length' in hdrs:
        try:
            n = int(hdrs['content-length'])
        except ValueError:
            return Resp(status, reason, hdrs, rest), False
        return Resp(status, reason, hdrs, rest[:n]), len(rest) >= n
    return Resp(status, reason, hdrs, rest), False


def send_raw(host, port, data, shut=False, timeout=10.0):
    """Writes data on a fresh connection exactly as given (shut: then
    half-closes), reads one response (until its end, or EOF)."""
    head_request = data.startswith(b'HEAD ')
    s = socket.create_connection((host, port), timeout=timeout)
    buf = b''
    error = None
    try:
        try:
            s.sendall(data)
            if shut:
                s.shutdown(socket.SHUT_WR)
        except OSError as e:  # the front may answer and close before reading it all
            error = 'send: %s' % e
        deadline = time.time() + timeout
        while True:
            r, done = _parse(buf, head_request)
            if done:
                return r
            if time.time() > deadline:
                error = 'timeout'
                break
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                error = 'timeout'
                break
            except OSError as e:
                error = 'recv: %s' % e
                break
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    r, _done = _parse(buf, head_request)
    if r.status is None:
        r.error = error
    return r


# ---------------------------------------------------------------------------
# oracles
# ---------------------------------------------------------------------------

def key_verdict(key):
    """lib/keys.c key_check on decoded key bytes: 0 (storable), 400 or 414.
    Used to check the table's own keys, not to compute expectations."""
    if not key.startswith(b'/') or key == b'/':
        return 400
    if len(key) > KEY_MAX:
        return 414
    if any(seg in (b'.', b'..') for seg in key.split(b'/')[1:]):
        return 400
    if base64.b64encode(key).endswith(b'/'):
        return 400
    return 0


def go_json_string(b):
    """What Go's encoder (and the listing) makes of raw key bytes: valid UTF-8
    kept, each byte of an invalid sequence replaced by U+FFFD."""
    out, i = [], 0
    while i < len(b):
        c = b[i]
        n = 1 if c < 0x80 else 2 if c >> 5 == 6 else 3 if c >> 4 == 14 else 4 if c >> 3 == 30 else 0
        if n:
            try:
                out.append(b[i:i + n].decode('utf-8'))  # strict: rejects overlong, surrogates
                i += n
                continue
            except UnicodeDecodeError:
                pass
        out.append('\ufffd')
        i += 1
    return ''.join(out)


def esc(key):
    """Canonical request path of key bytes: everything but unreserved and '/'."""
    return urllib.parse.quote(key, safe='/').encode('ascii')


def b64_slash_key(prefix, last):
    """A key under prefix whose base64 name ends in '/' (len % 3 == 0 and the
    last byte's low 6 bits all set), as a request path."""
    fill = b'k'
    while (len(prefix) + 1 + len(fill) + 1) % 3:
        fill += b'k'
    key = prefix + b'/' + fill + bytes([last])
    assert base64.b64encode(key).endswith(b'/'), key
    return prefix + b'/' + fill + b'%%%02X' % last


# ---------------------------------------------------------------------------
# the table
# ---------------------------------------------------------------------------

class Row:
    def __init__(self, cat, data, want, front=None, why=None, shut=False, creates=None,
                 checker=None, xfail=None, allow=False, effect=None):
        self.cat = cat
        self.data = data
        self.want = tuple(want) if isinstance(want, (tuple, list, set)) else (want,)
        self.front = front or {}
        self.why = why
        self.shut = shut
        self.creates = creates      # (key bytes, value bytes) a 201 stores
        self.checker = checker      # extra check on the worker's answer -> problem or None
        self.xfail = xfail or {}    # front -> known bug description
        self.allow = allow          # the row expects an Allow header (405)
        self.effect = effect        # what the known bug does: ('creates', key, value) on a
                                    # 201 or ('deletes', key) on a 204, so the checks
                                    # after the table can account for it
        self.method = data.split(b' ', 1)[0]

    def label(self):
        first = self.data.split(b'\r\n', 1)[0]
        if len(first) > 110:
            first = first[:80] + b'...(%d bytes)...' % len(first) + first[-20:]
        extra = ''
        hdr = self.data.split(b'\r\n\r\n', 1)[0].split(b'\r\n')[1:]
        hdr = [h for h in hdr if not h.startswith((b'Host: mkv-hostile', b'Connection: close'))]
        if hdr:
            shown = b' | '.join(h if len(h) < 60 else h[:40] + b'...(%d)' % len(h) for h in hdr[:3])
            extra = ' [%s%s]' % (shown.decode('latin-1'), ' +%d more' % (len(hdr) - 3) if len(hdr) > 3 else '')
        return '%s: %r%s' % (self.cat, first, extra)


# Front allowances.
NGX400 = {'nginx': (400,)}
BOTH400 = {'nginx': (400,), 'lighttpd': (400,)}
LINE_TOO_LONG = {'nginx': (414,), 'lighttpd': (431,)}
FIELD_TOO_BIG = {'nginx': (400,), 'lighttpd': (431,)}
LT501 = {'lighttpd': (501,)}
LOWER_METHOD = {'nginx': (400,), 'lighttpd': (501,)}
LT400 = {'lighttpd': (400,)}  # e.g. a body on GET/HEAD, a header line without ':'
CLOSED = {'nginx': (None, 400), 'lighttpd': (None, 400)}
NUL_FRONT = {'nginx': (400,), 'lighttpd': (400, 403)}  # e.g. mod_access on a NUL
# Was {'lighttpd': ...} until lighttpd/front*.conf.in refused a raw NUL with
# mod_access: the FastCGI param is a C string, so the worker saw the key cut
# at the NUL.  Put a front here to mark such rows as a known bug again.
NUL_BUG = {}

WHY_DOT = "'.' and '..'"
WHY_ESC = 'invalid %-escape'
WHY_NUL = 'NUL'
WHY_LONG = 'longer than 189'
WHY_OP = 'unknown query operation'
WHY_LIMIT = 'limit must be'
WHY_QUERY = 'query strings are only'
WHY_MD5 = 'Content-MD5 must be'
WHY_MD5_MISMATCH = 'does not match'
WHY_B64 = 'base64'
WHY_EMPTY = 'empty key'
WHY_411 = 'empty body'


def listing_checker(min_keys=0, max_keys=None, next_empty=None):
    def chk(r):
        try:
            doc = json.loads(r.body.decode('utf-8'))
        except (UnicodeDecodeError, ValueError) as e:
            return 'listing is not JSON (%s): %r' % (e, r.body[:200])
        if not isinstance(doc, dict) or set(doc) != {'next', 'keys'} or \
                not isinstance(doc['next'], str) or not isinstance(doc['keys'], list):
            return 'listing is not {"next":..,"keys":[..]}: %r' % r.body[:200]
        if not r.headers.get('content-type', '').startswith('application/json'):
            return 'listing Content-Type %r' % r.headers.get('content-type')
        n = len(doc['keys'])
        if n < min_keys or (max_keys is not None and n > max_keys):
            return 'listing has %d keys, want %s..%s: %r' % (n, min_keys, max_keys, r.body[:200])
        if next_empty is not None and (doc['next'] == '') != next_empty:
            return 'listing next=%r, want %s' % (doc['next'], 'empty' if next_empty else 'a key')
        return None
    return chk


def body_is(value):
    def chk(r):
        return None if r.body == value else 'body %r, want %r' % (r.body[:100], value)
    return chk


def build_table(P):
    """P: the table's key prefix (bytes, '/hostile-<hex>')."""
    T = []
    live = P + b'/live'
    absent = P + b'/absent'

    def row(cat, data, want, **kw):
        T.append(Row(cat, data, want, **kw))

    def req(cat, method, target, want, headers=(), body=None, **kw):
        row(cat, build(method, target, headers, body), want, **kw)

    def put_new(cat, target, key, value=None, headers=()):
        value = value if value is not None else b'value of ' + key
        assert key_verdict(key) == 0, 'table error: %r is not storable' % key
        req(cat, b'PUT', target, 201, headers, value, creates=(key, value))

    # -- 0. the fixture and the empty key ---------------------------------
    put_new('fixture', live, live, LIVE_VALUE)
    victim = P + b'/victim'   # the target of a row that a known bug lets through
    put_new('fixture', victim, victim, b'victim')
    req('fixture', b'PUT', live, 403, body=b'again', why='key exists')
    for m in (b'GET', b'HEAD', b'PUT', b'DELETE', b'UNLINK'):
        req('empty key', m, b'/', 400, body=b'v' if m == b'PUT' else None, why=WHY_EMPTY)

    # -- 1. odd but legal keys: raw bytes round-trip ------------------------
    odd = [
        (b'/...', b'/...'), (b'/.x', b'/.x'), (b'/x.', b'/x.'), (b'/..b', b'/..b'),
        (b'/a../b', b'/a../b'), (b'/.../z', b'/.../z'),
        (b'//dbl', b'//dbl'), (b'/a//b', b'/a//b'), (b'/trail//', b'/trail//'),
        (b'/s1%2Fs2', b'/s1/s2'), (b'/s3%2fs4', b'/s3/s4'), (b'%2Fenc', b'/enc'),
        (b'/pct%252F', b'/pct%2F'), (b'/a+b', b'/a+b'), (b'/x;y=1', b'/x;y=1'),
        (b'/inv%FF%FE', b'/inv\xff\xfe'), (b'/ovl%C0%AF', b'/ovl\xc0\xaf'),
        (b'/%C0%AE%C0%AE/x', b'/\xc0\xae\xc0\xae/x'), (b'/sur%ED%A0%80', b'/sur\xed\xa0\x80'),
        (b'/cont%80', b'/cont\x80'), (b'/big%F4%90%80%80', b'/big\xf4\x90\x80\x80'),
        (b'/raw\xff\xfe', b'/raw\xff\xfe'), (b'/euro%E2%82%AC', b'/euro\xe2\x82\xac'),
        (b'/ctl%7F%01', b'/ctl\x7f\x01'), (b'/crlf%0D%0ASet-Cookie:%20x=1', b'/crlf\r\nSet-Cookie: x=1'),
        (b'/bs%5C..%5Cx', b'/bs\\..\\x'), (b'/q%3Fx%23y', b'/q?x#y'), (b'/%25', b'/%'),
    ]
    for suffix, key in odd:
        put_new('legal odd key', P + suffix, P + key)
    # a key whose base64 name contains '/' (nested directories on the volume)
    for pad in range(3):
        k = P + b'/' + b'n' * pad + b'\xff\xff\xffz'
        if b'/' in base64.b64encode(k)[:-1] and key_verdict(k) == 0:
            put_new('legal odd key', esc(k), k)
            break
    # exactly the key limit, written plainly and with escapes
    k189 = P + b'/' + b'x' * (KEY_MAX - len(P) - 1)
    put_new('key length', k189, k189)
    k189e = P + b'/' + b'y' * (KEY_MAX - len(P) - 2) + b'\xe2'
    put_new('key length', esc(k189e), k189e)
    # a body longer than Content-Length: the rest is not part of the value
    row('content-length', build(b'PUT', P + b'/short', [b'Content-Length: 3'], b'abcdef', length=False),
        201, creates=(P + b'/short', b'abc'))
    # Content-MD5 done right, in both accepted forms
    v = b'md5 checked value'
    put_new('content-md5', P + b'/md5hex', P + b'/md5hex', v,
            [b'Content-MD5: ' + md5hex(v).upper().encode()])
    put_new('content-md5', P + b'/md5b64', P + b'/md5b64', v,
            [b'Content-MD5: ' + base64.b64encode(hashlib.md5(v).digest())])
    # aliases and non-aliases of what was just created
    req('alias', b'GET', P + b'/s1/s2', 302)
    req('alias', b'GET', P + b'%2Fs1%2Fs2', 302)
    req('alias', b'GET', P + b'/a%2Bb', 302)
    req('alias', b'HEAD', P + b'/enc', 302)
    req('alias', b'GET', P + b'/dbl', 404)            # '//' is not collapsed
    req('alias', b'GET', P + b'/a/b', 404)
    req('alias', b'GET', P + b'/pct/', 404)            # %25 2F is not a slash
    req('alias', b'GET', P + b'/..', 400, why=WHY_DOT)  # P/.. is not P/..b
    req('alias', b'GET', P + b'/inv%ff%fe', 302)      # hex case does not matter
    req('alias', b'GET', P + b'/raw%FF%FE', 302)      # raw bytes == their escapes

    # -- 2. '.' and '..' segments --------------------------------------------
    dots = [P + s for s in (
        b'/.', b'/..', b'/./x', b'/../x', b'/a/./b', b'/a/../b', b'/%2e', b'/%2E%2E', b'/.%2e',
        b'/%2e.', b'/a/%2e%2e/b', b'/..%2Fx', b'/x%2F..', b'/x%2F.%2Fy', b'/x%2f%2e%2e%2fy',
        b'/x/.', b'/x/..')]
    for path in dots:
        for m in (b'GET', b'HEAD', b'PUT', b'DELETE'):
            req('dot segment', m, path, 400, body=b'v' if m == b'PUT' else None, why=WHY_DOT)
    for path in (P + b'/a/..', P + b'/.', live + b'/..'):
        req('dot segment', b'UNLINK', path, 400, why=WHY_DOT)
    # '..' that climbs above the root: nginx refuses those itself
    for path in (b'/..' + P, b'/../x', b'/%2e%2e/x', b'/..%2Fx', b'/.%2e/x',
                 P + b'/..%2F..%2F..%2Fetc%2Fpasswd', b'/..', b'/./../x'):
        for m in (b'GET', b'PUT'):
            req('dot segment', m, path, 400, body=b'v' if m == b'PUT' else None,
                front=NGX400, why=WHY_DOT)
    req('dot segment', b'GET', b'/./x', 400, why=WHY_DOT)
    req('dot segment', b'PUT', b'/./' + P[1:] + b'/new', 400, body=b'v', why=WHY_DOT)
    req('dot segment', b'GET', b'http://mkv-hostile' + P + b'/../x', 400, why=WHY_DOT)

    # -- 3. NUL ---------------------------------------------------------------
    for path in (P + b'/%00', P + b'/a%00b', P + b'%00', b'/%00', P + b'/%00%2e', P + b'/x%00.txt'):
        for m in (b'GET', b'PUT', b'DELETE'):
            req('NUL', m, path, 400, body=b'v' if m == b'PUT' else None, front=NGX400, why=WHY_NUL)
    for q in (b'?list&start=%00', b'?list&limit=1%00', b'?list&start=a%00b', b'?unlinked&start=%00'):
        req('NUL', b'GET', P + q, 400, why=WHY_NUL)
    # a raw NUL byte: nginx refuses it; the worker must never see a cut key
    rawnul = P + b'/rawnul'
    req('NUL', b'GET', rawnul + b'\x00tail', 400, front=NUL_FRONT, why=WHY_NUL, xfail=NUL_BUG)
    req('NUL', b'PUT', rawnul + b'\x00tail', 400, body=b'v', front=NUL_FRONT, why=WHY_NUL, xfail=NUL_BUG,
        effect=('creates', rawnul, b'v'))
    req('NUL', b'DELETE', rawnul + b'\x00tail', 400, front=NUL_FRONT, why=WHY_NUL, xfail=NUL_BUG,
        effect=('deletes', rawnul))
    req('NUL', b'DELETE', victim + b'\x00', 400, front=NUL_FRONT, why=WHY_NUL, xfail=NUL_BUG,
        effect=('deletes', victim))
    req('NUL', b'PUT', P + b'/nulq?\x00', 400, body=b'v', front=NUL_FRONT, why=WHY_NUL, xfail=NUL_BUG,
        effect=('creates', P + b'/nulq', b'v'))

    # -- 4. invalid %-escapes -------------------------------------------------
    for bad in (b'%G1', b'%1G', b'%4', b'%', b'%%', b'%%41', b'%-1', b'%+1', b'%zz', b'%4g',
                b'%\xff1', b'a%', b'a%2', b'%0', b'%x0'):
        for m in (b'GET', b'PUT', b'DELETE'):
            req('bad escape', m, P + b'/' + bad, 400, body=b'v' if m == b'PUT' else None,
                front=NGX400, why=WHY_ESC)
    req('bad escape', b'HEAD', P + b'/%G1', 400, front=NGX400)
    req('bad escape', b'UNLINK', P + b'/%4', 400, front=NGX400, why=WHY_ESC)
    for q in (b'?list&start=%zz', b'?list&start=%4', b'?list&start=%', b'?list&limit=%G1',
              b'?unlinked&start=%%', b'?list&start=ok&start=%zz'):
        want = 200 if q.endswith(b'start=%zz') and b'start=ok' in q else 400
        req('bad escape', b'GET', P + q, want, why=WHY_ESC if want == 400 else None,
            checker=listing_checker() if want == 200 else None)
    req('bad escape', b'GET', P + b'/%zz?list', 400, front=NGX400, why=WHY_ESC)

    # -- 5. key and URI length -------------------------------------------------
    def keyof(n, ch=b'a'):
        return P + b'/' + ch * (n - len(P) - 1)
    req('key length', b'GET', keyof(KEY_MAX, b'g'), 404)
    for n in (KEY_MAX + 1, KEY_MAX + 2, 256, 1000, 4096, 8000):
        req('key length', b'GET', keyof(n), 414, why=WHY_LONG)
    for m in (b'PUT', b'DELETE', b'UNLINK', b'HEAD'):
        req('key length', m, keyof(KEY_MAX + 1), 414, body=b'v' if m == b'PUT' else None,
            why=WHY_LONG)
    req('key length', b'PUT', keyof(5000), 414, body=b'v', why=WHY_LONG)
    # the limit is on decoded bytes: 189 from escapes is fine, 190 is not
    pre = P + b'/'
    req('key length', b'GET', pre + b'%41' * (KEY_MAX - len(pre)), 404)
    req('key length', b'GET', pre + b'%41' * (KEY_MAX + 1 - len(pre)), 414, why=WHY_LONG)
    req('key length', b'PUT', pre + b'%E2%82%AC' * 60, 414, body=b'v', why=WHY_LONG)
    # request lines over the fronts' 8k buffers never reach the worker
    for n in (8185, 9000, 20000):
        req('uri length', b'GET', keyof(n), 414, front=LINE_TOO_LONG, why=WHY_LONG)
    req('uri length', b'PUT', keyof(16000), 414, body=b'v', front=LINE_TOO_LONG, why=WHY_LONG)
    # a listing prefix is not a key: no key limit
    req('uri length', b'GET', keyof(1000) + b'?list', 200, checker=listing_checker(0, 0))
    req('uri length', b'GET', keyof(7900) + b'?unlinked', 200, checker=listing_checker(0, 0))
    req('uri length', b'GET', P + b'?list&start=' + b'z' * 7000, 200, checker=listing_checker(0, 0))

    # -- 6. headers: size and count ---------------------------------------------
    hv = lambda n, size=1: [b'X-H%d: %s' % (i, b'v' * size) for i in range(n)]  # noqa: E731
    req('headers', b'GET', absent, 404, [b'X-Big: ' + b'a' * 7000])
    req('headers', b'GET', absent, 404, [b'X-' + b'n' * 5000 + b': v'])
    req('headers', b'GET', absent, 404, hv(100))
    req('headers', b'GET', live, 302, hv(250))
    req('headers', b'GET', absent, 404, [b'X-Same: v'] * 200)
    req('headers', b'GET', absent, 404, [b'X-Big: ' + b'a' * 10000], front=FIELD_TOO_BIG)
    req('headers', b'GET', absent, 404, [b'X-' + b'n' * 9000 + b': v'], front=FIELD_TOO_BIG)
    req('headers', b'GET', absent, 404, hv(2000), front=FIELD_TOO_BIG)
    req('headers', b'GET', absent, 404, [b'X-Same: v'] * 3000, front=FIELD_TOO_BIG)
    req('headers', b'GET', absent, 404, hv(6, 7000), front=FIELD_TOO_BIG)
    req('headers', b'PUT', P + b'/hdrbig', 400, [b'X-Big: ' + b'a' * 40000], b'v', front=FIELD_TOO_BIG)
    req('headers', b'DELETE', live, 400, hv(5000), front=FIELD_TOO_BIG)
    req('headers', b'PUT', P + b'/md5huge', 400, [b'Content-MD5: ' + b'a' * 7000], b'v', why=WHY_MD5)

    # -- 7. ?list / ?unlinked parameters ----------------------------------------
    ok_list = listing_checker()
    for lim in (b'abc', b'', b'-', b'1e3', b'0x10', b'1.5', b'+5', b'%2B5', b'%205', b'5%20',
                b'1' * 19, b'1' * 30, b'-9223372036854775808',
                b'9223372036854775808', b'%D9%A1', b'5;x', b'--5', b'5-', b'\xff', b'%FF'):
        req('list limit', b'GET', P + b'/?list&limit=' + lim, 400, why=WHY_LIMIT)
    req('list limit', b'GET', P + b'?unlinked&limit=abc', 400, why=WHY_LIMIT)
    req('list limit', b'GET', P + b'?list&limit=x&limit=1', 400, why=WHY_LIMIT)
    for lim in (b'-5', b'0', b'-0', b'9' * 18, b'-' + b'9' * 18, b'007', b'%31%30'):
        req('list limit', b'GET', P + b'?list&limit=' + lim, 200, checker=listing_checker(2))
    req('list limit', b'GET', P + b'?list&limit=1', 200, checker=listing_checker(1, 1, False))
    # leading zeros are the number (as Go's strconv.Atoi): the bound is on the value
    req('list limit', b'GET', P + b'?list&limit=' + b'0' * 19 + b'1', 200,
        checker=listing_checker(1, 1, False))
    req('list limit', b'GET', P + b'?list&limit=1&limit=x', 200, checker=listing_checker(1, 1, False))
    req('list limit', b'GET', P + b'?list&limit', 200, checker=listing_checker(2))
    req('list limit', b'GET', P + b'?list&LIMIT=abc', 200, checker=listing_checker(2))
    # an empty start= is no start (it once decoded uninitialised memory)
    req('list start', b'GET', P + b'?list&start=', 200, checker=listing_checker(20, None, True))
    req('list start', b'GET', P + b'/?list&start=&limit=', 400, why=WHY_LIMIT)
    req('list start', b'GET', P + b'?unlinked&start=', 200, checker=listing_checker(0, 0, True))
    for st in (b'z' * 4000, b'%FF%FE', b'%2F', b'/', b'+', P + b'/s', b'%C0%AF'):
        req('list start', b'GET', P + b'?list&start=' + st, 200, checker=ok_list)
    req('list start', b'GET', P + b'?list&start=' + P + b'0', 200,   # '0' sorts after '/'
        checker=listing_checker(0, 0, True))
    req('list start', b'GET', P + b'?list&' + b'&' * 3000, 200, checker=listing_checker(2))
    req('list start', b'GET', P + b'?list&' + b'a=b&' * 1500, 200, checker=listing_checker(2))
    req('list', b'GET', P + b'/..?list', 200, checker=listing_checker(2))  # prefix P/.. matches P/..b
    req('list', b'GET', P + b'/ovl%C0?list', 200, checker=listing_checker(1, 1))

    # -- 8. unknown query operations ------------------------------------------
    for q in (b'foo', b'list=1', b'LIST', b'List', b'lists', b'lis', b'unlinked=', b'health=1',
              b'stats=1', b'%6Cist', b'limit=1&list', b'&list', b'list;x', b'list%26limit=1',
              b'+list', b'list+', b'=', b'&', b'?list', b'list#x', b'list\xff', b'Health',
              b'delete', b'uploads', b'list-type=2', b'partNumber=1&uploadId=2'):
        req('query op', b'GET', P + b'?' + q, 400, why=WHY_OP)
    req('query op', b'GET', live + b'?foo', 400, why=WHY_OP)
    req('query op', b'GET', b'/?' + b'x' * 7000, 400, why=WHY_OP)
    req('query op', b'GET', live + b'?', 302)                # an empty query is no query
    req('query op', b'HEAD', live + b'?foo', 302)            # HEAD ignores the query (docs/compat.md §4.1)
    req('query op', b'HEAD', absent + b'?list', 404)
    req('query op', b'HEAD', b'/?health', 400, why=WHY_EMPTY)
    req('query op', b'GET', b'/?health', 200, checker=body_is(b'ok\n'))
    req('query op', b'GET', b'/?health&x=%zz', 200, checker=body_is(b'ok\n'))

    # -- 9. write methods with a query string ------------------------------------
    for m, path, q in ((b'PUT', P + b'/wq1', b'x=1'), (b'PUT', P + b'/wq2', b'list'),
                       (b'PUT', P + b'/wq3', b'partNumber=1&uploadId=2'), (b'PUT', live, b'x'),
                       (b'PUT', P + b'/wq4', b'&'), (b'PUT', P + b'/wq5', b'%zz'),
                       (b'DELETE', live, b'x=1'), (b'DELETE', live, b'list'), (b'DELETE', absent, b'foo'),
                       (b'UNLINK', live, b'x=1'), (b'UNLINK', live, b'unlinked')):
        req('write+query', m, path + b'?' + q, 400, body=b'v' if m == b'PUT' else None, why=WHY_QUERY)
    req('write+query', b'PUT', P + b'/wq6?x=1', 400, [b'Content-MD5: ' + md5hex(b'v').encode()], b'v',
        why=WHY_QUERY)
    req('write+query', b'PUT', b'/?list', 400, body=b'v', why=WHY_EMPTY)
    req('write+query', b'DELETE', b'/?unlinked', 400, why=WHY_EMPTY)
    row('write+query', build(b'REBALANCE', live + b'?x'), 400, front=LT501, why=WHY_QUERY)

    # -- 10. Content-Length ------------------------------------------------------
    def cl(values, body=b'v', method=b'PUT', target=None):
        hs = [b'Content-Length: ' + v for v in values]
        return build(method, target or P + b'/cl-' + secrets.token_hex(4).encode(), hs, body,
                     length=False)
    for v in (b'-1', b'abc', b'+1', b'0x1', b'1,1', b'1 1', b'1.0', b'99999999999999999999999',
              b'9223372036854775808', b'-9223372036854775808', b'\xff', b'1\x00'):
        row('content-length', cl([v]), (), front=BOTH400)
    row('content-length', cl([b'1', b'2'], b'vv'), (), front=BOTH400)
    row('content-length', cl([b'1', b'1']), (), front=BOTH400)
    row('content-length', build(b'PUT', P + b'/clte', [b'Content-Length: 1', b'Transfer-Encoding: chunked'],
                                b'1\r\nv\r\n0\r\n\r\n', length=False), (), front=BOTH400)
    row('content-length', cl([b'-1'], None, b'GET', absent), (), front=BOTH400)
    row('content-length', cl([b'abc'], None, b'DELETE', live), (), front=BOTH400)
    # empty value: nginx refuses it, lighttpd takes it as no body (worker: 411)
    row('content-length', cl([b'']), 411, front=NGX400, why=WHY_411)
    row('content-length', cl([b'0'], b''), 411, why=WHY_411)
    row('content-length', cl([b'0'], b'', target=live), 411, why=WHY_411)
    # promised more than sent, then EOF: the front drops it, nothing stored
    row('content-length', cl([b'9223372036854775807']), (), front=CLOSED, shut=True)
    row('content-length', cl([b'10'], b'abc'), (), front=CLOSED, shut=True)
    row('content-length', cl([b'1000000000'], b'x' * 1000), (), front=CLOSED, shut=True)

    # -- 11. PUT without a length, chunked oddities ------------------------------
    row('no length', build(b'PUT', P + b'/nolen1'), 411, why=WHY_411)
    row('no length', build(b'PUT', P + b'/nolen2', version=b'HTTP/1.0', host=False, close=False), 411,
        why=WHY_411)
    row('no length', build(b'PUT', live), 411, why=WHY_411)
    row('no length', build(b'PUT', P + b'/nolen3', [b'Transfer-Encoding: chunked'], b'0\r\n\r\n',
                           length=False), 411, why=WHY_411)
    row('no length', build(b'PUT', P + b'/nolen4', [b'Transfer-Encoding: chunked'],
                           b'0\r\nX-Trailer: 1\r\n\r\n', length=False), 411, why=WHY_411)
    for te, body in ((b'chunked', b'zz\r\nv\r\n0\r\n\r\n'), (b'chunked', b'fffffffffffffffffffff\r\nv\r\n0\r\n\r\n'),
                     (b'chunked', b'-1\r\nv\r\n0\r\n\r\n')):
        row('no length', build(b'PUT', P + b'/te-' + secrets.token_hex(3).encode(),
                               [b'Transfer-Encoding: ' + te], body, length=False), (), front=BOTH400)
    for te in (b'gzip', b'identity', b'chunked, chunked', b'gzip, chunked'):
        row('no length', build(b'PUT', P + b'/te-' + secrets.token_hex(3).encode(),
                               [b'Transfer-Encoding: ' + te], b'1\r\nv\r\n0\r\n\r\n', length=False), (),
            front={'nginx': (400, 501), 'lighttpd': (400, 501)})
    row('no length', build(b'PUT', P + b'/te10', [b'Transfer-Encoding: chunked'], b'1\r\nv\r\n0\r\n\r\n',
                           version=b'HTTP/1.0', host=False, close=False, length=False), (), front=BOTH400)
    row('no length', build(b'PUT', P + b'/tecut', [b'Transfer-Encoding: chunked'], b'5\r\nab',
                           length=False), (), front=CLOSED, shut=True)

    # -- 12. methods ------------------------------------------------------------------
    for m in (b'PATCH', b'OPTIONS', b'POST', b'PROPFIND', b'PROPPATCH', b'MKCOL', b'COPY', b'MOVE',
              b'LOCK', b'UNLOCK', b'SEARCH', b'LINK', b'REPORT'):
        for path in (live, absent):
            req('method', m, path, 405, body=b'v' if m in (b'POST', b'PATCH') else None, allow=True)
    # lighttpd wants a length on every POST (411) before anything else
    req('method', b'POST', P + b'/post?uploads', 405, front={'lighttpd': (411,)}, allow=True)
    req('method', b'POST', P + b'/post?delete', 405, body=b'<Delete/>', allow=True)
    req('method', b'OPTIONS', b'/', 405, allow=True)
    for m in (b'FOO', b'PURGE', b'X' * 100, b'_X', b'A-B', b'PRI', b'GETS', b'DELET'):
        req('method', m, live, 405, front=LT501, allow=True)
    req('method', b'TRACE', live, 405, front={'nginx': (405,)}, allow=True)
    req('method', b'CONNECT', b'mkv-hostile:80', (), front=BOTH400)
    for m in (b'get', b'put', b'delete', b'head', b'unlink', b'patch', b'Get', b'pUT', b'G3T',
              b'GET\t', b'G\xc3\xa9T'):
        req('method', m, live, (), body=b'v' if m.lower() == b'put' else None, front=LOWER_METHOD)
    req('method', b'REBALANCE', absent, 404, front=LT501)
    req('method', b'REBALANCE', absent, 404, body=b'abc', front=LT501)
    req('method', b'REBALANCE', P + b'/%zz', 400, front={'nginx': (400,), 'lighttpd': (501,)})
    req('method', b'REBALANCE', P + b'/x/..', 400, front=LT501, why=WHY_DOT)
    req('method', b'REBALANCE', keyof(KEY_MAX + 1), 414, front=LT501, why=WHY_LONG)

    # -- 13. bodies where none belongs ----------------------------------------------
    req('body', b'GET', live, 302, body=b'abc', front=LT400)
    req('body', b'GET', absent, 404, body=b'x' * 70000, front=LT400)
    req('body', b'HEAD', live, 302, body=b'abc', front=LT400)
    req('body', b'GET', P + b'?list', 200, body=b'abc', front=LT400, checker=ok_list)
    row('body', build(b'GET', absent, [b'Transfer-Encoding: chunked'], b'3\r\nabc\r\n0\r\n\r\n',
                      length=False), 404, front=LT400)
    req('body', b'DELETE', absent, 404, body=b'abc')
    req('body', b'DELETE', absent, 404, body=b'x' * 70000)
    req('body', b'UNLINK', absent, 404, body=b'abc')
    row('body', build(b'DELETE', absent, [b'Transfer-Encoding: chunked'], b'3\r\nabc\r\n0\r\n\r\n',
                      length=False), 404)
    req('body', b'DELETE', P + b'/%2e%2e', 400, body=b'abc', why=WHY_DOT)

    # -- 14. Content-MD5 -----------------------------------------------------------------
    good = md5hex(b'v')
    for bad in (b'zz', good[:31].encode(), good.encode() + b'0', b'g' * 32, b'0x' + good[:30].encode(),
                good[:16].encode() + b' ' + good[17:].encode(), good[:16].encode(),
                hashlib.sha256(b'v').hexdigest().encode(),
                base64.b64encode(hashlib.md5(b'v').digest())[:22],                  # no padding
                base64.b64encode(hashlib.md5(b'v').digest())[:23],
                b'!' * 22 + b'==', base64.b64encode(good.encode()),                  # base64 of the hex
                base64.b64encode(hashlib.md5(b'v').digest()[:15]),                   # 15 bytes
                base64.b64encode(hashlib.md5(b'v').digest() + b'x'),                 # 17 bytes
                b'=' * 24, b'AAAA=AAAAAAAAAAAAAAAAA==', b'-_' + b'A' * 20 + b'==',
                b'md5=' + good.encode(), b'\xff' * 32, b'AAAAAAAAAAAAAAAAAAAAA\xff=='):
        req('content-md5', b'PUT', P + b'/md5-' + secrets.token_hex(4).encode(), 400,
            [b'Content-MD5: ' + bad], b'v', why=WHY_MD5)
    req('content-md5', b'PUT', live, 400, [b'Content-MD5: zz'], b'v', why=WHY_MD5)       # before 403
    req('content-md5', b'PUT', P + b'/md5-e', 400, [b'Content-MD5: zz'], b'', why=WHY_MD5)  # before 411
    req('content-md5', b'PUT', P + b'/md5-w1', 400, [b'Content-MD5: ' + md5hex(b'w').encode()], b'v',
        why=WHY_MD5_MISMATCH)
    req('content-md5', b'PUT', P + b'/md5-w2', 400,
        [b'Content-MD5: ' + base64.b64encode(hashlib.md5(b'w').digest())], b'v', why=WHY_MD5_MISMATCH)
    req('content-md5', b'GET', live, 302, [b'Content-MD5: zz'])   # ignored on reads

    # -- 15. keys whose base64 name ends in '/' -----------------------------------------
    for last in (0x3F, 0x7F, 0xBF, 0xFF):
        path = b64_slash_key(P, last)
        for m in (b'PUT', b'GET'):
            req('base64 /', m, path, 400, body=b'v' if m == b'PUT' else None, why=WHY_B64)
    req('base64 /', b'DELETE', b'/a%3F', 400, why=WHY_B64)

    # -- 16. protocol abuse the front must handle ------------------------------------------
    row('protocol', build(b'GET', live, version=b'HTTP/9.9'), (), front={'nginx': (505,), 'lighttpd': (505,)})
    row('protocol', build(b'GET', live, version=b'HTTP/2.0'), (), front={'nginx': (505,), 'lighttpd': (505,)})
    row('protocol', build(b'GET', live, version=b'http/1.1'), (), front=BOTH400)
    row('protocol', build(b'GET', live, host=False), (), front=BOTH400)
    row('protocol', build(b'PUT', P + b'/nohost', host=False, body=b'v'), (), front=BOTH400)
    row('protocol', build(b'GET', live, [b'Host: other']), (), front=BOTH400)
    row('protocol', build(b'GET', live, host=False, headers=[b'Host: a b']), (), front=BOTH400)
    row('protocol', build(b'GET', live, [b'Bad Header: v']), (), front=BOTH400)
    row('protocol', build(b'GET', live, [b'X: a\x00b']), (), front=BOTH400)
    row('protocol', build(b'GET', b'x'), (), front=BOTH400)
    row('protocol', build(b'GET', b'*'), (), front=BOTH400)
    row('protocol', build(b'GET', b''), (), front=BOTH400)
    row('protocol', b'GET ' + live + b'\r\n\r\n', (), front={'nginx': (None,), 'lighttpd': (400,)})
    row('protocol', build(b'GET', live, [b'NoColon']), 302, front=LT400)
    row('protocol', build(b'GET', live, [b' folded']), 302, front=NGX400)
    row('protocol', build(b'GET', live).replace(b'\r\n', b'\n'), 302, front=LT400)
    row('protocol', build(b'GET', b'http://mkv-hostile' + live), 302)
    row('protocol', build(b'GET', b'http://mkv-hostile/%2e%2e/x'), 400, front=NGX400, why=WHY_DOT)
    row('protocol', build(b'GET', b'http://mkv-hostile'), 400, front={'lighttpd': (400,)}, why=WHY_EMPTY)
    row('protocol', build(b'GET', live + b'\x01'), 404, front=NGX400)   # keys are raw bytes
    row('protocol', build(b'GET', live + b'\tx'), 404, front=NGX400)
    row('protocol', build(b'GET', live + b'#frag'), 404)
    row('protocol', b'GET ' + P + b'/partial', (), front=CLOSED, shut=True)
    row('protocol', b'GET ' + live + b' HTTP/1.1\r\nHost: mkv-hostile\r\n', (), front=CLOSED, shut=True)
    row('protocol', b'', (), front=CLOSED, shut=True)
    row('protocol', b'\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03' + os.urandom(32), (),
        front=CLOSED, shut=True)   # a TLS ClientHello
    return T


# ---------------------------------------------------------------------------
# judging
# ---------------------------------------------------------------------------

def is_front_page(r):
    """The front's own answer: an HTML error page, or no HTTP answer at all."""
    return r.status is None or r.headers.get('content-type', '').startswith('text/html')


def judge(row, fk, r):
    """None if r is an acceptable answer to row from front fk, else a problem."""
    front_ok = row.front.get(fk, ())
    if r.status in front_ok and (is_front_page(r) or r.status not in row.want):
        return None
    if r.status not in row.want:
        want = '/'.join(str(s) for s in row.want) or '-'
        fo = '/'.join(str(s) for s in front_ok) or '-'
        return 'want %s from the worker (front may answer %s), got %s' % (want, fo, r.describe())
    if is_front_page(r):
        return 'the front answered where the worker should: ' + r.describe()
    if r.status >= 400 and r.status != 404 and row.method != b'HEAD':
        text = r.body
        if not text.endswith(b'\n') or b'\n' in text[:-1] or not text.strip():
            return 'reason is not one line: ' + r.describe()
        if not r.headers.get('content-type', '').startswith('text/plain'):
            return 'reason is not text/plain: ' + r.describe()
        if row.why and row.why.encode() not in text:
            return 'reason %r does not say %r' % (text, row.why)
    if row.allow and not r.headers.get('allow'):
        return '405 without an Allow header: ' + r.describe()
    if r.status == 302:
        loc = r.headers.get('location', '')
        if not loc.startswith(('http://', 'https://')) or any(c in loc for c in ' \r\n'):
            return 'bad Location: ' + r.describe()
    if 'set-cookie' in r.headers:
        return 'header injected: ' + r.describe()
    if row.checker:
        return row.checker(r)
    return None


# ---------------------------------------------------------------------------
# processes
# ---------------------------------------------------------------------------

def _children(pid):
    p = subprocess.run(['pgrep', '-P', str(pid)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return sorted(int(x) for x in p.stdout.split())


def process_family(cluster):
    """{'front': pid, 'supervisor': pid, 'workers': [pids]} (lighttpd-spawn:
    the workers are the front's children)."""
    pids = os.path.join(cluster.data, 'pids')
    with open(os.path.join(pids, 'front.pid')) as f:
        front = int(f.read().split()[0])
    out = {'front': front}
    if os.path.exists(os.path.join(pids, 'fcgi.pid')):
        out['supervisor'] = cluster.supervisor_pid()
        out['workers'] = cluster.worker_pids()
    else:
        out['workers'] = _children(front)
    return out


def volume_tree(cluster):
    """(files, directories) under every volume root, relative to MKV_DATA."""
    files, dirs = set(), set()
    for i in range(len(cluster.volume_ports)):
        for d, subdirs, names in os.walk(cluster.volume_root(i)):
            dirs.update(os.path.relpath(os.path.join(d, n), cluster.data) for n in subdirs)
            files.update(os.path.relpath(os.path.join(d, n), cluster.data) for n in names)
    return files, dirs


def put_targets(table):
    """Every key a PUT row of the table addresses (leniently decoded; also cut
    at a raw NUL, which is what a front passing it on makes of it)."""
    keys = set()
    for row in table:
        if row.method != b'PUT':
            continue
        parts = row.data.split(b'\r\n', 1)[0].split(b' ')
        if len(parts) < 2:
            continue
        path = parts[1].split(b'?', 1)[0]
        if path.startswith(b'http://'):
            path = b'/' + path[7:].partition(b'/')[2]
        key = urllib.parse.unquote_to_bytes(path)
        for k in (key, key.split(b'\x00')[0], path.split(b'\x00')[0]):
            if k and key_verdict(k) == 0:
                keys.add(k)
    return keys


def ancestors(relpath):
    out = set()
    d = os.path.dirname(relpath)
    while d and d != os.sep:
        out.add(d)
        d = os.path.dirname(d)
    return out


# ---------------------------------------------------------------------------
# the test
# ---------------------------------------------------------------------------

@own_cluster
def test_hostile_table(cluster):
    fk = 'nginx' if cluster.front == 'nginx' else 'lighttpd'
    P = ('/hostile-' + secrets.token_hex(5)).encode()
    table = build_table(P)
    check(len(table) >= 200, 'the table has only %d rows' % len(table))

    dump0 = cluster.dump()
    files0, dirs0 = volume_tree(cluster)
    procs0 = process_family(cluster)
    check(procs0['workers'], 'no worker processes found: %r' % procs0)

    wrong, crashes, xfails, xpasses = [], [], [], []
    created = {}
    t0 = time.time()
    for row in table:
        r = send_raw(cluster.host, cluster.port, row.data, shut=row.shut)
        problem = judge(row, fk, r)
        crashed = r.status in (502, 503, 504) or (r.status is None and None not in row.front.get(fk, ()))
        if fk in row.xfail:
            (xfails if problem else xpasses).append((row, problem or r.describe(80)))
            problem = None
            crashed = crashed and r.status is not None
        if problem:
            wrong.append('%s\n      -> %s' % (row.label(), problem))
        if crashed:
            crashes.append('%s\n      -> %s' % (row.label(), r.describe()))
        if row.creates and r.status == 201:
            created[row.creates[0]] = row.creates[1]
        if fk in row.xfail and row.effect:
            if row.effect[0] == 'creates' and r.status == 201:
                created[row.effect[1]] = row.effect[2]
            elif row.effect[0] == 'deletes' and r.status == 204:
                created.pop(row.effect[1], None)
    dt = time.time() - t0

    problems = []
    # -- nobody died
    procs1 = process_family(cluster)
    if procs1 != procs0:
        problems.append('processes changed: before %r, after %r' % (procs0, procs1))
        crashes.append('worker/supervisor/front pids changed')
    h = send_raw(cluster.host, cluster.port, build(b'GET', b'/?health'))
    if h.status != 200 or h.body != b'ok\n':
        problems.append('?health after the table: ' + h.describe())

    # -- the legal odd keys round-trip
    for key, value in sorted(created.items()):
        r = send_raw(cluster.host, cluster.port, build(b'GET', esc(key)))
        if r.status != 302:
            problems.append('GET of created key %r: %s' % (key, r.describe()))
            continue
        st, _h, body = cluster.follow(r.status, r.headers)
        if st != 200 or body != value:
            problems.append('value of created key %r via %s: %s' % (
                key, r.headers['location'], show(st, _h, body)))
        if r.headers.get('content-md5') != md5hex(value):
            problems.append('Content-Md5 of %r: %r' % (key, r.headers.get('content-md5')))
    r = send_raw(cluster.host, cluster.port, build(b'GET', P + b'?list'))
    try:
        listed = json.loads(r.body.decode('utf-8'))['keys']
    except (ValueError, KeyError, UnicodeDecodeError) as e:
        listed = None
        problems.append('listing of %r (%s): %s' % (P, e, r.describe()))
    want_listed = [go_json_string(k) for k in sorted(created)]
    if listed is not None and listed != want_listed:
        problems.append('listing of %r:\n      got  %r\n      want %r' % (P, listed, want_listed))

    # -- the index and the disks hold exactly the created keys
    dump1 = cluster.dump()
    files1, dirs1 = volume_tree(cluster)
    want_dump = dict(dump0)
    for key, value in created.items():
        want_dump[key] = cluster.expected_record(key, md5hex(value))
    if dict(dump1) != want_dump:
        extra = {k: v for k, v in dump1.items() if want_dump.get(k) != v}
        missing = {k: v for k, v in want_dump.items() if dump1.get(k) != v}
        problems.append('index after the table: unexpected %r, missing %r' % (extra, missing))
    want_files = set(files0)
    for key in created:
        for f in cluster.replica_files(key):
            want_files.add(os.path.relpath(f, cluster.data))
    if files1 != want_files:
        problems.append('volume disks after the table: unexpected %r, missing %r' % (
            sorted(files1 - want_files)[:20], sorted(want_files - files1)[:20]))
    # New directories only on the way to the replicas of keys a PUT addressed
    # (hh/hh, nested base64 names): WebDAV DELETE leaves the directories of a
    # removed file, e.g. after a PUT whose Content-MD5 did not match.
    allowed_dirs = set(dirs0)
    for key in put_targets(table):
        for f in cluster.replica_files(key):
            allowed_dirs |= ancestors(os.path.relpath(f, cluster.data))
    if dirs1 - allowed_dirs:
        problems.append('new directories on the volumes: %r' % sorted(dirs1 - allowed_dirs)[:20])
    for key, value in created.items():
        for f in cluster.replica_files(key):
            try:
                with open(f, 'rb') as fh:
                    data = fh.read()
            except OSError as e:
                problems.append('replica of %r: %s' % (key, e))
                continue
            if data != value:
                problems.append('replica %s of %r holds %r, want %r' % (f, key, data[:50], value))

    # -- clean up: everything back to where it was
    for key in sorted(created):
        r = send_raw(cluster.host, cluster.port, build(b'DELETE', esc(key)))
        if r.status != 204:
            problems.append('DELETE of created key %r: %s' % (key, r.describe()))
    dump2 = cluster.dump()
    files2, dirs2 = volume_tree(cluster)
    if dict(dump2) != dict(dump0):
        problems.append('index after clean-up differs: %r' % {
            k: v for k, v in dump2.items() if dump0.get(k) != v})
    if files2 != files0:
        problems.append('volume disks after clean-up: new %r, gone %r' % (
            sorted(files2 - files0)[:20], sorted(files0 - files2)[:20]))
    if dirs2 - dirs1 or dirs0 - dirs2:
        problems.append('volume directories after clean-up: new %r, gone %r' % (
            sorted(dirs2 - dirs1)[:20], sorted(dirs0 - dirs2)[:20]))
    if process_family(cluster) != procs0:
        problems.append('processes changed during clean-up')

    harness.record_figures('hostile.table [%s]' % cluster.front, {
        'malformed': len(table), 'wrong answers': len(wrong), 'crashes': len(crashes)})
    print('  %d malformed requests, %d wrong answers, %d crashes  (%s front, %.1fs, '
          '%d odd keys round-tripped, %d known bugs)' % (
              len(table), len(wrong), len(crashes), cluster.front, dt, len(created), len(xfails)))
    for row, what in xfails:
        print('  KNOWN BUG [%s] %s\n      -> %s\n      (%s)' % (cluster.front, row.label(), what, row.xfail[fk]))
    for row, what in xpasses:
        print('  FIXED? [%s] a row marked as a known bug answered correctly: %s -> %s' % (
            cluster.front, row.label(), what))
    msgs = []
    if wrong:
        msgs.append('%d wrong answer(s):\n  ' % len(wrong) + '\n  '.join(wrong))
    if crashes:
        msgs.append('%d crash(es):\n  ' % len(crashes) + '\n  '.join(crashes))
    if problems:
        msgs.append('%d problem(s) after the table:\n  ' % len(problems) + '\n  '.join(problems))
    check(not msgs, '\n'.join(msgs))
