"""?list and ?unlinked: JSON shape, byte order, paging, bad queries."""

import json
import urllib.parse

import harness
from harness import check, expect, fresh_key, own_cluster


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


def test_list_paging_under_inserts_skips_nothing(cluster):
    """A pager racing writers sees every key that was there when it began
    exactly once: a page is read in one pass.  (Read in two passes, "next"
    from the first and the keys from the second, a key written inside the
    page between the passes pushed the page's last key past "next": skipped.)
    The writers aim at the page being read: keys just after its start."""
    import threading
    import time
    prefix = fresh_key() + '/'
    base = [prefix + 'k%05d' % i for i in range(2000)]
    put_keys(cluster, base)
    state = {'start': base[0], 'stop': False, 'n': 0}

    def writer(tag):
        i = 0
        while not state['stop']:
            i += 1
            k = '%s~%s%d' % (state['start'], tag, i)
            cluster.put(k, b'eh')
            state['n'] += 1

    threads = [threading.Thread(target=writer, args=(t,)) for t in 'abcdefgh']
    for t in threads:
        t.start()
    rounds = 0
    try:
        deadline = time.time() + 20
        while time.time() < deadline and rounds < 8:
            rounds += 1
            seen, start, pages = [], '', 0
            state['start'] = base[0]
            while True:
                path = prefix + '?list&limit=200'
                if start:
                    path += '&start=' + urllib.parse.quote_plus(start)
                r = expect(cluster.request('GET', path), 200, 'page %d' % pages)
                got = json.loads(r[2])
                seen += got['keys']
                pages += 1
                start = got['next']
                if not start:
                    break
                state['start'] = start
            counts = {}
            for k in seen:
                counts[k] = counts.get(k, 0) + 1
            missing = [k for k in base if counts.get(k, 0) == 0]
            twice = [k for k, n in counts.items() if n > 1]
            check(not missing, 'round %d: %d keys present from the start not listed, e.g. %r '
                  '(%d pages, %d writes so far)' % (rounds, len(missing), missing[:3], pages,
                                                    state['n']))
            check(not twice, 'round %d: keys listed twice: %r' % (rounds, twice[:3]))
            check(seen == sorted(seen, key=lambda k: k.encode()), 'round %d: byte order' % rounds)
    finally:
        state['stop'] = True
        for t in threads:
            t.join()
    check(state['n'] > 0, 'the writers wrote nothing')


@own_cluster
def test_list_large_pages_are_cut_and_complete(cluster):
    """A page whose JSON would pass 1 MiB is cut short with a "next" of its
    own (a worker never holds more), and paging through still yields every
    key once; an unlimited listing streams them all.  100,000 records are
    written straight into the index (tools/bulkload: /bench-0 ... /bench-99999,
    no files)."""
    import os
    import subprocess
    bulkload = os.path.join(cluster.bin, 'tools', 'bulkload')
    if not os.access(bulkload, os.X_OK):
        harness.skip('no tools/bulkload beside the binaries under test (an installed tree)')
    env = dict(cluster.env)
    env['MKV_DB'] = os.path.join(cluster.data, 'index')
    env['MKV_VOLUMES'] = ','.join(cluster.volumes)
    p = subprocess.run([bulkload, '--count=100000'],
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    check(p.returncode == 0, 'bulkload: %s' % p.stdout[-500:])
    want = sorted(('/bench-%d' % i for i in range(100000)), key=lambda k: k.encode())
    r = expect(cluster.request('GET', '/bench-?list&limit=100000'), 200, 'one big page')
    check(len(r[2]) <= (1 << 20) + 64, 'a page of %d bytes' % len(r[2]))
    got = json.loads(r[2])
    check(0 < len(got['keys']) < 100000 and got['next'], 'the big page was not cut: %d keys, '
          'next %r' % (len(got['keys']), got['next']))
    check(got['keys'] == want[:len(got['keys'])] and got['next'] == want[len(got['keys'])],
          'the cut page is not the first keys with the next one as next')
    seen, start = list(got['keys']), got['next']
    while start:
        r = expect(cluster.request('GET', '/bench-?list&limit=100000&start=' +
                                   urllib.parse.quote_plus(start)), 200, 'page from ' + start)
        got = json.loads(r[2])
        seen += got['keys']
        start = got['next']
    check(seen == want, 'paging yielded %d keys, want 100000 in order' % len(seen))
    r = expect(cluster.request('GET', '/bench-?list'), 200, 'unlimited listing')
    check(json.loads(r[2]) == {'next': '', 'keys': want}, 'unlimited listing')
