"""Bad input: clear 4xx with a one-line reason, and nothing changed.
Content-MD5 checking."""

import base64
import hashlib
import os

import harness
from harness import check, expect, fresh_key, key_of, md5hex, nginx_only, show


def front_page(body):
    """True if body is the front server's own HTML error page."""
    return body.lstrip()[:20].lower().startswith((b'<html', b'<!doctype', b'<?xml'))


def reject(cluster, method, path, status, body=None, headers=None, what='', front_ok=False):
    """Send a bad request; assert status, a non-empty one-line text body (not
    on HEAD) and that neither the index nor any volume disk changed.
    front_ok: the front server may answer itself (its HTML page is accepted)."""
    before = cluster.snapshot()
    if method in ('PUT', 'POST') and body is None:
        body = b'some value'
    r = cluster.request(method, path, body, headers)
    label = '%s %s%s' % (method, path, (' ' + what) if what else '')
    allowed = status if isinstance(status, tuple) else (status,)
    problems = []
    if r[0] not in allowed:
        problems.append('expected %s, got %s' % ('/'.join(map(str, allowed)), show(*r)))
    elif front_ok and front_page(r[2]):
        pass
    elif method != 'HEAD':
        text = r[2].rstrip(b'\r\n')
        if not text.strip():
            problems.append('empty error body: %s' % show(*r))
        elif b'\n' in text:
            problems.append('error body is not one line: %s' % show(*r))
        elif not r[1].get('content-type', 'text/').startswith('text/'):
            problems.append('error body is not text: %s' % show(*r))
    else:
        if r[2]:
            problems.append('HEAD answer has a body: %s' % show(*r))
    dump, files = cluster.snapshot()
    if dump != before[0]:
        added = {k: v for k, v in dump.items() if before[0].get(k) != v}
        removed = {k: v for k, v in before[0].items() if k not in dump}
        problems.append('index changed: new/changed %r, removed %r' % (added, removed))
    if files != before[1]:
        problems.append('volume disks changed: new %r, gone %r' % (
            sorted(files - before[1])[:10], sorted(before[1] - files)[:10]))
    return ['%s: %s' % (label, p) for p in problems], r


def run_cases(cluster, cases, front_ok=False):
    problems = []
    for case in cases:
        p, _r = reject(cluster, *case, front_ok=front_ok)
        problems += p
    check(not problems, '%d problem(s):\n  ' % len(problems) + '\n  '.join(problems))


def test_empty_key_400(cluster):
    run_cases(cluster, [(m, '/', 400) for m in ('PUT', 'GET', 'HEAD', 'DELETE', 'UNLINK')])


def test_key_length_limit(cluster):
    prefix = fresh_key()
    long189 = prefix + 'x' * (189 - len(prefix))
    long190 = long189 + 'y'
    check(len(key_of(long189)) == 189 and len(key_of(long190)) == 190, 'key lengths')
    # an escaped key counts decoded bytes: 190 decoded bytes from '%41' escapes
    esc190 = prefix + '%41' * (190 - len(prefix))
    check(len(key_of(esc190)) == 190, 'escaped key length')
    run_cases(cluster, [(m, long190, 414) for m in ('PUT', 'GET', 'HEAD', 'DELETE', 'UNLINK')] +
              [('PUT', esc190, 414), ('PUT', prefix + 'z' * 400, 414)])
    expect(cluster.put(long189, b'just fits'), 201, 'PUT of a 189-byte key')
    r = expect(cluster.get(long189), 200, 'GET 189-byte key')
    check(r[2] == b'just fits', 'value of the 189-byte key', *r)
    for f in cluster.replica_files(long189):
        check(os.path.isfile(f), 'replica of 189-byte key missing: ' + f)
    expect(cluster.delete(long189), 204, 'DELETE 189-byte key')


def test_bad_escapes_400(cluster):
    p = fresh_key()
    cases = []
    for path in (p + '/a%zz', p + '/a%4', p + '/a%', p + '/a%00b', p + '%00'):
        for m in ('PUT', 'GET', 'HEAD', 'DELETE', 'UNLINK'):
            cases.append((m, path, 400))
    # nginx rejects malformed escapes and %00 itself (its HTML 400 page)
    run_cases(cluster, cases, front_ok=True)


