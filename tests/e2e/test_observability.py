"""test_observability.py: GET /?health and GET /?stats (Prometheus text), and
the per-request log line."""

import os
import re
import threading
import time

from harness import check, cluster_env, expect, fresh_key, own_cluster, skip, supervised


def metrics(cluster, raw=None):
    """The samples of GET /?stats as {name{labels}: number}; every metric has
    a # TYPE line.  raw (a list) gets the body's length appended."""
    st, hdrs, body = cluster.request('GET', '/?stats')
    check(st == 200 and hdrs.get('content-type', '').startswith('text/plain'),
          '?stats answered %d %r' % (st, hdrs))
    if raw is not None:
        raw.append(len(body))
    out, typed = {}, set()
    for line in body.decode().splitlines():
        m = re.match(r'^# TYPE ([a-z_]+) (counter|gauge)$', line)
        if m:
            typed.add(m.group(1))
        if line.startswith('#') or not line.strip():
            continue
        m = re.match(r'^(([a-z_]+)(?:\{[^}]*\})?) (\d+(?:\.\d+)?)$', line)
        check(m is not None, 'not a Prometheus sample line: %r' % line)
        check(m.group(2) in typed, 'sample without a # TYPE line before it: %r' % line)
        out[m.group(1)] = float(m.group(3)) if '.' in m.group(3) else int(m.group(3))
    return out


def delta(after, before, name):
    return after.get(name, 0) - before.get(name, 0)


def test_health(cluster):
    st, hdrs, body = cluster.request('GET', '/?health')
    check(st == 200 and body == b'ok\n', '?health: %d %r' % (st, body))


@supervised  # under lighttpd-spawn each worker process counts on its own
def test_stats_count_real_traffic(cluster):
    raw = []
    before = metrics(cluster, raw)
    a, b = fresh_key(), fresh_key()
    expect(cluster.put(a, b'one'), 201)
    expect(cluster.put(b, b'two'), 201)
    reason = expect(cluster.put(a, b'again'), 403)[2]
    expect(cluster.request('GET', a), 302)
    expect(cluster.request('GET', fresh_key()), 404)
    after = metrics(cluster)
    # response bytes: the 403's reason and the first scrape (counted once
    # it was sent); the second scrape is not counted yet
    out = delta(after, before, 'mkv_response_bytes_out_total')
    check(out == len(reason) + raw[0], 'bytes out delta %d, want %d + %d' % (
        out, len(reason), raw[0]))
    check('mkv_index_cache_misses_total' in after and
          0 < after.get('mkv_index_cache_hit_ratio', 0) <= 1, 'cache figures: %r' % after)
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


def slow_put(cluster, key, started, release, result):
    """A chunked PUT whose body stops after its first chunk until `release`
    is set: under nginx (which streams the body) its worker holds the key's
    lock meanwhile."""
    def body():
        yield b'first chunk '
        started.set()
        release.wait(20)
        yield b'and the rest'
    result.append(cluster.request('PUT', key, body(), chunked=True))


@supervised
def test_stats_count_refused_locks(cluster):
    """A write refused because another write of the key is in flight (409)
    counts as a refused no-wait lock.  nginx only: lighttpd buffers the
    whole body before the worker sees the request, so nothing is in flight."""
    if cluster.front != 'nginx':
        skip('the %s front buffers the whole body first: no write is in flight' % cluster.front)
    key = fresh_key()
    started, release, result = threading.Event(), threading.Event(), []
    before = metrics(cluster)
    t = threading.Thread(target=slow_put, args=(cluster, key, started, release, result))
    t.start()
    try:
        check(started.wait(10), 'the slow PUT did not start')
        time.sleep(0.3)  # its worker has the request and the lock
        expect(cluster.put(key, b'second writer'), 409, 'PUT while another is in flight')
        expect(cluster.delete(key), 409, 'DELETE while a PUT is in flight')
        after = metrics(cluster)
    finally:
        release.set()
        t.join(30)
    expect(result[0], 201, 'the slow PUT')
    name = 'mkv_index_lock_nowait_refused_total'
    check(delta(after, before, name) == 2, 'refused locks delta %d, want 2' % delta(after, before, name))
    r = expect(cluster.get(key), 200)
    check(r[2] == b'first chunk and the rest', 'slow PUT stored %r' % r[2])


@own_cluster
@cluster_env(MKV_LOG_LEVEL=1)
def test_request_log_line(cluster):
    """log_level = 1: one line per request with method, key, status, bytes
    received and sent, duration and the volume."""
    key, missing = fresh_key(), fresh_key()
    path = os.path.join(cluster.data, 'logs', 'fcgi.log')
    # Under lighttpd-spawn the workers lighttpd starts may not have opened
    # (created) their log yet: nothing logged so far.
    start = os.path.getsize(path) if os.path.exists(path) else 0
    expect(cluster.put(key, b'twelve bytes'), 201)
    st, hdrs, _ = expect(cluster.request('GET', key), 302)
    reason = expect(cluster.put(key, b'again'), 403)[2]
    expect(cluster.request('GET', missing), 404)
    expect(cluster.delete(key), 204)
    deadline = time.time() + 5
    lines = []
    while time.time() < deadline:
        with open(path, 'rb') as f:
            f.seek(start)
            lines = [ln for ln in f.read().decode('utf-8', 'replace').splitlines()
                     if ' info ' in ln and (key in ln or missing in ln)]
        if len(lines) >= 5:
            break
        time.sleep(0.1)
    pat = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (\d+) info (\S+) (\S+) (\d{3}) '
                     r'in=(\d+)B out=(\d+)B (\d+\.\d)ms(?: vol=(\S+))?$')
    got = []
    for ln in lines:
        m = pat.match(ln)
        check(m is not None, 'log line not in the documented form: %r' % ln)
        got.append(m.groups()[1:])
    place = cluster.placement(key)
    want = [
        ('PUT', key, '201', '12', '0', place[0]),
        ('GET', key, '302', '0', '0', None),
        ('PUT', key, '403', '0', str(len(reason)), None),
        ('GET', missing, '404', '0', '0', None),
        ('DELETE', key, '204', '0', '0', place[0]),
    ]
    check(len(got) == len(want), 'request lines: %r' % lines)
    for g, w in zip(got, want):
        check(g[:5] == w[:5], 'log line %r, want %r' % (g, w))
        if w[5]:
            check(g[6] == w[5], 'volume of %r, want %s' % (g, w[5]))
    # the GET names the volume it redirected to
    check(got[1][6] and hdrs['location'].split('://', 1)[1].startswith(got[1][6] + '/'),
          'GET vol=%r, Location %s' % (got[1][6], hdrs['location']))
