"""PUT/GET/HEAD/DELETE/UNLINK semantics, placement on disk, index records."""

import json
import os

from harness import check, expect, fresh_key, key2path, key_of, md5hex, read_file


def assert_on_disk(cluster, key, body):
    """The value's bytes are on every replica's disk at the oracle's path."""
    for f in cluster.replica_files(key):
        check(os.path.isfile(f), 'missing replica file %s' % f)
        data = read_file(f)
        check(data == body, 'replica %s holds %d bytes (md5 %s), want %d (md5 %s)' % (
            f, len(data), md5hex(data), len(body), md5hex(body)))


def assert_not_on_disk(cluster, key):
    for f in cluster.replica_files(key):
        check(not os.path.exists(f), 'replica file still present: %s' % f)


def assert_record(cluster, key, want):
    rec = cluster.dump().get(key_of(key))
    check(rec == want, 'index record of %r is %r, want %r' % (key_of(key), rec, want))


def list_keys(cluster, path):
    r = expect(cluster.request('GET', path), 200, 'GET ' + path)
    return json.loads(r[2])


# -- 1. PUT -------------------------------------------------------------------

def test_put_stores_replicas_and_record(cluster):
    key = fresh_key()
    body = os.urandom(3000) + b'end'
    r = expect(cluster.put(key, body), 201, 'PUT new key')
    check(r[2] == b'', 'PUT 201 body not empty', *r)
    assert_on_disk(cluster, key, body)
    assert_record(cluster, key, cluster.expected_record(key, md5hex(body)))
    # placement sanity: 3 distinct volumes
    vols = [v.split('/')[0] for v in cluster.placement(key)]
    check(sorted(vols) == sorted(cluster.volumes), 'placement %r' % vols)


def test_put_live_key_403(cluster):
    key = fresh_key()
    expect(cluster.put(key, b'first'), 201, 'PUT')
    expect(cluster.put(key, b'second value'), 403, 'PUT onto a live key')
    assert_on_disk(cluster, key, b'first')
    assert_record(cluster, key, cluster.expected_record(key, md5hex(b'first')))
    r = expect(cluster.get(key), 200, 'GET after refused overwrite')
    check(r[2] == b'first', 'value changed by a refused PUT', *r)


def test_put_empty_411(cluster):
    key = fresh_key()
    expect(cluster.put(key, b'', headers={'Content-Length': '0'}), 411, 'PUT with Content-Length: 0')
    check(key_of(key) not in cluster.dump(), 'index record left by a 411 PUT')
    assert_not_on_disk(cluster, key)
    expect(cluster.request('GET', key), 404, 'GET after 411')


def test_put_chunked(cluster):
    key = fresh_key()
    chunks = [b'a' * 10, os.urandom(70000), b'', b'tail']  # the empty one is skipped
    body = b''.join(chunks)
    expect(cluster.request('PUT', key, iter(chunks), chunked=True), 201, 'chunked PUT')
    assert_on_disk(cluster, key, body)
    assert_record(cluster, key, cluster.expected_record(key, md5hex(body)))
    r = expect(cluster.get(key), 200, 'GET chunked value')
    check(r[2] == body, 'chunked value read back differs (%d bytes)' % len(r[2]))


# -- 2. GET / HEAD --------------------------------------------------------------

def test_get_redirect_and_headers(cluster):
    key = fresh_key()
    body = b'onyou'
    expect(cluster.put(key, body), 201, 'PUT')
    placement = cluster.placement(key)
    locations = {'http://%s%s' % (v, key2path(key_of(key))) for v in placement}
    seen = set()
    for method in ['GET'] * 8 + ['HEAD'] * 2:
        r = expect(cluster.request(method, key), 302, method)
        st, h, b = r
        check(h.get('location') in locations,
              '%s Location %r not one of the replicas %r' % (method, h.get('location'), sorted(locations)), *r)
        seen.add(h['location'])
        check(h.get('content-md5') == md5hex(body), '%s Content-Md5' % method, *r)
        check(h.get('key-volumes') == ','.join(placement),
              '%s Key-Volumes, want %r' % (method, ','.join(placement)), *r)
        check(h.get('key-balance') == 'balanced', '%s Key-Balance' % method, *r)
        if method == 'HEAD':
            check(b == b'', 'HEAD has a body', *r)
        f = expect(cluster.follow(*r), 200, 'GET Location %s' % h['location'])
        check(f[2] == body, 'value behind the redirect', *f)
    print('  %d distinct replica(s) in 10 redirects' % len(seen))
    r = expect(cluster.request('GET', key), 302, 'GET')
    f = expect(cluster.follow(*r, headers={'Range': 'bytes=2-5'}), 206, 'Range GET through redirect')
    check(f[2] == b'you', 'Range body', *f)


def test_get_head_missing_404(cluster):
    key = fresh_key()
    for method in ('GET', 'HEAD'):
        r = expect(cluster.request(method, key), 404, method + ' missing key')
        check(r[1].get('content-length') == '0', method + ' 404 Content-Length', *r)
        check(r[2] == b'', method + ' 404 body', *r)


# -- 3. DELETE / UNLINK ---------------------------------------------------------

