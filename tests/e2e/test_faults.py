"""Faults: volumes down, killed (kill -9 mid-PUT), out of disk space or hanging;
replica files removed by hand; a worker, or the whole front (front server,
supervisor and workers), killed with SIGKILL.

Every fault but the first (test_volume_down) is injected under LoadClient,
writer threads that PUT fresh keys, read each back and DELETE every other one,
recording every acknowledged write.  verify_load() then checks, once the fault
is over, that every 201 not deleted since reads back byte-identical through the
front, that every 204 stays gone, that no failed PUT left a live record, a
replica GET could redirect to, or files without a record, and that no key is
left locked (a fresh PUT and DELETE of every key a fault hit work).  Each such
test prints its figures and records them with harness.record_figures; run.py
prints the table at the end of the run.
"""

import collections
import datetime
import json
import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time

from harness import (FULL_FAULTS, check, cluster_env, supervised, expect, fresh_key, key2path, key2volume,
                     key_of, md5hex, mkv_bin, nginx_only, own_cluster, read_file, record_figures, show)


@own_cluster
def test_volume_down(cluster):
    stopped = cluster.volume_ports[0]
    down = cluster.volumes[0]
    old = fresh_key()
    old_body = b'written before the volume went down'
    expect(cluster.put(old, old_body), 201, 'PUT before the stop')
    problems = []   # collected, so one failure does not hide the others
    cluster.stop_volume(stopped)
    try:
        # several sizes: small values finish on the live replicas while the
        # dead one fails, which is where clean-up races show
        for size in (10, 10, 10, 1000, 200000):
            key = fresh_key()
            check(down in [v.split('/')[0] for v in cluster.placement(key)], 'placement misses the stopped volume')
            body = os.urandom(size)
            t0 = time.time()
            r = cluster.put(key, body, timeout=120)
            dt = time.time() - t0
            print('  PUT of %d bytes with %s down: %d after %.2fs, body %r' % (size, down, r[0], dt, r[2][:200]))
            what = 'PUT of %d bytes (%s): ' % (size, key)
            if r[0] != 500:
                problems.append(what + 'want 500, got ' + show(*r))
            if not r[2].strip():
                problems.append(what + 'no reason in the 500 body: ' + show(*r))
            if r[2].lstrip().lower().startswith((b'<html', b'<?xml', b'<!doctype')):
                problems.append(what + 'the front answered, not the worker: ' + show(*r))
            time.sleep(0.2)  # let a late replica write land, if the worker did not wait for it
            for v, f in zip(cluster.placement(key), cluster.replica_files(key)):
                if os.path.exists(f):
                    problems.append(what + 'file left on %s after the failed PUT: %s' % (v, f))
            rec = cluster.dump().get(key_of(key))
            if rec is not None:
                problems.append(what + 'index record left after the failed PUT: %r' % rec)
            r = cluster.request('GET', key)
            if r[0] != 404:
                problems.append(what + 'GET after the failed PUT: want 404, got ' + show(*r))
        # reads of older keys survive: the probe skips the dead replica
        for _ in range(6):
            r = cluster.request('GET', old)
            if r[0] != 302 or down in r[1].get('location', ''):
                problems.append('GET of an old key with %s down: want a 302 to another replica, got %s' % (
                    down, show(*r)))
                break
            f = cluster.follow(*r)
            if f[0] != 200 or f[2] != old_body:
                problems.append('GET of an old key, following %s: %s' % (r[1]['location'], show(*f)))
                break
    finally:
        cluster.start_volume(stopped)
    r = cluster.put(key, body)
    if r[0] != 201:
        problems.append('PUT of the same key after the restart: want 201, got ' + show(*r))
    else:
        for f in cluster.replica_files(key):
            if not (os.path.isfile(f) and read_file(f) == body):
                problems.append('replica after restart missing or wrong: ' + f)
        r = cluster.get(key)
        if r[0] != 200 or r[2] != body:
            problems.append('GET after restart: ' + show(*r))
    check(not problems, '%d problem(s):\n  ' % len(problems) + '\n  '.join(problems))


# ---------------------------------------------------------------------------
# Load client, checks after a fault, figures
# ---------------------------------------------------------------------------

# One operation of the load: times, method, key, outcome, HTTP status (None:
# no answer at all) and a short description of the answer or the exception.
Op = collections.namedtuple('Op', 'start end what key ok status detail')


def brief(r, limit=200):
    """status and body of a response, without the headers."""
    return 'status=%s body=%r' % (r[0], r[2][:limit])


def one_line_reason(r):
    """The worker's one-line text/plain reason of an error answer, or None."""
    body = r[2]
    if not r[1].get('content-type', '').startswith('text/plain'):
        return None
    if not body.endswith(b'\n') or body.count(b'\n') != 1 or not body.strip():
        return None
    return body.decode('utf-8', 'replace').strip()


def indeterminate(op):
    """A failed PUT whose outcome the client cannot know: no answer at all,
    or the front's 502/503/504 or own 500 page (the worker died or went away).  It may have
    been committed; it must then read back whole."""
    if op.status is None or op.status in (502, 503, 504):
        return True
    # lighttpd answers its own 500 page when the worker dies mid-request
    # (the worker's own 500s are one line of text/plain, never HTML)
    page = op.detail.lower()
    return op.status == 500 and ('<html' in page or '<!doctype html' in page)


