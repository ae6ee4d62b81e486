"""Large values (streamed) and concurrent PUTs of one key."""

import hashlib
import os
import tempfile
import threading

from harness import check, expect, file_md5, fresh_key, key_of, md5hex, show


def make_file(size, chunk=1 << 20):
    """A temp file of `size` random bytes; returns (path, md5 hex)."""
    h = hashlib.md5()
    fd, path = tempfile.mkstemp(prefix='mkv-e2e-value-')
    with os.fdopen(fd, 'wb') as f:
        left = size
        while left:
            b = os.urandom(min(chunk, left))
            h.update(b)
            f.write(b)
            left -= len(b)
    return path, h.hexdigest()


def round_trip(cluster, size):
    key = fresh_key()
    path, digest = make_file(size)
    try:
        with open(path, 'rb') as f:
            r = cluster.put(key, f, {'Content-Length': str(size)}, timeout=180)
        expect(r, 201, 'PUT of %d bytes' % size)
    finally:
        os.unlink(path)
    rec = cluster.dump().get(key_of(key))
    check(rec == cluster.expected_record(key, digest), 'record %r' % rec)
    for f in cluster.replica_files(key):
        check(os.path.isfile(f), 'replica missing: ' + f)
        st = os.path.getsize(f)
        check(st == size, 'replica %s has %d bytes, want %d' % (f, st, size))
        check(file_md5(f) == digest, 'replica %s md5 differs' % f)
    r = expect(cluster.request('GET', key), 302, 'GET')
    check(r[1].get('content-md5') == digest, 'Content-Md5', *r)
    h = hashlib.md5()
    n = [0]

    def sink(b):
        h.update(b)
        n[0] += len(b)
    st, hdrs, _ = cluster.follow(*r, timeout=180, stream_to=sink)
    check(st == 200, 'GET Location status %d' % st)
    check(n[0] == size and h.hexdigest() == digest,
          'read back %d bytes md5 %s, want %d md5 %s' % (n[0], h.hexdigest(), size, digest))
    expect(cluster.delete(key), 204, 'DELETE')
    for f in cluster.replica_files(key):
        check(not os.path.exists(f), 'replica left after DELETE: ' + f)


def test_value_10mb(cluster):
    round_trip(cluster, 10 * 1000 * 1000 + 7)


def test_value_200mb(cluster):
    round_trip(cluster, 200 * 1000 * 1000 + 3)


def test_concurrent_puts_same_key(cluster):
    key = fresh_key()
    n = 20
    bodies = [os.urandom(1 << 20) for _ in range(n)]
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        try:
            barrier.wait(30)
            results[i] = cluster.put(key, bodies[i], timeout=120)
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = (None, {}, repr(e).encode())
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    statuses = [r[0] for r in results]
    summary = {s: statuses.count(s) for s in set(statuses)}
    print('  concurrent PUT statuses: %r' % summary)
    winners = [i for i, s in enumerate(statuses) if s == 201]
    others = [results[i] for i, s in enumerate(statuses) if s not in (201, 409, 403)]
    check(len(winners) == 1, 'want exactly one 201, got %r' % summary)
    check(not others, 'unexpected answers: ' + '; '.join(show(*r) for r in others))
    body = bodies[winners[0]]
    r = expect(cluster.get(key), 200, 'GET after the race')
    check(md5hex(r[2]) == md5hex(body), 'stored value is not the winner\'s body')
    rec = cluster.dump().get(key_of(key))
    check(rec == cluster.expected_record(key, md5hex(body)), 'record %r' % rec)
    for f in cluster.replica_files(key):
        check(file_md5(f) == md5hex(body), 'replica %s is not the winner\'s body' % f)
    expect(cluster.delete(key), 204, 'DELETE')
