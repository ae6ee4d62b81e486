"""?list and ?unlinked: JSON shape, byte order, paging, bad queries."""

import json
import urllib.parse

from harness import check, expect, fresh_key


def compact(obj):
    return json.dumps(obj, separators=(',', ':')).encode()


def put_keys(cluster, keys):
    for k in keys:
        expect(cluster.put(k, b'eh'), 201, 'PUT ' + k)


def test_list_shape_and_order(cluster):
    prefix = fresh_key() + '/'
    keys = [prefix + s for s in ('b', 'a', 'B', 'a0', 'a/x', '~', '-')]
    put_keys(cluster, keys)
    r = expect(cluster.request('GET', prefix + '?list'), 200, 'GET ?list')
    want = compact({'next': '', 'keys': [k.decode() for k in sorted(k.encode() for k in keys)]})
    check(r[1].get('content-type') == 'application/json', 'Content-Type', *r)
    check(r[2] == want, 'list body, want %r' % want, *r)
    # a prefix that is not a directory boundary
    r = expect(cluster.request('GET', prefix + 'a?list'), 200, 'GET a?list')
    want = compact({'next': '', 'keys': [prefix + 'a', prefix + 'a/x', prefix + 'a0']})
    check(r[2] == want, 'prefix a body, want %r' % want, *r)


def test_list_empty(cluster):
    r = expect(cluster.request('GET', fresh_key() + '/DOES_NOT_EXIST?list'), 200, 'empty list')
    check(r[2] == b'{"next":"","keys":[]}', 'empty list body', *r)
    check(r[1].get('content-type') == 'application/json', 'Content-Type', *r)
    r = expect(cluster.request('GET', fresh_key() + '?unlinked'), 200, 'empty unlinked')
    check(r[2] == b'{"next":"","keys":[]}', 'empty unlinked body', *r)


def test_list_limit_paging(cluster):
    prefix = fresh_key()
    keys = [prefix + str(i) for i in range(12)]
    put_keys(cluster, keys)
    ordered = [k.decode() for k in sorted(k.encode() for k in keys)]
    r = expect(cluster.request('GET', prefix + '?list&limit=10'), 200, 'limit=10')
    got = json.loads(r[2])
    check(got == {'next': ordered[10], 'keys': ordered[:10]}, 'first page', *r)
    path = prefix + '?list&limit=10&start=' + urllib.parse.quote_plus(got['next'])
    r = expect(cluster.request('GET', path), 200, 'second page')
    check(json.loads(r[2]) == {'next': '', 'keys': ordered[10:]}, 'second page ' + path, *r)
    # exactly limit keys left: no next
    path = prefix + '?list&limit=2&start=' + urllib.parse.quote_plus(ordered[10])
    r = expect(cluster.request('GET', path), 200, 'exact last page')
    check(json.loads(r[2]) == {'next': '', 'keys': ordered[10:]}, 'exact last page ' + path, *r)
    for lim in ('0', '-1', '-100'):
        r = expect(cluster.request('GET', prefix + '?list&limit=' + lim), 200, 'limit=' + lim)
        check(json.loads(r[2]) == {'next': '', 'keys': ordered}, 'limit=%s means no limit' % lim, *r)
    r = expect(cluster.request('GET', prefix + '?list&limit=1'), 200, 'limit=1')
    check(json.loads(r[2]) == {'next': ordered[1], 'keys': ordered[:1]}, 'limit=1', *r)


def test_list_bad_queries(cluster):
    prefix = fresh_key()
    expect(cluster.put(prefix + 'x', b'eh'), 201, 'PUT')
    for q in ('?list&limit=abc', '?unlinked&limit=abc', '?list&limit=1x'):
        r = expect(cluster.request('GET', prefix + q), 400, 'GET ' + q)
        check(r[2].strip() != b'', 'empty 400 body for ' + q, *r)
    for q in ('?list=1', '?foo', '?limit=1&list', '?List', '?unlinked=yes'):
        r = expect(cluster.request('GET', prefix + q), 400, 'unknown query operation ' + q)
        check(r[2].strip() != b'', 'empty 400 body for ' + q, *r)