class LoadClient:
    """Writer threads, each in a loop: PUT a fresh key (a value of a size
    drawn from `sizes`, ending with the key), GET it back through the front,
    and DELETE every other key.  Everything is recorded:

      ops        every operation (Op), in completion order
      acked      number of PUTs answered 201
      kept       {key: value}: answered 201 and not deleted since
      deleted    keys whose DELETE was answered 204
      failed     {key: Op}: PUTs not answered 201
      failed_md5 {key: MD5 hex of the value} of the indeterminate() ones
      uncertain  {key: value}: acknowledged keys whose DELETE failed (the key
                 must be either gone or intact)
      inflight   {key: start}: PUTs under way right now
    """

    def __init__(self, cluster, threads=3, sizes=(65536, 65536), timeout=30, prefix='/load-',
                 pause=0.05, interval=0.0, accept=None):
        self.cluster = cluster
        self.accept = accept        # keys are drawn until accept(key) holds
        self.nthreads = threads
        self.sizes = sizes
        self.timeout = timeout
        self.prefix = prefix
        self.pause = pause          # after a failure (a dead front refuses at once)
        self.interval = interval    # minimum time per loop (to bound the volume written)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.ops = []
        self.acked = 0
        self.kept = {}
        self.deleted = set()
        self.failed = {}
        self.failed_md5 = {}
        self.uncertain = {}
        self.inflight = {}
        self.threads = []

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        self.threads = [threading.Thread(target=self._writer, daemon=True)
                        for _ in range(self.nthreads)]
        for th in self.threads:
            th.start()

    def stop(self):
        self.stopping.set()
        deadline = time.time() + self.timeout + 30
        for th in self.threads:
            th.join(max(0.1, deadline - time.time()))
        check(not any(th.is_alive() for th in self.threads), 'a load thread hung')

    def _record(self, start, what, key, ok, status, detail):
        op = Op(start, time.time(), what, key, ok, status, detail)
        with self.lock:
            self.ops.append(op)
        return op

    def _call(self, fn, *args):
        """(response, None) or (None, 'description of the exception')."""
        try:
            return fn(*args, timeout=self.timeout), None
        except Exception as e:  # noqa: BLE001
            return None, '%s: %s' % (type(e).__name__, e)

    def _writer(self):
        c = self.cluster
        i = random.randrange(2)
        while not self.stopping.is_set():
            t_loop = time.time()
            i += 1
            key = fresh_key(self.prefix)
            while self.accept and not self.accept(key):
                key = fresh_key(self.prefix)
            size = random.randint(*self.sizes)
            body = os.urandom(max(1, size - len(key))) + key.encode()
            t = time.time()
            with self.lock:
                self.inflight[key] = t
            r, err = self._call(c.put, key, body)
            with self.lock:
                self.inflight.pop(key, None)
            if r is None or r[0] != 201:
                op = self._record(t, 'PUT', key, False, r and r[0], err or brief(r))
                with self.lock:
                    self.failed[key] = op
                    if indeterminate(op):
                        self.failed_md5[key] = md5hex(body)
                time.sleep(self.pause)
                continue
            self._record(t, 'PUT', key, True, 201, '')
            with self.lock:
                self.acked += 1
                self.kept[key] = body
            t = time.time()
            g, err = self._call(c.get, key)
            ok = g is not None and g[0] == 200 and g[2] == body
            self._record(t, 'GET', key, ok, g and g[0], '' if ok else err or brief(g))
            if i % 2 == 0:
                t = time.time()
                d, err = self._call(c.delete, key)
                ok = d is not None and d[0] == 204
                self._record(t, 'DELETE', key, ok, d and d[0], '' if ok else err or brief(d))
                with self.lock:
                    self.kept.pop(key, None)
                    if ok:
                        self.deleted.add(key)
                    else:
                        self.uncertain[key] = body
            rest = self.interval - (time.time() - t_loop)
            if rest > 0:
                time.sleep(rest)

    # -- views ---------------------------------------------------------------

    def failures(self):
        return [o for o in self.ops if not o.ok]

    def summary(self):
        by = collections.Counter((o.what, o.ok) for o in self.ops)
        return '%d ops: PUT %d ok/%d failed, GET %d/%d, DELETE %d/%d' % (
            len(self.ops), by['PUT', True], by['PUT', False], by['GET', True],
            by['GET', False], by['DELETE', True], by['DELETE', False])


def fmt_op(o, t0, n=200):
    return '%+.2fs..%+.2fs %s %s: %s' % (o.start - t0, o.end - t0, o.what, o.key, o.detail[:n])


def stray_files(cluster, key):
    """Files of key on any volume's disk, under any subvolume (placement
    aside: a volume list changed by a test places keys elsewhere)."""
    out = []
    kp = key2path(key_of(key) if isinstance(key, str) else key)
    for i in range(len(cluster.volume_ports)):
        root = cluster.volume_root(i)
        dirs = [root] if cluster.subvolumes == 1 else [
            os.path.join(root, 'sv%02X' % sv) for sv in range(cluster.subvolumes)]
        out += [d + kp for d in dirs if os.path.exists(d + kp)]
    return out


def retry_409(fn, deadline):
    """fn() until it answers something other than 409 or the deadline passed."""
    while True:
        r = fn()
        if r[0] != 409 or time.time() >= deadline:
            return r
        time.sleep(0.2)


def verify_load(cluster, load, volumes=None, lock_wait=10.0):
    """The checks after a fault, with the cluster serving normally again.
    volumes: the volume list the load's PUTs were placed over (default the
    cluster's).  Returns ({'acknowledged', 'lost', 'orphans'}, problems)."""
    volumes = volumes or cluster.volumes
    problems, lost, orphans = [], [], []
    d = cluster.dump()

    def live(key):
        rec = d.get(key_of(key))
        return rec is not None and not rec.startswith('DELETED')

    recovering = []

    def read(key):
        # An admin tool's open (the dump above) can find a process the fault
        # killed still in the environment's registry and recover it; the
        # workers answer 503 "needs recovery" until they rejoin (a second
        # or so), by design: retried for a bounded time, and reported.
        deadline = time.time() + 20.0
        while True:
            try:
                g = cluster.get(key, timeout=30)
            except Exception as e:  # noqa: BLE001
                return (None, {}, repr(e).encode())
            if g[0] != 503 or b'needs recovery' not in g[2] or time.time() > deadline:
                return g
            if not recovering:
                print('  %s: 503 during a recovery, retried' % key)
            recovering.append(key)
            time.sleep(0.2)

    # every 201 not deleted since reads back byte-identical, with its record
    for key, body in sorted(load.kept.items()):
        g = read(key)
        want = 'HASH%s%s' % (md5hex(body), ','.join(
            key2volume(key_of(key), volumes, cluster.replicas, cluster.subvolumes)))
        rec = d.get(key_of(key))
        if g[0] != 200 or g[2] != body:
            lost.append('acknowledged %s does not read back: %s' % (key, brief(g, 120)))
        elif rec != want:
            lost.append('acknowledged %s: record %r, want %r' % (key, rec, want))
    # every 204 stays gone, files included
    for key in sorted(load.deleted):
        r = cluster.request('GET', key)
        if r[0] != 404 or key_of(key) in d:
            lost.append('deleted %s is back: GET %s, record %r' % (key, brief(r, 80),
                                                                  d.get(key_of(key))))
        files = stray_files(cluster, key)
        if files:
            problems.append('deleted %s (204) left files: %s' % (key, files))
    # a failed DELETE leaves the key gone or intact, never torn
    for key, body in sorted(load.uncertain.items()):
        g = read(key)
        if g[0] == 404:
            if live(key):
                problems.append('%s: GET 404 but its record is live: %r' % (key, d.get(key_of(key))))
        elif g[0] != 200 or g[2] != body:
            lost.append('%s (DELETE failed) is neither gone nor intact: %s' % (key, brief(g, 120)))
    # a failed PUT leaves no live record, nothing GET redirects to, no files
    # without a record; one that may have been committed reads back whole
    soft = 0
    for key, op in sorted(load.failed.items()):
        rec = d.get(key_of(key))
        soft += rec is not None and rec.startswith('DELETED')
        r = cluster.request('GET', key)
        if indeterminate(op) and live(key):
            g = read(key)
            if g[0] != 200 or md5hex(g[2]) != load.failed_md5.get(key):
                orphans.append('%s (PUT answered %s) is live but does not read back: %s' % (
                    key, op.status, brief(g, 120)))
            continue
        if live(key):
            problems.append('failed PUT %s (%s) left a live record %r' % (key, op.detail[:80], rec))
        if r[0] != 404:
            orphans.append('failed PUT %s (%s): GET answers %s' % (key, op.detail[:80], brief(r, 80)))
        files = stray_files(cluster, key)
        if rec is None and files:
            problems.append('failed PUT %s (%s) left files and no record: %s' % (
                key, op.detail[:80], files))
    # no key stays locked: a fresh PUT and DELETE of every key a fault hit
    deadline = time.time() + lock_wait
    for key in sorted(set(load.failed) | set(load.uncertain)):
        r = retry_409(lambda: cluster.put(key, b'written again after the fault', timeout=30),
                      deadline)
        if r[0] not in (201, 403):
            problems.append('PUT of %s (hit by the fault) afterwards: %s' % (key, brief(r, 120)))
            continue
        r = retry_409(lambda: cluster.delete(key, timeout=30), deadline)
        if r[0] != 204:
            problems.append('DELETE of %s (hit by the fault) afterwards: %s' % (key, brief(r, 120)))
            continue
        r = cluster.request('GET', key)
        if r[0] != 404:
            problems.append('GET of %s after its DELETE: %s' % (key, brief(r, 80)))
    problems = lost + orphans + problems
    figs = {'acknowledged': load.acked, 'lost': len(lost), 'orphans': len(orphans)}
    print('  %s; %d failed PUT(s) (%d left SOFT), %d acknowledged key(s) checked, %d deleted' % (
        load.summary(), len(load.failed), soft, len(load.kept), len(load.deleted)))
    return figs, problems


