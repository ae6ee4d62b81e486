"""Access control: who may write to the volumes (nginx allow/deny in
conf/volume-writers.conf) and to the front (the write_secret setting).

An outsider is simulated by a client bound to 127.0.0.2: on Linux the whole
127.0.0.0/8 is loopback, so the volume sees a source address that its
writers list (127.0.0.1 and ::1) does not allow."""

import http.client
import os

from harness import check, cluster_env, expect, fresh_key, key2path, key_of, md5hex, nginx_only, read_file

OUTSIDER = '127.0.0.2'


def outsider_request(port, method, path, body=None):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10,
                                      source_address=(OUTSIDER, 0))
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        return resp.status, dict((k.lower(), v) for k, v in resp.getheaders()), resp.read()
    finally:
        conn.close()


@nginx_only  # the volumes are nginx under every front: one run is enough
def test_volume_refuses_outsider_writes(cluster):
    key = fresh_key()
    body = b'kept safe'
    expect(cluster.put(key, body), 201, 'PUT through the front (an allowed writer)')
    files = cluster.replica_files(key)
    before = cluster.all_files()
    # the replica's path on its volume, e.g. /sv03/ab/cd/<base64 key>
    rel = '/' + cluster.placement(key)[0].split('/')[1] + key2path(key_of(key))
    for i, port in enumerate(cluster.volume_ports):
        root = cluster.volume_root(i)
        # a new file, and an overwrite of a key's replica, from outside
        for path in ('/sv01/evil', '/evil-top', rel):
            r = outsider_request(port, 'PUT', path, b'injected')
            check(r[0] == 403, 'outsider PUT %s on volume %d: %r' % (path, port, r[:2]))
        check(not os.path.exists(os.path.join(root, 'sv01', 'evil')), 'outsider PUT wrote a file')
        r = outsider_request(port, 'DELETE', rel)
        check(r[0] == 403, 'outsider DELETE on volume %d: %r' % (port, r[:2]))
        for m in ('MKCOL', 'COPY', 'MOVE', 'POST'):
            r = outsider_request(port, m, '/sv02/x')
            check(r[0] in (403, 405), 'outsider %s on volume %d: %r' % (m, port, r[:2]))
    check(cluster.all_files() == before, 'outsiders changed the volumes: %r' % (
        cluster.all_files() ^ before))
    for f in files:
        check(read_file(f) == body, 'replica changed by an outsider: ' + f)
    # reads stay open: a client anywhere follows the redirect to a volume
    st, hdrs, _ = expect(cluster.get(key, follow=False), 302, 'GET')
    loc = hdrs['location']
    port = int(loc.split('/')[2].rsplit(':', 1)[1])
    path = '/' + loc.split('/', 3)[3]
    r = outsider_request(port, 'GET', path)
    check(r[0] == 200 and r[2] == body, 'outsider GET of a replica: %r' % (r[:2],))
    # the front's own writes still work end to end
    expect(cluster.delete(key), 204, 'DELETE through the front')
    for f in files:
        check(not os.path.exists(f), 'replica left after DELETE: ' + f)


SECRET = 's3cret-\u00e9'.encode().hex()


@cluster_env(MKV_WRITE_SECRET=SECRET)
def test_write_secret(cluster):
    key = fresh_key()
    body = b'guarded'
    ok = {'X-Mkv-Secret': SECRET}
    for hdrs, why in ((None, 'writes need the X-Mkv-Secret header'),
                      ({'X-Mkv-Secret': SECRET + 'x'}, 'wrong X-Mkv-Secret'),
                      ({'X-Mkv-Secret': SECRET[:-1]}, 'wrong X-Mkv-Secret'),
                      ({'X-Mkv-Secret': 'x'}, 'wrong X-Mkv-Secret')):
        r = expect(cluster.put(key, body, headers=hdrs), 403, 'PUT without the secret')
        check(r[2] == why.encode() + b'\n', 'reason', *r)
    check(key_of(key) not in cluster.dump(), 'a refused PUT left a record')
    check(not any(os.path.exists(f) for f in cluster.replica_files(key)),
          'a refused PUT left a replica')
    expect(cluster.put(key, body, headers=ok), 201, 'PUT with the secret')
    check(cluster.dump().get(key_of(key)) == cluster.expected_record(key, md5hex(body)), 'record')
    # reads need no secret
    r = expect(cluster.get(key), 200, 'GET without the secret')
    check(r[2] == body, 'value', *r)
    r = expect(cluster.request('GET', '/?list'), 200, 'list without the secret')
    check(key.encode() in r[2], 'key listed', *r)
    for m in ('DELETE', 'UNLINK', 'REBALANCE'):
        if m == 'REBALANCE' and cluster.front != 'nginx':
            continue  # lighttpd answers 501 to methods it does not know
        expect(cluster.request(m, key), 403, m + ' without the secret')
    check(cluster.dump().get(key_of(key)) == cluster.expected_record(key, md5hex(body)),
          'record changed by refused writes')
    expect(cluster.request('UNLINK', key, headers=ok), 204, 'UNLINK with the secret')
    expect(cluster.request('DELETE', key, headers=ok), 204, 'DELETE with the secret')
    check(key_of(key) not in cluster.dump(), 'record left after DELETE')
    # the secret never reaches the log
    logs = cluster.logs_tail(10000)
    check(SECRET not in logs, 'the secret appears in the logs')
