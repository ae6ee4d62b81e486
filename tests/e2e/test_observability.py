"""test_observability.py: GET /?health and GET /?stats (Prometheus text)."""

import re

from harness import check, expect, fresh_key, own_cluster, supervised


def metrics(cluster):
    st, hdrs, body = cluster.request('GET', '/?stats')
    check(st == 200 and hdrs.get('content-type', '').startswith('text/plain'),
          '?stats answered %d %r' % (st, hdrs))
    out = {}
    for line in body.decode().splitlines():
        if line.startswith('#') or not line.strip():
            continue
        m = re.match(r'^([a-z_]+(?:\{[^}]*\})?) (\d+)$', line)
        check(m is not None, 'not a Prometheus sample line: %r' % line)
        out[m.group(1)] = int(m.group(2))
    return out


def delta(after, before, name):
    return after.get(name, 0) - before.get(name, 0)


def test_health(cluster):
    st, hdrs, body = cluster.request('GET', '/?health')
    check(st == 200 and body == b'ok\n', '?health: %d %r' % (st, body))


@supervised  # under lighttpd-spawn each worker process counts on its own
def test_stats_count_real_traffic(cluster):
    before = metrics(cluster)
    a, b = fresh_key(), fresh_key()
    expect(cluster.put(a, b'one'), 201)
    expect(cluster.put(b, b'two'), 201)
    expect(cluster.put(a, b'again'), 403)
    expect(cluster.request('GET', a), 302)
    expect(cluster.request('GET', fresh_key()), 404)
    after = metrics(cluster)
    put2 = 'mkv_requests_total{method="PUT",status="2xx"}'
    put4 = 'mkv_requests_total{method="PUT",status="4xx"}'
    get3 = 'mkv_requests_total{method="GET",status="3xx"}'
    get4 = 'mkv_requests_total{method="GET",status="4xx"}'
    check(delta(after, before, put2) == 2, 'PUT 2xx delta %d' % delta(after, before, put2))
    check(delta(after, before, put4) == 1, 'PUT 4xx delta %d' % delta(after, before, put4))
    check(delta(after, before, get3) == 1, 'GET 3xx delta %d' % delta(after, before, get3))
    check(delta(after, before, get4) == 1, 'GET 4xx delta %d' % delta(after, before, get4))
    check(delta(after, before, 'mkv_value_bytes_in_total') == 6,
          'bytes in delta %d' % delta(after, before, 'mkv_value_bytes_in_total'))
    check(after.get('mkv_index_cache_hits_total', 0) > 0, 'no cache hits reported: %r' % after)
    check(after.get('mkv_worker_starts_total') == 2, 'worker starts: %r' % after)


@supervised
@own_cluster
def test_stats_count_volume_errors(cluster):
    down = cluster.volumes[1]
    before = metrics(cluster)
    cluster.stop_volume(cluster.volume_ports[1])
    st, _, _ = cluster.put(fresh_key(), b'x')
    check(st == 500, 'PUT with a volume down: %d' % st)
    after = metrics(cluster)
    name = 'mkv_volume_errors_total{volume="%s"}' % down
    check(delta(after, before, name) >= 1, 'errors of %s: %d' % (down, delta(after, before, name)))
    for v in (cluster.volumes[0], cluster.volumes[2]):
        other = 'mkv_volume_errors_total{volume="%s"}' % v
        check(delta(after, before, other) == 0, 'errors counted for healthy %s' % v)