CRASH_SIGNALS = {4, 5, 6, 7, 8, 11, 31}  # ILL TRAP ABRT BUS FPE SEGV SYS


def count_crashes(cluster):
    """Processes that died of a crash signal (logged by the mkv-fcgi
    supervisor or an nginx master), plus sanitizer reports."""
    n = 0
    for root, _dirs, files in os.walk(cluster.data):
        if '/volumes/' in root + '/' and '/data' in root:
            continue
        for f in files:
            if not f.endswith('.log') or f == 'access.log':
                continue
            try:
                with open(os.path.join(root, f), 'rb') as fh:
                    text = fh.read().decode('utf-8', 'replace')
            except OSError:
                continue
            n += sum(int(m.group(1)) in CRASH_SIGNALS
                     for m in re.finditer(r'(?:killed by|exited on) signal (\d+)', text))
    return n + bool(cluster.sanitizer_reports())


def report(cluster, name, faults, figs):
    """Print and record (harness.record_figures) a test's figures."""
    row = {'faults': faults, 'acknowledged': figs['acknowledged'], 'lost': figs['lost'],
           'orphans': figs['orphans'], 'crashes': count_crashes(cluster)}
    print('  faults %(faults)d, acknowledged %(acknowledged)d, lost %(lost)d, '
          'orphans %(orphans)d, crashes %(crashes)d' % row)
    record_figures('%s [%s]' % (name, cluster.front), row)
    return row


def conclude(cluster, name, faults, figs, problems):
    row = report(cluster, name, faults, figs)
    if row['crashes']:
        problems.append('%d crash(es) in the logs:\n%s' % (row['crashes'], cluster.logs_tail(20)))
    check(not problems, '%d problem(s):\n  ' % len(problems) + '\n  '.join(problems[:40]))


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------

def alive(pid):
    """The process exists and is not a zombie."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            st = f.read()
    except OSError:
        return False
    return st.rsplit(')', 1)[-1].split()[0] != 'Z'


def descendants(pid):
    out = []
    p = subprocess.run(['pgrep', '-P', str(pid)], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    for child in (int(x) for x in p.stdout.split()):
        out += [child] + descendants(child)
    return out


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def kill9(pids, timeout=10.0):
    """SIGKILL every pid at once, then wait until all are gone."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.time() + timeout
    while any(alive(p) for p in pids):
        check(time.time() < deadline, 'processes survived SIGKILL: %r' % [p for p in pids if alive(p)])
        time.sleep(0.02)


def fix_pidfile(src, dst, name, timeout=5.0):
    """After a restart: wait for the server's own pid file to name a live
    process and copy it to tools/cluster's pid file (a stale one left by a
    SIGKILL could otherwise be copied, and the new server never stopped)."""
    deadline = time.time() + timeout
    while True:
        pid = read_pid(src)
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                cmd = f.read().decode('utf-8', 'replace')
        except (OSError, TypeError):
            cmd = ''
        if pid and alive(pid) and name in cmd:
            with open(dst, 'w') as f:
                f.write('%d\n' % pid)
            return pid
        check(time.time() < deadline, 'no live %s pid in %s after the restart' % (name, src))
        time.sleep(0.05)


