"""The 15 cases of the original's tools/test.py (docs/compat.md §8.1).

`requests` follows redirects on GET (and on HEAD when asked); here the 302 is
followed with harness.Cluster.get.
"""

import hashlib
import json
import urllib.parse

from harness import check, expect, fresh_key, md5hex


def test_getputdelete(cluster):
    key = fresh_key()
    expect(cluster.put(key, b'onyou'), 201, 'PUT')
    r = expect(cluster.get(key), 200, 'GET')
    check(r[2] == b'onyou', 'value', *r)
    expect(cluster.delete(key), 204, 'DELETE')


def test_deleteworks(cluster):
    key = fresh_key()
    expect(cluster.put(key, b'onyou'), 201, 'PUT')
    expect(cluster.delete(key), 204, 'DELETE')
    expect(cluster.get(key), 404, 'GET')


def test_doubledelete(cluster):
    key = fresh_key()
    expect(cluster.put(key, b'onyou'), 201, 'PUT')
    expect(cluster.delete(key), 204, 'DELETE')
    r = cluster.delete(key)
    check(r[0] != 204, 'second DELETE answered 204', *r)
    expect(r, 404, 'second DELETE')


def test_doubleput(cluster):
    key = fresh_key()
    expect(cluster.put(key, b'onyou'), 201, 'PUT')
    r = cluster.put(key, b'onyou')
    check(r[0] != 201, 'second PUT answered 201', *r)
    expect(r, 403, 'second PUT')


def test_doubleputwdelete(cluster):
    key = fresh_key()
    expect(cluster.put(key, b'onyou'), 201, 'PUT')
    expect(cluster.delete(key), 204, 'DELETE')
    expect(cluster.put(key, b'onyou'), 201, 'PUT again')


def test_10keys(cluster):
    keys = [fresh_key() for _ in range(10)]
    for k in keys:
        expect(cluster.put(k, md5hex((cluster.url + k).encode()).encode()), 201, 'PUT ' + k)
    for k in keys:
        r = expect(cluster.get(k), 200, 'GET ' + k)
        check(r[2] == md5hex((cluster.url + k).encode()).encode(), 'value of ' + k, *r)
    for k in keys:
        expect(cluster.delete(k), 204, 'DELETE ' + k)


def test_range_request(cluster):
    key = fresh_key()
    expect(cluster.put(key, b'onyou'), 201, 'PUT')
    r = expect(cluster.get(key, headers={'Range': 'bytes=2-5'}), 206, 'Range GET')
    check(r[2] == b'you', 'range body', *r)


def test_nonexistent_key(cluster):
    expect(cluster.get(fresh_key()), 404, 'GET')


def test_head_request(cluster):
    key = fresh_key()
    r = expect(cluster.get(key, method='HEAD'), 404, 'HEAD missing')
    check(r[1].get('content-length') == '0', 'Content-Length of the 404', *r)
    expect(cluster.put(key, b'onyou'), 201, 'PUT')
    r = expect(cluster.get(key, method='HEAD'), 200, 'HEAD (redirect followed)')
    check(r[1].get('content-length') == '5', 'Content-Length from the volume', *r)


def test_large_key(cluster):
    key = fresh_key()
    body = b'a' * (16 * 1024 * 1024)
    expect(cluster.put(key, body, timeout=300), 201, 'PUT 16 MiB')
    r = expect(cluster.get(key, timeout=300), 200, 'GET 16 MiB')
    check(len(r[2]) == len(body) and r[2] == body, 'value differs (%d bytes)' % len(r[2]))
    expect(cluster.delete(key), 204, 'DELETE')


def test_json_list(cluster):
    key = fresh_key()
    expect(cluster.put(key + '1', b'eh'), 201, 'PUT 1')
    expect(cluster.put(key + '2', b'eh'), 201, 'PUT 2')
    r = expect(cluster.get(key + '?list'), 200, 'list')
    check(json.loads(r[2]) == {'next': '', 'keys': [key + '1', key + '2']}, 'list', *r)


def test_json_list_null(cluster):
    r = expect(cluster.get(fresh_key() + '/DOES_NOT_EXIST?list'), 200, 'list')
    check(json.loads(r[2]) == {'next': '', 'keys': []}, 'empty list', *r)


def test_json_list_limit(cluster):
    prefix = fresh_key()
    keys = [prefix + str(i) for i in range(12)]
    for k in keys:
        expect(cluster.put(k, b'eh'), 201, 'PUT ' + k)
    keys.sort()
    r = expect(cluster.get(prefix + '?list&limit=10'), 200, 'page 1')
    got = json.loads(r[2])
    check(got == {'next': keys[10], 'keys': keys[:10]}, 'page 1', *r)
    r = expect(cluster.get(prefix + '?list&limit=10&start=' + urllib.parse.quote_plus(got['next'])),
               200, 'page 2')
    check(json.loads(r[2]) == {'next': '', 'keys': keys[10:]}, 'page 2', *r)


def test_noemptykey(cluster):
    expect(cluster.put(fresh_key(), b''), 411, 'empty PUT')


def test_content_hash(cluster):
    for _ in range(100):
        key = fresh_key()
        value = (cluster.url + key).encode()
        expect(cluster.put(key, value), 201, 'PUT ' + key)
        r = expect(cluster.request('HEAD', key), 302, 'HEAD without redirects')
        check(r[1].get('content-md5') == hashlib.md5(value).hexdigest(), 'Content-Md5', *r)