def test_delete(cluster):
    key = fresh_key()
    expect(cluster.put(key, b'bye'), 201, 'PUT')
    assert_on_disk(cluster, key, b'bye')
    expect(cluster.delete(key), 204, 'DELETE')
    assert_not_on_disk(cluster, key)
    check(key_of(key) not in cluster.dump(), 'index record left after DELETE')
    expect(cluster.request('GET', key), 404, 'GET after DELETE')
    expect(cluster.delete(key), 404, 'second DELETE')


def test_put_and_delete_flush_the_index_before_answering(cluster):
    """docs/compat.md §9.7: a 201 or 204 means the record's change is on disk.  The
    worker commits without waiting for the disk (so other keys' operations
    need not wait on its page locks) and flushes the log after: the flush
    must have happened by the time the answer arrives."""
    key = fresh_key()
    before = cluster.log_flushes()
    expect(cluster.put(key, b'durable'), 201, 'PUT')
    after_put = cluster.log_flushes()
    check(after_put > before, 'no log flush between PUT and its 201 (%d -> %d)' % (
        before, after_put))
    expect(cluster.delete(key), 204, 'DELETE')
    after_delete = cluster.log_flushes()
    check(after_delete > after_put, 'no log flush between DELETE and its 204 (%d -> %d)' % (
        after_put, after_delete))
    check(key_of(key) not in cluster.dump(), 'index record left after DELETE')


def test_unlink(cluster):
    prefix = fresh_key() + '/'
    ka, kb = prefix + 'a', prefix + 'b'
    body = b'unlink me'
    expect(cluster.put(ka, body), 201, 'PUT a')
    expect(cluster.put(kb, b'keep'), 201, 'PUT b')
    r = expect(cluster.request('UNLINK', ka), 204, 'UNLINK')
    check(r[2] == b'', 'UNLINK body', *r)
    expect(cluster.request('GET', ka), 404, 'GET unlinked key')
    expect(cluster.request('HEAD', ka), 404, 'HEAD unlinked key')
    assert_record(cluster, ka, cluster.expected_record(ka, md5hex(body), deleted=True))
    assert_on_disk(cluster, ka, body)
    got = list_keys(cluster, prefix + '?unlinked')
    check(got == {'next': '', 'keys': [ka]}, '?unlinked with prefix: %r' % got)
    got = list_keys(cluster, prefix + '?list')
    check(got == {'next': '', 'keys': [kb]}, '?list with prefix: %r' % got)
    got = list_keys(cluster, '/?unlinked')
    check(ka in got['keys'] and kb not in got['keys'], '/?unlinked: %r' % got)
    expect(cluster.request('UNLINK', ka), 404, 'UNLINK of an unlinked key')
    expect(cluster.delete(ka), 204, 'DELETE of an unlinked key')
    assert_not_on_disk(cluster, ka)
    check(key_of(ka) not in cluster.dump(), 'record left after DELETE of unlinked key')
    got = list_keys(cluster, prefix + '?unlinked')
    check(got == {'next': '', 'keys': []}, '?unlinked after purge: %r' % got)
    expect(cluster.request('UNLINK', fresh_key()), 404, 'UNLINK of a missing key')


def test_put_onto_unlinked(cluster):
    key = fresh_key()
    expect(cluster.put(key, b'old value'), 201, 'PUT')
    expect(cluster.request('UNLINK', key), 204, 'UNLINK')
    expect(cluster.put(key, b'new'), 201, 'PUT onto an unlinked key')
    assert_on_disk(cluster, key, b'new')
    assert_record(cluster, key, cluster.expected_record(key, md5hex(b'new')))
    r = expect(cluster.get(key), 200, 'GET')
    check(r[2] == b'new', 'value after re-PUT', *r)
    expect(cluster.delete(key), 204, 'DELETE')


# -- 9. escaped keys -------------------------------------------------------------

def test_space_and_utf8_key(cluster):
    prefix = fresh_key()
    path = prefix + '/a%20b/%C3%A9'
    key = key_of(path)
    check(key == prefix.encode() + b'/a b/\xc3\xa9', 'key_of')
    body = b'spaces and accents'
    expect(cluster.put(path, body), 201, 'PUT ' + path)
    d = cluster.dump()
    check(key in d, 'no record under the decoded key %r; records with this prefix: %r' % (
        key, {k: v for k, v in d.items() if k.startswith(prefix.encode())}))
    check(d[key] == cluster.expected_record(key, md5hex(body)), 'record %r' % d[key])
    assert_on_disk(cluster, key, body)
    r = expect(cluster.request('GET', path), 302, 'GET ' + path)
    check(r[1].get('key-volumes') == ','.join(cluster.placement(key)), 'Key-Volumes', *r)
    f = expect(cluster.follow(*r), 200, 'follow')
    check(f[2] == body, 'value', *f)
    got = list_keys(cluster, prefix + '/?list')
    check(got == {'next': '', 'keys': [key.decode('utf-8')]}, 'list of the utf-8 key: %r' % got)
    expect(cluster.delete(path), 204, 'DELETE ' + path)
    assert_not_on_disk(cluster, key)
    check(key not in cluster.dump(), 'record left after DELETE')