def wait_ready(cluster, timeout=30.0):
    """Wait until the front answers GET /?health with 200."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = cluster.request('GET', '/?health', timeout=5)
            if last[0] == 200:
                return
        except Exception as e:  # noqa: BLE001
            last = (None, {}, repr(e).encode())
        time.sleep(0.1)
    raise AssertionError('the front is not serving: %s\n%s' % (brief(last), cluster.logs_tail(20)))


def restart_workers(cluster, volumes):
    """Restart the workers with another volume list (lighttpd-spawn: the
    front, whose children they are)."""
    cluster.env['MKV_VOLUMES'] = ','.join(volumes)
    if cluster.front == 'lighttpd-spawn':
        cluster._cluster('front-stop')
        cluster._cluster('front-start')
    else:
        cluster._cluster('workers-stop')
        cluster._cluster('workers-start')
    wait_ready(cluster)


# ---------------------------------------------------------------------------
# A worker killed under load
# ---------------------------------------------------------------------------

def wait_children(cluster, n, exclude=(), timeout=10.0):
    deadline = time.time() + timeout
    pids = []
    while time.time() < deadline:
        pids = cluster.worker_pids()
        if len(pids) == n and not set(pids) & set(exclude):
            return pids
        time.sleep(0.1)
    raise AssertionError('want %d worker children (not %r), have %r' % (n, list(exclude), pids))


def recovery_windows(cluster):
    """[(start, end)] epoch times of the recoveries the supervisors logged."""
    out, start = [], None
    with open(os.path.join(cluster.data, 'logs', 'fcgi.log'), errors='replace') as f:
        for line in f:
            if 'index needs recovery: stopping' in line or 'index recovered' in line:
                t = datetime.datetime.strptime(line.split()[0], '%Y-%m-%dT%H:%M:%S.%fZ')
                t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
                if 'stopping' in line:
                    start = t
                elif start is not None:
                    out.append((start, t))
                    start = None
    if start is not None:
        out.append((start, start + 30))
    return out



def in_flight_at_recovery(o, start):
    """Whether operation o was under way when a recovery began at `start`:
    from the moment failchk finds the index needs recovery (a worker died
    inside Berkeley DB) every index call fails at once (503), some tenths of
    a second before the supervisor logs that it stops the workers."""
    return o.start <= start + 0.05 and o.end >= start - 0.5


def kill_workers_under_load(cluster, kills, name):
    """kill -9 a worker `kills` times (about 1.5 s apart, each after the
    previous one was respawned) while 3 load threads PUT/GET/DELETE fresh
    keys (64 KiB values, so a kill likely lands mid-request); check that only
    requests around a kill fail, that a worker is respawned each time, and
    then verify_load(): acknowledged writes read back, failed ones left nothing
    live, no key stays locked."""
    wait_children(cluster, 2)
    load = LoadClient(cluster, threads=3, sizes=(65536, 65536), timeout=15)
    load.start()
    kill_times = []
    respawns = []   # (victim, seconds to respawn or None, children after)
    try:
        time.sleep(2.5 if kills == 1 else 1.5)
        for _ in range(kills):
            pids = cluster.worker_pids()
            if not pids:
                respawns.append((None, None, pids))
                break
            victim = pids[0]
            t_kill = time.time()
            kill_times.append(t_kill)
            os.kill(victim, signal.SIGKILL)
            t_respawn = None
            while time.time() < t_kill + 6.0:
                pids = cluster.worker_pids()
                if t_respawn is None and len(pids) == 2 and victim not in pids:
                    t_respawn = time.time()
                if t_respawn is not None and time.time() >= t_kill + (2.5 if kills == 1 else 1.5):
                    break
                time.sleep(0.05)
            respawns.append((victim, t_respawn and t_respawn - t_kill, pids))
            if t_respawn is None:
                break
        # A kill inside a Berkeley DB call costs a full recovery (about 2.5 s
        # of 502s): keep the load on long enough to see the service back.
        time.sleep(2.5)
    finally:
        load.stop()
    t0 = kill_times[0] if kill_times else time.time()
    t_last = kill_times[-1] if kill_times else t0

    windows = recovery_windows(cluster)

    def near_kill(o):
        # in flight at a kill (the killed worker's requests), or when a
        # recovery began (a kill inside BDB: the supervisor stops every
        # worker; requests arriving meanwhile wait in the socket's backlog)
        return any(o.start <= k + 0.05 and o.end >= k - 0.05 for k in kill_times) or any(
            in_flight_at_recovery(o, a) for a, _b in windows)

    ops = load.ops
    around = [o for o in ops if not o.ok and near_kill(o)]
    other = [o for o in ops if not o.ok and not near_kill(o)]
    after_ok = [o for o in ops if o.ok and o.start > t_last + 3.0]
    before_ok = [o for o in ops if o.ok and o.end < t0]
    print('  %d ops (%d ok before the first kill, %d ok after last kill+3s); %d failure(s) around the kill(s)%s' % (
        len(ops), len(before_ok), len(after_ok), len(around),
        ''.join('\n    ' + fmt_op(o, t0) for o in around)))
    for victim, dt, pids in respawns:
        print('  killed worker %s: %s; children now %r' % (
            victim, 'respawned after %.2fs' % dt if dt is not None else 'NOT respawned', pids))
    check(all(dt is not None for _v, dt, _p in respawns) and len(respawns) == kills,
          'no worker respawned within 6s of a kill: %r; children now %r (supervisor %d)' % (
              respawns, cluster.worker_pids(), cluster.supervisor_pid()))
    check(not other, '%d failure(s) away from the kill(s):\n    ' % len(other) +
          '\n    '.join(fmt_op(o, t0, 300) for o in other))
    check(len(around) <= 6 * kills, 'too many failures around the kill(s): %d' % len(around))
    check(len(before_ok) >= 10, 'too few operations before the kill: %d' % len(before_ok))
    check(len(after_ok) >= 10, 'too few successful operations after the kill(s): %d; children %r' % (
        len(after_ok), cluster.worker_pids()))
    wait_children(cluster, 2, timeout=1.0)
    figs, problems = verify_load(cluster, load)
    key = fresh_key()
    r = cluster.put(key, b'after the kill')
    if r[0] != 201:
        problems.append('final PUT: ' + show(*r))
    else:
        r = cluster.get(key)
        if r[0] != 200 or r[2] != b'after the kill':
            problems.append('final GET: ' + show(*r))
        r = cluster.delete(key)
        if r[0] != 204:
            problems.append('final DELETE: ' + show(*r))
    conclude(cluster, name, len(kill_times), figs, problems)


@supervised
@own_cluster
@cluster_env(MKV_WORKERS=2)
def test_worker_kill(cluster):
    kill_workers_under_load(cluster, 1, 'faults.worker_kill')


@supervised
@own_cluster
@cluster_env(MKV_WORKERS=2)
def test_worker_kill_repeated(cluster):
    """Kills in a row (5; 50 under `make faults`): more chances to hit a
    worker inside the index."""
    kill_workers_under_load(cluster, 50 if FULL_FAULTS else 5, 'faults.worker_kill_repeated')


# ---------------------------------------------------------------------------
# A volume nginx killed (kill -9) in the middle of PUTs, then restarted
# ---------------------------------------------------------------------------

def volume_processes(cluster, port):
    """The volume nginx's master and workers."""
    master = read_pid(os.path.join(cluster.data, 'pids', 'volume-%d.pid' % port))
    check(master is not None and alive(master), 'no live nginx for volume %d' % port)
    return [master] + descendants(master)


def wait_upload(cluster, port, timeout=5.0):
    """Wait until the volume nginx is receiving a PUT body (it spools each
    into body_temp/ and renames it into place when complete); False on
    timeout.  Killing it then cuts a PUT in the middle of its transfer."""
    spool = os.path.join(cluster.data, 'volumes', str(port), 'body_temp')
    stale = set(os.listdir(spool))  # left by an earlier kill
    deadline = time.time() + timeout
    while time.time() < deadline:
        with os.scandir(spool) as it:
            if any(e.name not in stale for e in it):
                return True
    return False


