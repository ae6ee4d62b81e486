"""Settings: protect and fallback (each on a cluster of its own settings)."""

import os

from harness import check, cluster_env, expect, fresh_key, key2path, key_of, md5hex, read_file


@cluster_env(MKV_PROTECT='yes')
def test_protect(cluster):
    key = fresh_key()
    body = b'protected value'
    expect(cluster.put(key, body), 201, 'PUT')
    r = expect(cluster.delete(key), 403, 'DELETE of a live key under protect')
    for f in cluster.replica_files(key):
        check(os.path.isfile(f) and read_file(f) == body, 'replica gone after refused DELETE: ' + f)
    check(cluster.dump().get(key_of(key)) == cluster.expected_record(key, md5hex(body)),
          'record changed by a refused DELETE: %r' % cluster.dump().get(key_of(key)))
    r = expect(cluster.get(key), 200, 'GET after refused DELETE')
    check(r[2] == body, 'value', *r)
    expect(cluster.request('UNLINK', key), 204, 'UNLINK under protect')
    expect(cluster.request('GET', key), 404, 'GET after UNLINK')
    expect(cluster.delete(key), 204, 'DELETE of the unlinked key under protect')
    for f in cluster.replica_files(key):
        check(not os.path.exists(f), 'replica left after DELETE: ' + f)
    check(key_of(key) not in cluster.dump(), 'record left after DELETE')
    expect(cluster.delete(key), 404, 'DELETE again')


@cluster_env(MKV_FALLBACK='127.0.0.1:9')
def test_fallback(cluster):
    # a missing key, escaped in the Location
    for method in ('GET', 'HEAD'):
        r = expect(cluster.request(method, '/a%20b'), 302, method + ' missing /a b with fallback')
        check(r[1].get('location') == 'http://127.0.0.1:9/a%20b', 'fallback Location', *r)
    p = fresh_key()
    r = expect(cluster.request('GET', p + '/x'), 302, 'GET missing key')
    check(r[1].get('location') == 'http://127.0.0.1:9' + p + '/x', 'fallback Location', *r)
    # the query is not part of the key and is dropped
    r = expect(cluster.request('HEAD', p + '/x?foo=bar'), 302, 'HEAD missing key with query')
    check(r[1].get('location') == 'http://127.0.0.1:9' + p + '/x', 'fallback Location', *r)
    # a live key still goes to a replica
    key = fresh_key()
    body = b'live'
    expect(cluster.put(key, body), 201, 'PUT')
    r = expect(cluster.request('GET', key), 302, 'GET live key')
    locs = {'http://%s%s' % (v, key2path(key_of(key))) for v in cluster.placement(key)}
    check(r[1].get('location') in locs, 'live key Location', *r)
    # an unlinked key goes to the fallback
    expect(cluster.request('UNLINK', key), 204, 'UNLINK')
    for method in ('GET', 'HEAD'):
        r = expect(cluster.request(method, key), 302, method + ' unlinked key with fallback')
        check(r[1].get('location') == 'http://127.0.0.1:9' + key, 'fallback Location of unlinked key', *r)