def test_dotdot_400(cluster):
    p = fresh_key()
    cases = []
    for path in (p + '/a/../b', p + '/a/%2E%2E/b', p + '/a/%2e%2e/b', p + '/a/.%2E/b',
                 p + '/..', p + '/a/%2E%2E', '/../' + p[1:], '/%2E%2E/' + p[1:]):
        for m in ('PUT', 'GET', 'DELETE'):
            cases.append((m, path, 400))
    run_cases(cluster, cases, front_ok=True)


def test_base64_slash_end_400(cluster):
    p = fresh_key()
    # key '/a?' -> base64 'L2E/'; also a longer one whose base64 ends in '/'
    check(base64.b64encode(b'/a?').endswith(b'/'), 'oracle')
    k2 = None
    for tail in ('a?', 'bc?', 'xa?'):
        if base64.b64encode((p + '/' + tail).encode()).endswith(b'/'):
            k2 = p + '/' + tail.replace('?', '%3F')
            break
    cases = [(m, '/a%3F', 400) for m in ('PUT', 'GET', 'HEAD', 'DELETE', 'UNLINK')]
    if k2:
        cases.append(('PUT', k2, 400))
    run_cases(cluster, cases)


def test_unknown_methods_405(cluster):
    key = fresh_key()
    expect(cluster.put(key, b'v'), 201, 'PUT')
    problems = []
    for m in ('PATCH', 'OPTIONS'):
        for path in (key, fresh_key()):
            p, r = reject(cluster, m, path, 405)
            problems += p
            if r[0] == 405 and not r[1].get('allow'):
                problems.append('%s %s: 405 without an Allow header: %s' % (m, path, show(*r)))
    check(not problems, '\n  '.join(problems))
    r = expect(cluster.get(key), 200, 'GET after unknown methods')
    check(r[2] == b'v', 'value', *r)


@nginx_only
def test_unknown_method_foo_405(cluster):
    """lighttpd answers a method it does not know (FOO) itself (501) before
    the worker sees it, so this one is nginx-only."""
    key = fresh_key()
    expect(cluster.put(key, b'v'), 201, 'PUT')
    problems = []
    for path in (key, fresh_key()):
        p, r = reject(cluster, 'FOO', path, 405)
        problems += p
        if r[0] == 405 and not r[1].get('allow'):
            problems.append('FOO %s: 405 without an Allow header: %s' % (path, show(*r)))
    check(not problems, '\n  '.join(problems))


def test_write_with_query_400(cluster):
    key = fresh_key()
    expect(cluster.put(key, b'v'), 201, 'PUT')
    run_cases(cluster, [
        ('PUT', fresh_key() + '?x=1', 400),
        ('PUT', fresh_key() + '?partNumber=1&uploadId=2', 400),
        ('PUT', key + '?x', 400),
        ('DELETE', key + '?x=1', 400),
        ('DELETE', key + '?foo', 400),
        ('UNLINK', key + '?x=1', 400),
    ])
    r = expect(cluster.get(key), 200, 'GET after rejected writes')
    check(r[2] == b'v', 'value', *r)


def test_content_md5_malformed_400(cluster):
    cases = []
    for bad in ('zz', 'd41d8cd98f00b204e9800998ecf8427', 'g' * 32, 'not base64 at all!!!!!!!'):
        cases.append(('PUT', fresh_key(), 400, b'value', {'Content-MD5': bad}, 'Content-MD5: ' + bad))
    run_cases(cluster, cases)


# -- 8. Content-MD5 -----------------------------------------------------------------