@own_cluster
def test_volume_kill_mid_put(cluster):
    """kill -9 one volume's nginx (master and workers) while 3 load threads
    PUT values of 256 KiB-2 MiB, keep it down a second, restart it; repeat
    until a kill has cut a PUT in the middle of its transfer (at most 4
    times; each kill waits for a PUT body being received).  PUTs fail only
    while it is down, each with a 500 naming it; GETs
    keep working from the other replicas; then verify_load()."""
    port, vol = cluster.volume_ports[0], cluster.volumes[0]
    root = os.path.dirname(cluster.volume_root(0))
    load = LoadClient(cluster, threads=3, sizes=(256 << 10, 2 << 20), timeout=30)
    windows = []   # (kill time, restart time, PUTs in flight at the kill)
    received = []  # per kill: was a PUT body being received at that moment
    problems = []

    def cut(o):   # a PUT that failed other than by being refused outright
        return o.what == 'PUT' and o.status == 500 and "Couldn't connect" not in o.detail

    load.start()
    try:
        time.sleep(1.5)
        while len(windows) < 4:
            procs = volume_processes(cluster, port)
            receiving = wait_upload(cluster, port)
            inflight = len(load.inflight)
            t_kill = time.time()
            kill9(procs)
            time.sleep(1.0)
            os.unlink(os.path.join(root, 'nginx.pid'))
            cluster.start_volume(port)
            fix_pidfile(os.path.join(root, 'nginx.pid'),
                        os.path.join(cluster.data, 'pids', 'volume-%d.pid' % port), 'nginx')
            windows.append((t_kill, time.time(), inflight if receiving else -inflight))
            received.append(receiving)
            time.sleep(1.5)
            # A body was being received at the kill: that PUT was cut in the
            # middle.  (Its error need not say so: libcurl retries a request
            # that died on a reused connection, which then cannot connect.)
            if receiving:
                break
    finally:
        load.stop()
    t0 = windows[0][0]

    def in_window(o):
        # in flight at the kill or started while the volume was down (the
        # restart is followed by a short grace for keep-alive connections)
        return any(o.end >= k and o.start <= up + 0.3 for k, up, _n in windows)

    fails = load.failures()
    outside = [o for o in fails if not in_window(o)]
    cuts = [o for o in fails if cut(o)]
    print('  %d kill(s) of %s (PUTs in flight at each, negative: none was being received): %s; '
          '%d failure(s), %d not refused outright%s' % (
        len(windows), vol, [n for _k, _u, n in windows], len(fails), len(cuts),
        ''.join('\n    ' + fmt_op(o, t0) for o in cuts[:8])))
    for o in outside:
        problems.append('failure while %s was up: %s' % (vol, fmt_op(o, t0)))
    for o in fails:
        if o.what == 'GET':
            # reads go to the live replicas; only a redirect that raced the
            # kill itself may fail
            if not any(o.start <= k + 0.1 and o.end >= k for k, _u, _n in windows):
                problems.append('GET failed with one volume down: %s' % fmt_op(o, t0))
        elif o.status != 500 or vol not in o.detail:
            problems.append('%s did not fail with a 500 naming %s: %s' % (o.what, vol, fmt_op(o, t0)))
    if not any(received):
        problems.append('no kill landed in the middle of a PUT in %d tries' % len(windows))
    after = [o for o in load.ops if o.ok and o.what == 'PUT' and o.start > windows[-1][1] + 0.3]
    if len(after) < 3:
        problems.append('only %d PUT(s) succeeded after the last restart' % len(after))
    figs, more = verify_load(cluster, load)
    conclude(cluster, 'faults.volume_kill_mid_put', len(windows), figs, problems + more)


# ---------------------------------------------------------------------------
# The whole front killed (kill -9) during writes, restarted with tools/cluster
# ---------------------------------------------------------------------------

@supervised
@own_cluster
def test_front_kill(cluster):
    """kill -9 at once the front server (master and workers), the mkv-fcgi
    supervisor and all its children, while 3 load threads write; restart
    them with tools/cluster (the supervisor recovers the index).  Operations
    fail only between the kill and the restart; then verify_load()."""
    pids_dir = os.path.join(cluster.data, 'pids')
    front_dir = os.path.join(cluster.data, 'front')
    load = LoadClient(cluster, threads=3, sizes=(256 << 10, 1 << 20), timeout=30)
    load.start()
    try:
        time.sleep(2.0)
        front = read_pid(os.path.join(pids_dir, 'front.pid'))
        sup = cluster.supervisor_pid()
        check(front and alive(front) and alive(sup), 'front %r or supervisor %r not running' % (
            front, sup))
        procs = [front] + descendants(front) + [sup] + descendants(sup)
        # strike while PUTs are under way, one of them already streaming to
        # the volumes (a volume nginx is receiving a body into body_temp/)
        spools = [os.path.join(cluster.data, 'volumes', str(p), 'body_temp')
                  for p in cluster.volume_ports]
        deadline = time.time() + 5.0
        while time.time() < deadline and not (
                len(load.inflight) >= 2 and any(os.listdir(d) for d in spools)):
            time.sleep(0.001)
        inflight = len(load.inflight)
        t_kill = time.time()
        kill9(procs)
        time.sleep(0.5)
        # what the killed processes left: stale pid files and the socket
        for f in (os.path.join(pids_dir, 'front.pid'), os.path.join(pids_dir, 'fcgi.pid'),
                  os.path.join(front_dir, 'nginx.pid'), os.path.join(front_dir, 'lighttpd.pid')):
            if os.path.exists(f):
                os.unlink(f)
        t_restart = time.time()
        cluster._cluster('workers-start')
        cluster._cluster('front-start')
        fix_pidfile(os.path.join(front_dir, 'nginx.pid' if cluster.front == 'nginx' else 'lighttpd.pid'),
                    os.path.join(pids_dir, 'front.pid'), cluster.front)
        # The restarted supervisor serves once its start-up recovery is done:
        # when the registry still counts a killed worker alive, the plain
        # recovery's failchk fails and the forced one follows, each allowed
        # RECOVER_TIMEOUT (20 s, fcgi/main.c) before it is killed.  CI met a
        # restart slower than 30 s this way.
        wait_ready(cluster, timeout=2 * 20 + 10)
        t_ready = time.time()
        time.sleep(2.0)
    finally:
        load.stop()
    fails = load.failures()
    outside = [o for o in fails if not (o.end >= t_kill and o.start <= t_ready)]
    before = [o for o in load.ops if o.ok and o.end < t_kill]
    after = [o for o in load.ops if o.ok and o.start > t_ready]
    print('  killed %d processes (%d PUTs in flight); restarted in %.2fs, serving after %.2fs; '
          '%d failure(s), %d before the kill ok, %d after ok' % (
              len(procs), inflight, t_restart - t_kill, t_ready - t_kill, len(fails), len(before),
              len(after)))
    problems = ['failure outside the outage: ' + fmt_op(o, t_kill) for o in outside]
    if inflight < 1:
        problems.append('no PUT was under way at the kill')
    if len(before) < 10 or len(after) < 10:
        problems.append('too few operations succeeded before (%d) or after (%d) the outage' % (
            len(before), len(after)))
    figs, more = verify_load(cluster, load)
    conclude(cluster, 'faults.front_kill', 1, figs, problems + more)


# ---------------------------------------------------------------------------
# A volume's disk full
# ---------------------------------------------------------------------------

def volume_files(cluster, i):
    root = cluster.volume_root(i)
    out = []
    for d, _dirs, files in os.walk(root):
        out += [os.path.join(d, f) for f in files]
    return out


