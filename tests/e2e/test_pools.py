"""Load balancing: independent worker pools (spawn-fcgi + mkv-fcgi each, on
its own socket) behind one front, and two fronts sharing one index."""

import os
import re
import time

import harness
from harness import check, cluster_env, expect, fresh_key, key_of, md5hex, own_cluster, supervised
from test_faults import (LoadClient, alive, conclude, descendants, fmt_op, kill9, read_pid,
                         in_flight_at_recovery, recovery_windows, verify_load)

LOAD_SECONDS = 30
KILL_AT = 10


def pool_pids(cluster, n):
    """The supervisor of pool n and its workers."""
    name = 'fcgi.pid' if n == 1 else 'fcgi-%d.pid' % n
    sup = read_pid(os.path.join(cluster.data, 'pids', name))
    check(sup is not None, 'no supervisor pid for pool %d' % n)
    return sup, descendants(sup)


def serving_pids(cluster, since):
    """Worker pids that logged a request line (log_level 1) after byte
    offset `since` of the log."""
    with open(os.path.join(cluster.data, 'logs', 'fcgi.log'), 'rb') as f:
        f.seek(since)
        text = f.read().decode('utf-8', 'replace')
    return {int(m) for m in re.findall(r'^\S+ (\d+) info (?:GET|PUT|DELETE) ', text, re.M)}


def log_size(cluster):
    return os.path.getsize(os.path.join(cluster.data, 'logs', 'fcgi.log'))


@supervised
@own_cluster
@cluster_env(MKV_POOLS=2, MKV_LOG_LEVEL=1)
def test_pool_killed_under_load(cluster):
    sup1, workers1 = pool_pids(cluster, 1)
    sup2, workers2 = pool_pids(cluster, 2)
    check(len(workers1) >= 2 and len(workers2) >= 2, 'pools: %r %r' % (workers1, workers2))
    # Both pools take requests from the one front.
    off = log_size(cluster)
    for i in range(60):
        expect(cluster.put(fresh_key('/pool-'), b'x%d' % i), 201)
    served = serving_pids(cluster, off)
    check(served & set(workers1) and served & set(workers2),
          'not both pools served: %r vs pool 1 %r, pool 2 %r' % (served, workers1, workers2))

    # Pool 2 (its supervisor and every worker) killed under load.
    load = LoadClient(cluster, threads=4, sizes=(1024, 65536), timeout=15)
    load.start()
    try:
        time.sleep(KILL_AT)
        t_kill = time.time()
        kill9([sup2] + workers2)
        t_killed = time.time()  # every process of pool 2 is gone
        time.sleep(LOAD_SECONDS - KILL_AT)
    finally:
        load.stop()
    windows = recovery_windows(cluster)
    recovered = bool(windows)

    def in_flight(o):
        # under way while pool 2 was being killed (its processes die one by
        # one: a request may still reach one that dies a moment later)
        return o.start <= t_killed + 0.05 and o.end >= t_kill - 0.05

    def in_recovery(o):
        # A worker killed inside a Berkeley DB call leaves the index needing
        # recovery, which a supervisor's monitor runs within 5 s: it stops
        # every worker, so the requests they were serving fail too (in flight
        # when the recovery began).  Requests arriving meanwhile wait in the
        # pools' socket backlogs: they must not fail.
        return any(in_flight_at_recovery(o, a) for a, _b in windows)

    fails = load.failures()
    flight = [o for o in fails if in_flight(o)]
    recov = [o for o in fails if not in_flight(o) and in_recovery(o)]
    other = [o for o in fails if not in_flight(o) and not in_recovery(o)]
    after_ok = [o for o in load.ops if o.ok and o.start > t_kill + 5]
    print('  %s; pool 2 killed at +%ds: %d failed in flight, %d during a recovery%s, %d other' % (
        load.summary(), KILL_AT, len(flight), len(recov),
        ' (the index needed one)' if recovered else '', len(other)))
    check(not other, 'failures not in flight at the kill (recoveries at %s):\n    ' % (
          ', '.join('%+.2fs..%+.2fs' % (a - t_kill, b - t_kill) for a, b in windows) or 'none') +
          '\n    '.join(fmt_op(o, t_kill, 300) for o in other))
    # a client whose request died may send its next one into the dying pool
    check(len(flight) <= 2 * load.nthreads, 'too many failures in flight: %d\n    ' % len(flight)
          + '\n    '.join(fmt_op(o, t_kill, 300) for o in flight))
    check(len(after_ok) >= 20, 'too few successes after the kill: %d' % len(after_ok))
    # pool 1 carries on alone: its supervisor never died
    check(alive(sup1), 'the supervisor of pool 1 died')
    figs, problems = verify_load(cluster, load)
    figs['failed requests'] = len(flight) + len(recov)
    conclude(cluster, 'pools.pool_killed', 1, figs, problems)
    # Pool 2 restarted: both serve again.
    cluster._cluster('pool-start', '2')
    sup2b, workers2b = pool_pids(cluster, 2)
    deadline = time.time() + 15
    served = set()
    while time.time() < deadline and not served & set(workers2b):
        off = log_size(cluster)
        for i in range(20):
            expect(cluster.put(fresh_key('/pool-'), b'y'), 201)
        served = serving_pids(cluster, off)
        workers2b = pool_pids(cluster, 2)[1]
    check(served & set(workers2b), 'restarted pool 2 takes no requests: %r vs %r' % (
        served, workers2b))


@supervised
@own_cluster
def test_two_fronts_share_one_index(cluster):
    """A second front (its own workers, other ports, the other kind of web
    server) on the first one's index and volumes: both see every write."""
    other = 'lighttpd' if cluster.front == 'nginx' else 'nginx'
    env = {
        'MKV_DB': os.path.join(cluster.data, 'index'),
        'MKV_VOLUMES': ','.join(cluster.volumes),
        'MKV_VOLUME_PORTS': '',  # the volumes are the first cluster's
    }
    second = harness.Cluster(front=other, env=env, nvolumes=0)
    try:
        a, b = fresh_key('/two-'), fresh_key('/two-')
        expect(cluster.put(a, b'from the first'), 201, 'PUT on the first front')
        expect(second.put(b, b'from the second'), 201, 'PUT on the second front')
        for c in (cluster, second):
            for k, v in ((a, b'from the first'), (b, b'from the second')):
                r = expect(c.get(k), 200, 'GET %s on the %s front' % (k, c.front))
                check(r[2] == v, 'value', *r)
        expect(second.put(a, b'again'), 403, 'PUT of a key the other front wrote')
        expect(second.delete(a), 204, 'DELETE on the second front')
        expect(cluster.get(a), 404, 'GET on the first front after the other deleted it')
        d = cluster.dump()
        check(key_of(a) not in d and d.get(key_of(b)) == cluster.expected_record(
            b, md5hex(b'from the second')), 'index after both fronts wrote')
    finally:
        second.stop()