def test_content_md5(cluster):
    body = os.urandom(5000)
    hexmd5 = md5hex(body)
    b64md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
    check(len(b64md5) == 24, 'b64 length')
    k1 = fresh_key()
    expect(cluster.put(k1, body, {'Content-MD5': hexmd5}), 201, 'PUT with correct hex Content-MD5')
    k2 = fresh_key()
    expect(cluster.put(k2, body, {'Content-MD5': b64md5}), 201, 'PUT with correct base64 Content-MD5')
    for k in (k1, k2):
        r = expect(cluster.get(k), 200, 'GET')
        check(r[2] == body, 'value of ' + k)
        check(cluster.dump().get(key_of(k)) == cluster.expected_record(k, hexmd5), 'record of ' + k)
    wrong_hex = md5hex(body + b'x')
    wrong_b64 = base64.b64encode(hashlib.md5(b'other').digest()).decode()
    problems = []
    for wrong in (wrong_hex, wrong_b64):
        k = fresh_key()
        p, _r = reject(cluster, 'PUT', k, 400, body, {'Content-MD5': wrong}, 'wrong Content-MD5 ' + wrong)
        problems += p
        for f in cluster.replica_files(k):
            if os.path.exists(f):
                problems.append('file left behind by a rejected PUT: ' + f)
        r = cluster.request('GET', k)
        if r[0] != 404:
            problems.append('GET after a rejected PUT: ' + show(*r))
        # a later PUT of the same key with the right MD5 works
        r = cluster.put(k, body, {'Content-MD5': hexmd5})
        if r[0] != 201:
            problems.append('PUT after a rejected PUT: ' + show(*r))
    check(not problems, '\n  '.join(problems))


def worker_socket(cluster):
    path = os.path.join(cluster.data, 'fcgi.sock')
    if not os.path.exists(path):
        harness.skip('this front spawns its own workers: no shared FastCGI socket to call')
    return path


def fcgi_params(method, key, **extra):
    p = {'REQUEST_METHOD': method, 'REQUEST_URI': key, 'SERVER_PROTOCOL': 'HTTP/1.1',
         'GATEWAY_INTERFACE': 'CGI/1.1'}
    p.update(extra)
    return p


def test_transfer_encoding_is_a_token_not_a_substring(cluster):
    """A body is chunked only when Transfer-Encoding is exactly "chunked"
    (the fronts refuse other codings, so this goes to the worker directly).
    Matched as a substring, "notchunked" made a PUT without any length read
    its body as chunked and store it."""
    import fcgi_client
    sock = worker_socket(cluster)
    for te in ('notchunked', 'chunked, gzip', 'xchunked'):
        key = fresh_key()
        before = cluster.snapshot()
        st, _h, body = fcgi_client.request(
            sock, fcgi_params('PUT', key, HTTP_TRANSFER_ENCODING=te), b'some value')
        check(st == 411, 'PUT with Transfer-Encoding %r and no length: %d %r' % (te, st, body))
        check(cluster.snapshot() == before, 'PUT with Transfer-Encoding %r changed something' % te)
    key = fresh_key()
    st, _h, body = fcgi_client.request(
        sock, fcgi_params('PUT', key, HTTP_TRANSFER_ENCODING=' Chunked '), b'some value')
    check(st == 201, 'PUT with Transfer-Encoding " Chunked ": %d %r' % (st, body))
    r = cluster.get(key)
    check(r[0] == 200 and r[2] == b'some value', 'GET after the chunked PUT', *r)


def test_front_refuses_a_raw_nul_in_the_request_line(cluster):
    """A raw NUL byte in the path never reaches a worker: libfcgi hands the
    workers each parameter as a C string, so a NUL would cut the key short
    ("/k\\0x" would act on "/k"), and the worker cannot tell.  Both fronts
    refuse it, and the key that the cut would name stays untouched."""
    key = fresh_key()
    expect(cluster.put(key, b'keep me'), 201, 'PUT ' + key)
    before = cluster.snapshot()
    for method in (b'PUT', b'DELETE'):
        data = cluster.raw_request(method + b' ' + key.encode() + b'\x00x HTTP/1.1\r\n'
                                   b'Host: localhost\r\nContent-Length: 3\r\n'
                                   b'Connection: close\r\n\r\nabc')
        status = data.split(b' ', 2)[1] if data.startswith(b'HTTP/') else b''
        # nginx: 400; lighttpd: 403 (its "bad characters in URI" check)
        check(status in (b'400', b'403'),
              '%s with a NUL in the path: %r' % (method.decode(), data[:80]))
    check(cluster.snapshot() == before, 'a request with a NUL in its path changed something')
    r = cluster.get(key)
    check(r[0] == 200 and r[2] == b'keep me', 'GET ' + key, *r)