@own_cluster
def test_volume_disk_full(cluster):
    """One volume's root (tools/cluster's volumes/PORT: its data/ and the
    body_temp/ nginx receives PUTs into) on a 4 MiB tmpfs, under a light load
    of small values: PUTs of values larger than its free space fail with a
    500 naming that volume, in one line; nothing of them stays on any volume
    (not even a partial file on the full one), no record, and the space is
    free again.  The load's own PUTs may fail while a big one fills the
    disk; the same rules apply to them.

    (With only data/ on the small disk, nginx receives into body_temp/ on
    another file system and copies across: a copy that runs out of space
    leaves its partial "<file>.<10 digits>" behind, which nothing removes.
    That is nginx's doing; the volume root is where a disk belongs.)"""
    port, vol = cluster.volume_ports[0], cluster.volumes[0]
    root = os.path.dirname(cluster.volume_root(0))
    problems, big = [], []
    cluster.stop_volume(port)
    mounted = False
    try:
        subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', root], check=True,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        mounted = True
        cluster.start_volume(port)
        with LoadClient(cluster, threads=2, sizes=(1 << 10, 8 << 10), interval=0.02) as load:
            time.sleep(1.0)
            for n in range(3):
                st = os.statvfs(root)
                free = st.f_bavail * st.f_frsize
                # larger than the whole disk, then just over what is free
                size = 6 << 20 if n < 2 else free + (256 << 10)
                key = fresh_key('/full-')
                body = os.urandom(size)
                t = time.time()
                r = cluster.put(key, body, timeout=60)
                dt = time.time() - t
                print('  PUT of %d bytes (%d free on %s): %s after %.2fs' % (
                    size, free, vol, brief(r), dt))
                big.append(key)
                why = one_line_reason(r)
                if r[0] != 500 or not why or vol not in why:
                    problems.append('PUT of %d bytes onto a full disk: want a 500 naming %s '
                                    'with a one-line reason, got %s' % (size, vol, show(*r)))
            # a value that fits still goes in
            key = fresh_key('/full-fits-')
            r = cluster.put(key, b'fits', timeout=30)
            if r[0] != 201:
                problems.append('PUT of 4 bytes with space left: ' + show(*r))
            else:
                expect(cluster.delete(key), 204, 'DELETE of the small value')
            time.sleep(0.5)
        d = cluster.dump()
        for key in big:
            files = stray_files(cluster, key)
            if files:
                problems.append('the failed PUT %s left files: %s' % (key, files))
            if key_of(key) in d:
                problems.append('the failed PUT %s left a record: %r' % (key, d[key_of(key)]))
            r = cluster.request('GET', key)
            if r[0] != 404:
                problems.append('GET of the failed PUT %s: %s' % (key, brief(r)))
        for o in load.failures():
            why = o.detail
            if o.what != 'PUT' or o.status != 500 or vol not in why:
                problems.append('load failure other than a PUT refused by %s: %s' % (vol, fmt_op(o, 0)))
        # no partial file on the full disk: every file is a replica of a key
        # the load still holds (or may hold: a failed DELETE)
        names = {key2path(key_of(k)) for k in list(load.kept) + list(load.uncertain)}
        for f in volume_files(cluster, 0):
            rel = os.path.relpath(f, cluster.volume_root(0))
            if '/' + rel.split('/', 1)[-1] not in names:
                problems.append('file on the full volume that no key owns: %s (%d bytes)' % (
                    rel, os.path.getsize(f)))
        spooled = os.listdir(os.path.join(root, 'body_temp'))
        if spooled:
            problems.append('request bodies left in the full volume\'s body_temp: %s' % spooled)
        figs, more = verify_load(cluster, load)
        problems += more
    finally:
        cluster._cluster('volume-stop', str(port), check=False)
        if mounted:
            p = subprocess.run(['umount', root], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            if p.returncode != 0:
                subprocess.run(['umount', '-l', root])
        cluster.start_volume(port)
    conclude(cluster, 'faults.volume_disk_full', len(big), figs, problems)


# ---------------------------------------------------------------------------
# A volume that accepts connections and never answers
# ---------------------------------------------------------------------------

class HangingVolume:
    """A TCP listener on a free 127.0.0.1 port that accepts every connection
    and never reads nor answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(('127.0.0.1', 0))
        self.sock.listen(256)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.name = '127.0.0.1:%d' % self.port
        self.conns = []
        self.closing = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.closing.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            self.conns.append(c)

    def close(self):
        self.closing.set()
        self.thread.join(5)
        self.sock.close()
        for c in self.conns:
            c.close()


IDLE_MS = 2000
# Requests hung at once in test_volume_hang.  Behind the nginx front, each
# FastCGI connection nginx keeps alive pins the worker thread that accepted it
# (up to `keepalive` x nginx workers of a pool's workers x threads: 32 x 2 of
# 2 x 64 on 2 CPUs, tools/cluster).  A hung request holds its thread for its
# timeouts; the others must keep serving.
HUNG = int(os.environ.get('MKV_E2E_HUNG', '12'))


@own_cluster
@cluster_env(MKV_IDLE_TIMEOUT_MS=IDLE_MS)
def test_volume_hang(cluster):
    """A fourth volume that accepts connections and never answers (idle
    timeout 2 s): under a load of HUNG + 1 writer threads, PUTs placed on it and
    DELETEs reaching it answer a 500 naming it within the timeouts (PUT:
    the write and the clean-up DELETE each time out), the key is not left
    locked, and meanwhile GETs of other keys and ?health keep being answered
    quickly: the hung requests do not take every worker.  Then the volume
    list is restored and verify_load() runs."""
    real = list(cluster.volumes)
    hang = HangingVolume()
    four = real + [hang.name]

    def on_hang(key):
        return hang.name in ','.join(key2volume(key_of(key), four, cluster.replicas,
                                                cluster.subvolumes))
    # keys written before: some (victims) to DELETE while the volume hangs
    # (it is among their placement targets), the others to read meanwhile
    old, victims = {}, []
    while len(old) < 6 or len(victims) < 2:
        key = fresh_key('/hang-old-')
        body = os.urandom(4096) + key.encode()
        expect(cluster.put(key, body), 201, 'PUT before the hang')
        if on_hang(key) and len(victims) < 2:
            victims.append(key)
        old[key] = body
    problems, slow, probes = [], [], []
    stop_probe = threading.Event()

    def prober():
        keys = sorted(set(old) - set(victims))
        i = 0
        while not stop_probe.is_set():
            i += 1
            t = time.time()
            try:
                if i % 4 == 0:
                    r = cluster.request('GET', '/?health', timeout=30)
                    ok = r[0] == 200
                else:
                    key = keys[i % len(keys)]
                    r = cluster.get(key, timeout=30)
                    ok = r[0] == 200 and r[2] == old[key]
            except Exception as e:  # noqa: BLE001
                r, ok = (None, {}, repr(e).encode()), False
            dt = time.time() - t
            probes.append(dt)
            if not ok or dt > 1.5:
                slow.append('%s after %.2fs: %s' % ('?health' if i % 4 == 0 else 'GET', dt, brief(r)))
            time.sleep(0.05)

    # A call fails once its volume moved no byte for idle_timeout_ms (checked
    # at least once a second); a PUT's clean-up DELETE then times out once
    # more.
    idle = IDLE_MS / 1000.0
    bound_put = 2 * (idle + 1.0) + 1.0
    bound_del = idle + 1.0 + 1.0
    # one load writes anywhere (3 keys in 4 go to the hanging volume),
    # another only where the hanging volume is not: it must go on as usual.
    # At most HUNG requests hang at once (HUNG - 1 load threads and the
    # test's own requests, one at a time): see HUNG.
    load = LoadClient(cluster, threads=HUNG - 1, sizes=(1 << 10, 64 << 10), timeout=60,
                      prefix='/hang-')
    other = LoadClient(cluster, threads=2, sizes=(1 << 10, 64 << 10), timeout=60,
                       prefix='/hang-other-', accept=lambda k: not on_hang(k))
    th = threading.Thread(target=prober, daemon=True)
    hung_max = 0
    results = []   # (what, key, response, seconds)

    def call(what, k):
        t = time.time()
        try:
            r = (cluster.put(k, b'onto a hanging volume', timeout=60) if what == 'PUT'
                 else cluster.delete(k, timeout=60))
        except Exception as e:  # noqa: BLE001
            r = (None, {}, repr(e).encode())
        results.append((what, k, r, time.time() - t))
    # the test's own requests onto the hanging volume: a PUT, then a DELETE
    # of the same key (a 409 would say the failed PUT left it locked); and
    # DELETEs of keys written before
    key = fresh_key('/hang-put-')
    while not on_hang(key):
        key = fresh_key('/hang-put-')
    mine = [threading.Thread(target=lambda: [call('PUT', key), call('DELETE', key)] + [
        call('DELETE', v) for v in victims], daemon=True)]
    try:
        restart_workers(cluster, four)
        load.start()
        other.start()
        th.start()
        t_start = time.time()
        for m in mine:
            m.start()
        while time.time() < t_start + 8.0 or any(m.is_alive() for m in mine):
            hung_max = max(hung_max, sum(on_hang(k2) for k2 in list(load.inflight)))
            check(time.time() < t_start + 60, 'requests onto the hanging volume still unanswered '
                  'after 60s')
            time.sleep(0.1)
    finally:
        stop_probe.set()
        load.stop()
        other.stop()
        th.join(60)
        try:
            restart_workers(cluster, real)
        finally:
            hang.close()
    for what, k, r, dt in results:
        why = one_line_reason(r) if r[0] else None
        print('  %s %s: %s after %.2fs' % (what, k, brief(r), dt))
        if r[0] == 404 and what == 'DELETE' and k == key:
            pass  # the failed PUT's clean-up removed its record after all
        elif r[0] != 500 or not why or hang.name not in why or 'no progress for' not in why:
            problems.append('%s %s onto the hanging volume: want a 500 naming %s and the idle '
                            'timeout in one line, got %s' % (what, k, hang.name, brief(r)))
        if dt > (bound_put if what == 'PUT' else bound_del):
            problems.append('%s %s took %.2fs (bound %.1fs)' % (
                what, k, dt, bound_put if what == 'PUT' else bound_del))
    for k in victims:
        g = cluster.request('GET', k)
        if g[0] != 404:
            problems.append('GET of %s after its failed DELETE: %s' % (k, brief(g)))
    fails = load.failures()
    print('  %d probe(s) while hung (max %.2fs), %d slow or failed; up to %d load PUT(s) hung at once' % (
        len(probes), max(probes or [0]), len(slow), hung_max))
    problems += ['probe while the volume hung: ' + s for s in slow[:10]]
    if len(probes) < 20:
        problems.append('only %d probe(s) answered while the volume hung' % len(probes))
    if hung_max < 2:
        problems.append('the load never had 2 PUTs hung at once (%d)' % hung_max)
    for o in fails:
        if o.what == 'PUT':
            bound, want = bound_put, on_hang(o.key)
        else:
            bound, want = bound_del, False
        if not want or o.status != 500 or hang.name not in o.detail:
            problems.append('unexpected load failure: %s' % fmt_op(o, 0))
        if o.end - o.start > bound:
            problems.append('%s took %.2fs (bound %.1fs): %s' % (o.what, o.end - o.start, bound,
                                                                 fmt_op(o, 0)))
    for o in other.failures():
        problems.append('a request not involving the hanging volume failed: %s' % fmt_op(o, 0))
    if sum(o.ok for o in other.ops) < 20:
        problems.append('only %d requests not involving the hanging volume succeeded' % sum(
            o.ok for o in other.ops))
    slow_ok = [o for o in load.ops + other.ops if o.ok and o.end - o.start > 1.5]
    problems += ['a request not involving the hanging volume was slow: ' + fmt_op(o, 0)
                 for o in slow_ok[:5]]
    # the pre-existing keys whose DELETE failed are SOFT: DELETE works now
    for k in victims:
        r = cluster.delete(k)
        if r[0] != 204:
            problems.append('DELETE of %s after the hang: %s' % (k, brief(r)))
        old.pop(k)
    for k, body in old.items():
        g = cluster.get(k)
        if g[0] != 200 or g[2] != body:
            problems.append('GET of %s after the hang: %s' % (k, brief(g)))
    r = cluster.put(key, b'after the hang')
    if r[0] != 201:
        problems.append('PUT of %s after the hang: %s' % (key, brief(r)))
    figs, more = verify_load(cluster, load, volumes=four)
    figs2, more2 = verify_load(cluster, other, volumes=four)
    figs = {k: figs[k] + figs2[k] for k in figs}
    conclude(cluster, 'faults.volume_hang', 1, figs, problems + more + more2)


# ---------------------------------------------------------------------------
# Replica files removed by hand
# ---------------------------------------------------------------------------

def test_replica_removed(cluster):
    """With probe = yes (the default), a GET HEADs the record's replicas in a
    random order and redirects to the first that answers 200 (README
    GET/HEAD, docs/compat.md §4.2): with replica files removed by hand, every redirect
    goes to a replica that still has the value; with all removed, 404 with
    the Key-Volumes of the record (the record stays; DELETE still works).
    Under a light load."""
    problems = []
    removed = 0
    with LoadClient(cluster, threads=2, sizes=(1 << 10, 64 << 10), prefix='/rm-load-') as load:
        for _ in range(3):
            key = fresh_key('/rm-')
            body = os.urandom(100000) + key.encode()
            expect(cluster.put(key, body), 201, 'PUT ' + key)
            vols = cluster.placement(key)
            files = cluster.replica_files(key)
            rec = cluster.dump().get(key_of(key))
            urls = ['%s%s' % (v, key2path(key_of(key))) for v in vols]
            for gone in range(1, len(files)):
                os.unlink(files[gone - 1])
                removed += 1
                seen = set()
                for i in range(6 * (len(files) - gone)):
                    r = cluster.request('HEAD' if i % 3 == 2 else 'GET', key)
                    loc = re.sub(r'^https?://', '', r[1].get('location', ''))
                    if r[0] != 302 or loc not in urls[gone:]:
                        problems.append('%s with %d of %d replicas removed: want a 302 to one of %r, got %s' % (
                            key, gone, len(files), urls[gone:], show(*r)))
                        break
                    seen.add(loc)
                    f = cluster.follow(*r)
                    if f[0] != 200 or f[2] != body:
                        problems.append('%s: following %s: %s' % (key, loc, brief(f)))
                        break
                print('  %s: %d of %d replicas removed, redirects to %d of the rest' % (
                    key, gone, len(files), len(seen)))
            os.unlink(files[-1])
            removed += 1
            for method in ('GET', 'HEAD'):
                r = cluster.request(method, key)
                if r[0] != 404 or r[1].get('key-volumes') != ','.join(vols):
                    problems.append('%s %s with every replica removed: want 404 with Key-Volumes %s, got %s' % (
                        method, key, ','.join(vols), show(*r)))
            now = cluster.dump().get(key_of(key))
            if now != rec:
                problems.append('the record of %s changed: %r, was %r' % (key, now, rec))
            r = cluster.delete(key)
            if r[0] != 204 or key_of(key) in cluster.dump():
                problems.append('DELETE of %s with every replica removed: %s' % (key, brief(r)))
        time.sleep(0.5)
    figs, more = verify_load(cluster, load)
    conclude(cluster, 'faults.replica_removed', removed, figs, problems + more)


# -- the index's disk fails a flush ---------------------------------------------

# While this file exists, tests/shim/failsync.c (preloaded under the workers)
# fails fsync/fdatasync of the index's log files with EIO.
FAILSYNC_FLAG = os.path.join(tempfile.gettempdir(), 'mkv-failsync-%d' % os.getpid())


@nginx_only
@own_cluster
@cluster_env(LD_PRELOAD=os.path.join(mkv_bin(), 'tests', 'libfailsync.so'),
             MKV_FAILSYNC_FLAG=FAILSYNC_FLAG,
             # a preloaded library before an ASan build's runtime is fine here
             ASAN_OPTIONS='verify_asan_link_order=0')
def test_index_flush_failure_leaves_the_key_unlinked(cluster):
    """A PUT whose live record is committed but whose log flush fails (the
    disk answers EIO) gets a 500.  The record went back to SOFT, not left
    live, and the replicas stay on disk: a machine crash may keep either
    record, and neither may name missing files.  DELETE then purges it."""
    expect(cluster.put(fresh_key(), b'before the fault'), 201, 'PUT before the fault')
    key, body = fresh_key(), os.urandom(5000)
    log = os.path.join(cluster.data, 'logs', 'fcgi.log')
    start = os.path.getsize(log)
    open(FAILSYNC_FLAG, 'w').close()
    try:
        r = cluster.put(key, body)
    finally:
        os.unlink(FAILSYNC_FLAG)
    check(r[0] == 500 and b'index flush failed' in r[2], 'PUT while the log flush fails', *r)
    with open(log, 'rb') as f:
        f.seek(start)
        check(b'Input/output error' in f.read(), 'the worker logged no EIO from the flush')
    rec = cluster.dump().get(key_of(key))
    want = cluster.expected_record(key, md5hex(body), deleted=True)
    check(rec == want, 'record after the failed flush: %r, want %r' % (rec, want))
    for f in cluster.replica_files(key):
        check(os.path.isfile(f) and read_file(f) == body, 'replica %s gone or changed' % f)
    expect(cluster.request('GET', key), 404, 'GET of the key left unlinked')
    unlinked = json.loads(expect(cluster.request('GET', key + '?unlinked'), 200)[2])
    check(key_of(key).decode() in unlinked.get('keys', []), '?unlinked: %r' % unlinked)
    expect(cluster.delete(key), 204, 'DELETE of the key left unlinked')
    for f in cluster.replica_files(key):
        check(not os.path.exists(f), 'replica %s left after DELETE' % f)
    check(key_of(key) not in cluster.dump(), 'record left after DELETE')
    # the flush works again: a PUT is acknowledged as usual
    expect(cluster.put(key, body), 201, 'PUT once the disk is back')


# -- a worker whose threads stop (issue 11) ----------------------------------

# While these files exist, tests/shim/dbfault.c (preloaded under the workers)
# makes DB->get answer DB_RUNRECOVERY, or curl_multi_init fail, in the
# process that calls it.
DBFAULT_GET_FLAG = os.path.join(tempfile.gettempdir(), 'mkv-dbfault-get-%d' % os.getpid())
DBFAULT_CURL_FLAG = os.path.join(tempfile.gettempdir(), 'mkv-dbfault-curl-%d' % os.getpid())
DBFAULT_ENV = dict(LD_PRELOAD=os.path.join(mkv_bin(), 'tests', 'libdbfault.so'),
                   MKV_DBFAULT_GET=DBFAULT_GET_FLAG, MKV_DBFAULT_CURL=DBFAULT_CURL_FLAG,
                   ASAN_OPTIONS='verify_asan_link_order=0')


def _worker_starts(cluster, must=True):
    st, _hdrs, body = cluster.request('GET', '/?stats')
    m = re.search(rb'^mkv_worker_starts_total (\d+)', body, re.M)
    if not must and not (st == 200 and m):
        return None
    check(st == 200 and m, '?stats: %d %r' % (st, body[:300]))
    return int(m.group(1))


def _wait_worker_starts(cluster, want, seconds):
    """The starts counted once they reach want (or at the deadline).  While
    workers fail to start, a ?stats request can meet one that accepted it
    and then exited (502): that is the fault at work, so it is asked again."""
    deadline = time.time() + seconds
    n = _worker_starts(cluster, must=False)
    while (n is None or n < want) and time.time() < deadline:
        time.sleep(0.1)
        n = _worker_starts(cluster, must=False) or n
    return n if n is not None else _worker_starts(cluster)


@nginx_only
@own_cluster
@cluster_env(**DBFAULT_ENV)
def test_worker_exits_after_index_panic(cluster):
    """A request that meets DB_RUNRECOVERY (injected in one worker: the
    environment itself is sound) makes its worker exit with status 3, not
    hang with its main thread asleep; the supervisor starts a new one, which
    serves."""
    key, body = fresh_key(), os.urandom(1000)
    expect(cluster.put(key, body), 201, 'PUT before the fault')
    log_start = cluster.worker_log_size()
    before = _worker_starts(cluster)
    open(DBFAULT_GET_FLAG, 'w').close()
    try:
        r = cluster.request('GET', key)
    finally:
        os.unlink(DBFAULT_GET_FLAG)
    check(r[0] >= 500, 'GET while the index fails', *r)
    after = _wait_worker_starts(cluster, before + 1, 15)
    check(after > before, 'no worker started after a worker met DB_RUNRECOVERY (%d starts)' % after)
    log = cluster.worker_log(log_start)
    check('exited with status 3' in log, 'the worker did not exit with status 3: %s' % log[-2000:])
    for _ in range(10):
        expect(cluster.request('GET', key), 302, 'GET after the new worker started')


@nginx_only
@own_cluster
@cluster_env(**DBFAULT_ENV)
def test_worker_whose_threads_cannot_start_is_respawned(cluster):
    """A worker none of whose threads can create its volume client exits
    (status 1) instead of lingering with nothing serving, and the supervisor
    keeps starting new ones (once a second, no tight loop) until one
    starts."""
    log_start = cluster.worker_log_size()
    before = _worker_starts(cluster)
    open(DBFAULT_CURL_FLAG, 'w').close()
    try:
        os.kill(cluster.worker_pids()[0], signal.SIGKILL)
        during = _wait_worker_starts(cluster, before + 3, 10)
    finally:
        os.unlink(DBFAULT_CURL_FLAG)
    check(during >= before + 3, 'a worker whose threads failed was not respawned: %d starts, '
          '%d before' % (during, before))
    check(during <= before + 12, 'respawned in a tight loop: %d starts' % (during - before))
    log = cluster.worker_log(log_start)
    check('exited with status 1' in log, 'no worker exited with status 1: %s' % log[-2000:])
    time.sleep(2)  # the next one starts without the fault
    key, body = fresh_key(), os.urandom(1000)
    expect(cluster.put(key, body), 201, 'PUT once threads start again')
    for _ in range(10):
        expect(cluster.request('GET', key), 302, 'GET once threads start again')
