"""test_rebuild_rebalance.py: mkv-rebuild and mkv-rebalance against a real cluster.

Each test owns its cluster (volumes are added, removed and stopped) and runs on
the nginx front only: the admin tools never talk to the front.
"""

import os
import random
import re
import signal
import subprocess
import threading
import tempfile
import time

from harness import (check, expect, fresh_key, key_of, md5hex, nginx_only, own_cluster,
                     free_port, built_tool, esc)


def tool_env(cluster, volumes=None, db=None):
    """The environment of an admin tool: the cluster's index (or db) and
    volumes (or the given list)."""
    env = dict(cluster.env)
    env['MKV_DB'] = db or os.path.join(cluster.data, 'index')
    env['MKV_VOLUMES'] = ','.join(volumes or cluster.volumes)
    return env


def start_tool(cluster, name, *args, volumes=None, **popen):
    """Start build/mkv-<name> in the background; returns the Popen."""
    return subprocess.Popen([os.path.join(cluster.bin, 'mkv-' + name)] + list(args),
                            env=tool_env(cluster, volumes), **popen)


def tool(cluster, name, *args, volumes=None, db=None, timeout=300):
    """Run build/mkv-<name>; returns (exit code, stdout, stderr)."""
    p = subprocess.run([os.path.join(cluster.bin, 'mkv-' + name)] + list(args),
                       env=tool_env(cluster, volumes, db),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


def restart_workers(cluster, volumes):
    cluster.env['MKV_VOLUMES'] = ','.join(volumes)
    cluster._cluster('workers-stop')
    cluster._cluster('workers-start')


def put_keys(cluster, n, size=64, prefix='/rb-'):
    """PUT n fresh keys; returns {path: value}."""
    out = {}
    for i in range(n):
        path = fresh_key(prefix)
        value = os.urandom(size) + path.encode()
        expect(cluster.put(path, value), 201, 'PUT %s' % path)
        out[path] = value
    return out


def without_hash(rec):
    return re.sub(r'HASH[0-9a-f]{32}', '', rec)


def add_volume(cluster):
    """Start one more volume server; returns its name."""
    port = free_port()
    cluster.start_volume(port)
    cluster.volume_ports.append(port)
    cluster.volumes.append('127.0.0.1:%d' % port)
    return cluster.volumes[-1]


def check_layout(cluster, values, volumes):
    """Every key's bytes sit exactly at its placement over `volumes`, nothing
    else is on any volume, each record lists that placement (hash kept), and
    GET follows to the right bytes."""
    from harness import key2volume
    dump = cluster.dump()
    want_files = set()
    for path, value in values.items():
        key = key_of(path)
        place = key2volume(key, volumes, cluster.replicas, cluster.subvolumes)
        check(dump.get(key) == 'HASH' + md5hex(value) + ','.join(place),
              'record of %s: %r, placement %r' % (path, dump.get(key), place))
        for vp in place:
            f = cluster.disk_path(vp, key)
            check(os.path.exists(f), 'missing replica %s of %s' % (f, path))
            if os.path.exists(f):
                with open(f, 'rb') as fh:
                    check(fh.read() == value, 'wrong bytes in %s' % f)
            want_files.add(os.path.relpath(f, cluster.data))
    stray = cluster.all_files() - want_files
    check(not stray, 'stray files on the volumes: %s' % sorted(stray)[:5])
    for path, value in values.items():
        st, hdrs, body = cluster.get(path)
        check(st == 200 and body == value, 'GET %s after rebalance: %d' % (path, st))


@nginx_only
@own_cluster
def test_rebuild_from_scratch_equals_dump(cluster):
    values = put_keys(cluster, 25)
    # keys whose base64 names contain '/' (nested directories) and UTF-8
    for path in ['/a%3Fbcd', '/x%3Fy%3Fzz/%C3%A9', '/dir/with/slashes']:
        expect(cluster.put(path, b'v' + path.encode()), 201, 'PUT ' + path)
        values[path] = b'v' + path.encode()
    before = cluster.dump()
    cluster._cluster('workers-stop')
    os.rename(os.path.join(cluster.data, 'index'), os.path.join(cluster.data, 'index.old'))
    rc, out, err = tool(cluster, 'rebuild')
    check(rc == 0, 'mkv-rebuild exited %d: %s %s' % (rc, out, err))
    check('28 keys created' in out, 'summary: %s' % out)
    after = cluster.dump()
    check(set(after) == set(before), 'keys differ: %r' % (set(after) ^ set(before)))
    for k in before:
        check(after.get(k) == without_hash(before[k]),
              'record of %r: %r, before %r' % (k, after.get(k), before[k]))
    # A second run changes nothing.
    rc, out, err = tool(cluster, 'rebuild')
    check(rc == 0 and '0 keys created' in out and '84 already indexed' in out,
          'second rebuild: %s %s' % (out, err))
    check(cluster.dump() == after, 'second rebuild changed the index')
    cluster._cluster('workers-start')
    for path, value in values.items():
        st, _, body = cluster.get(path)
        check(st == 200 and body == value, 'GET %s after rebuild: %d' % (path, st))


@nginx_only
@own_cluster
def test_rebuild_live_under_traffic(cluster):
    """Workers serve on an emptied index while rebuild runs again and again
    and a client PUTs, DELETEs and UNLINKs: every acknowledged write holds
    afterwards and no deleted key comes back."""
    old = put_keys(cluster, 150)
    cluster._cluster('workers-stop')
    os.rename(os.path.join(cluster.data, 'index'), os.path.join(cluster.data, 'index.old'))
    cluster._cluster('workers-start')

    state = {}  # path -> ('live', value) | ('deleted',) | ('unlinked', value)
    stop = threading.Event()
    errors = []

    def client():
        rnd = random.Random(7)
        olds = list(old)
        while not stop.is_set():
            op = rnd.random()
            try:
                if op < 0.4:
                    path = fresh_key('/live-')
                    value = os.urandom(100)
                    if cluster.put(path, value)[0] == 201:
                        state[path] = ('live', value)
                elif op < 0.7 and olds:
                    path = olds.pop()
                    # an old key may not be re-indexed yet: 404 is a fair answer
                    if cluster.delete(path)[0] == 204:
                        state[path] = ('deleted',)
                elif op < 0.85:
                    live = [p for p, s in state.items() if s[0] == 'live']
                    if live:
                        path = rnd.choice(live)
                        if cluster.request('UNLINK', path)[0] == 204:
                            state[path] = ('unlinked', state[path][1])
                else:
                    live = [p for p, s in state.items() if s[0] == 'live']
                    if live:
                        path = rnd.choice(live)
                        if cluster.delete(path)[0] == 204:
                            state[path] = ('deleted',)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))

    t = threading.Thread(target=client)
    t.start()
    passes = 0
    try:
        deadline = time.time() + 6
        while time.time() < deadline or passes < 3:
            rc, out, err = tool(cluster, 'rebuild', '--concurrency=4')
            check(rc == 0, 'rebuild pass %d exited %d: %s %s' % (passes, rc, out, err))
            passes += 1
    finally:
        stop.set()
        t.join()
    check(not errors, 'client errors: %s' % errors[:3])
    check(len(state) > 50, 'the client did too little: %d keys' % len(state))
    # One last rebuild with the client stopped: old keys not touched are back.
    rc, out, err = tool(cluster, 'rebuild')
    check(rc == 0, 'final rebuild: %s %s' % (out, err))
    dump = cluster.dump()
    for path, s in state.items():
        key = key_of(path)
        rec = dump.get(key)
        if s[0] == 'live':
            check(rec == cluster.expected_record(path, md5hex(s[1])),
                  'acknowledged PUT %s: record %r' % (path, rec))
            st, _, body = cluster.get(path)
            check(st == 200 and body == s[1], 'GET %s: %d' % (path, st))
        elif s[0] == 'deleted':
            check(rec is None, 'deleted key %s came back: %r' % (path, rec))
            check(not any(os.path.exists(f) for f in cluster.replica_files(path)),
                  'deleted key %s still has files' % path)
        else:
            check(rec == cluster.expected_record(path, md5hex(s[1]), deleted=True),
                  'unlinked key %s: record %r' % (path, rec))
    for path, value in old.items():
        if path in state:
            continue
        check(dump.get(key_of(path)) == cluster.expected_record(path),
              'old key %s not rebuilt: %r' % (path, dump.get(key_of(path))))
    print('  %d rebuild passes, %d keys written/deleted/unlinked by the client'
          % (passes, len(state)))


@nginx_only
@own_cluster
def test_rebuild_refuses_unreachable_volume(cluster):
    put_keys(cluster, 3)
    before = cluster.dump()
    cluster.stop_volume(cluster.volume_ports[1])
    rc, out, err = tool(cluster, 'rebuild', db=os.path.join(cluster.data, 'fresh'))
    check(rc == 1, 'rebuild with a volume down exited %d: %s %s' % (rc, out, err))
    check(cluster.volumes[1] in err, 'message does not name the volume: %s' % err)
    rc, out, err = tool(cluster, 'rebuild', '--skip-unreachable',
                        db=os.path.join(cluster.data, 'fresh'))
    check(rc == 0 and '3 keys created' in out, '--skip-unreachable: %d %s %s' % (rc, out, err))
    check(cluster.dump() == before, 'the live index changed')


@nginx_only
@own_cluster
def test_rebalance_add_then_remove_volume(cluster):
    values = put_keys(cluster, 60)
    unlinked = fresh_key('/unl-')
    expect(cluster.put(unlinked, b'soft'), 201)
    expect(cluster.request('UNLINK', unlinked), 204)
    soft_files = cluster.replica_files(unlinked)

    four = list(cluster.volumes) + [add_volume(cluster)]
    rc, out, err = tool(cluster, 'rebalance', '--dry-run', volumes=four)
    check(rc == 0 and 'to move' in out, 'dry run: %s %s' % (out, err))
    m = re.search(r'(\d+) to move', out)
    planned = int(m.group(1)) if m else -1
    check(planned > 0, 'dry run planned nothing: %s' % out)
    check(len(cluster.all_files()) == 3 * 61, 'dry run changed the volumes')

    rc, out, err = tool(cluster, 'rebalance', volumes=four)
    check(rc == 0, 'rebalance to 4 volumes exited %d: %s %s' % (rc, out, err))
    check('%d moved' % planned in out, 'moved count differs from the plan %d: %s'
          % (planned, out))
    restart_workers(cluster, four)
    values_all = dict(values)
    # the unlinked key is left alone: still SOFT with its old files
    check(all(os.path.exists(f) for f in soft_files), 'unlinked key files moved')
    dump = cluster.dump()
    check(dump.get(key_of(unlinked), '').startswith('DELETED'), 'unlinked key changed')
    expect(cluster.delete(unlinked), 204)
    check_layout(cluster, values_all, four)
    for path in list(values)[:5]:
        st, hdrs, _ = cluster.get(path, follow=False)
        check(hdrs.get('key-balance') == 'balanced', 'Key-Balance after rebalance: %r' % hdrs)

    # Remove the first original volume (still running so data can be copied off).
    three = four[1:]
    rc, out, err = tool(cluster, 'rebalance', volumes=three)
    check(rc == 0, 'rebalance to 3 volumes exited %d: %s %s' % (rc, out, err))
    restart_workers(cluster, three)
    check_layout(cluster, values_all, three)
    rc, out, err = tool(cluster, 'rebalance', volumes=three)
    check(rc == 0 and ' 0 moved' in out, 'third run should move nothing: %s' % out)


def files_under(root):
    n = 0
    for _d, _dirs, files in os.walk(root):
        n += len(files)
    return n


@nginx_only
@own_cluster
def test_rebalance_killed_and_resumed(cluster):
    """SIGKILL mkv-rebalance twice while it is copying (once the new volume
    holds a few more files than before: never a fixed delay, which a fast
    machine outruns), then run it again: the same end state as one run."""
    values = put_keys(cluster, 150, size=200 * 1024)
    four = list(cluster.volumes) + [add_volume(cluster)]
    new_root = cluster.volume_root(len(four) - 1)
    kills, ends = 0, []
    for _ in range(2):
        start = files_under(new_root)
        with tempfile.TemporaryFile() as errf:
            p = start_tool(cluster, 'rebalance', '--concurrency=1', volumes=four,
                           stdout=subprocess.DEVNULL, stderr=errf)
            deadline = time.time() + 60
            while p.poll() is None and time.time() < deadline:
                if files_under(new_root) >= start + 5:
                    p.send_signal(signal.SIGKILL)
                    kills += 1
                    break
                time.sleep(0.002)
            p.wait()
            errf.seek(0)
            ends.append((p.returncode, files_under(new_root), errf.read()[-500:]))
    check(kills == 2, 'rebalance finished before it could be killed: %r' % ends)
    rc, out, err = tool(cluster, 'rebalance', volumes=four)
    check(rc == 0, 'resumed rebalance exited %d: %s %s' % (rc, out, err))
    restart_workers(cluster, four)
    check_layout(cluster, values, four)


@nginx_only
@own_cluster
def test_rebalance_repair_recopies_lost_replica(cluster):
    values = put_keys(cluster, 5)
    path = list(values)[0]
    lost = cluster.replica_files(path)[1]
    os.unlink(lost)
    rc, out, err = tool(cluster, 'rebalance')
    check(rc == 0 and not os.path.exists(lost), 'plain rebalance should not look: %s' % out)
    rc, out, err = tool(cluster, 'rebalance', '--repair')
    check(rc == 0 and '1 moved' in out, 'repair: %d %s %s' % (rc, out, err))
    check(os.path.exists(lost), 'repair did not restore %s' % lost)
    check_layout(cluster, values, cluster.volumes)
    # Every replica gone: reported as failed, record untouched.
    for f in cluster.replica_files(path):
        os.unlink(f)
    before = cluster.dump()
    rc, out, err = tool(cluster, 'rebalance', '--repair')
    check(rc == 1 and 'failed' in out, 'repair of a lost key: %d %s' % (rc, out))
    check(cluster.dump() == before, 'a failed repair changed the index')


@nginx_only
def test_rebalance_method_on_front(cluster):
    """REBALANCE /key (docs/compat.md §4.6) re-copies a lost replica; 404 when absent.
    lighttpd answers 501 to methods it does not know, hence nginx only."""
    path = fresh_key()
    value = os.urandom(3000)
    expect(cluster.put(path, value), 201)
    lost = cluster.replica_files(path)[2]
    os.unlink(lost)
    expect(cluster.request('REBALANCE', path), 204, 'REBALANCE')
    with open(lost, 'rb') as f:
        check(f.read() == value, 'REBALANCE restored other bytes')
    check(cluster.dump().get(key_of(path)) == cluster.expected_record(path, md5hex(value)),
          'record after REBALANCE')
    expect(cluster.request('REBALANCE', fresh_key()), 404, 'REBALANCE of an absent key')
    expect(cluster.request('UNLINK', path), 204)
    expect(cluster.request('REBALANCE', path), 404, 'REBALANCE of an unlinked key')


@nginx_only
@own_cluster
def test_rebalance_grace_keeps_old_copies(cluster):
    """While a key's old copies wait out --grace, its record lists the new
    copies first, the old ones still exist (a redirect issued just before
    still works), and workers (on the old volume list) redirect only to the
    new ones; afterwards the old copies are gone."""
    from harness import key2volume
    values = put_keys(cluster, 30)
    three = list(cluster.volumes)
    four = three + [add_volume(cluster)]
    moving, moved = {}, 0
    for path in values:
        old = key2volume(key_of(path), three, cluster.replicas, cluster.subvolumes)
        new = key2volume(key_of(path), four, cluster.replicas, cluster.subvolumes)
        if set(old) - set(new):
            moving[path] = (old, new)
        moved += old != new
    check(moving, 'no key loses a copy to the 4th volume')
    t0 = time.time()
    p = start_tool(cluster, 'rebalance', '--grace=10000', volumes=four,
                   stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        path, (old, new) = next(iter(moving.items()))
        want = 'HASH' + md5hex(values[path]) + ','.join(new)
        rec = None
        while time.time() - t0 < 8:
            rec = cluster.dump().get(key_of(path), '')
            if rec.startswith(want + ','):
                break
            time.sleep(0.05)
        check(rec.startswith(want + ','), 'record during the grace: %r, want %r + old' % (rec, want))
        for vp in set(old) - set(new):
            f = cluster.disk_path(vp, key_of(path))
            check(os.path.exists(f), 'old copy %s removed during the grace' % f)
        for _ in range(20):
            st, hdrs, _ = cluster.get(path, follow=False)
            loc = hdrs.get('location', '')
            check(st == 302 and any('//%s/' % v in loc for v in new),
                  'redirect during the grace to %r, new copies on %r' % (loc, new))
        # The grace began after t0: all of the above happened within it.
        check(time.time() - t0 < 10, 'the grace was over before the checks ended')
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    out = out.decode()
    check(p.returncode == 0, 'rebalance exited %d: %s %s' % (p.returncode, out, err))
    check(time.time() - t0 >= 10, 'rebalance ended before the grace was over')
    check(' %d moved' % moved in out, 'summary, want %d moved: %s' % (moved, out))
    restart_workers(cluster, four)
    check_layout(cluster, values, four)


@nginx_only
@own_cluster
def test_rebalance_reports_a_key_held_by_a_writer(cluster):
    """A key whose PUT stays in flight for the whole run is retried for a
    while (without spinning), reported busy with exit 1; the next run, after
    the PUT ended, moves it."""
    import socket
    values = put_keys(cluster, 5)
    four = list(cluster.volumes) + [add_volume(cluster)]
    path = fresh_key('/held-')
    value = os.urandom(4096)
    s = socket.create_connection((cluster.host, cluster.port), timeout=30)
    try:
        s.sendall(('PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n'
                   % (path, len(value))).encode() + value[:100])
        deadline = time.time() + 10
        while key_of(path) not in cluster.dump() and time.time() < deadline:
            time.sleep(0.05)
        check(key_of(path) in cluster.dump(), 'the held PUT wrote no SOFT record')
        t0 = time.time()
        p = start_tool(cluster, 'rebalance', volumes=four,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out = p.stdout.read().decode()
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.time() - t0
        cpu = usage.ru_utime + usage.ru_stime
        print('  held key: exit %d after %.1fs wall, %.2fs CPU; %s' % (
            p.returncode, wall, cpu, out.strip().splitlines()[-1]))
        check(p.returncode == 1 and ' 1 busy' in out and 'busy /held-' in out,
              'rebalance with a held key: %d %s' % (p.returncode, out))
        check(cpu < wall / 2, 'rebalance spun while the key was held: %.2fs CPU in %.1fs'
              % (cpu, wall))
        s.sendall(value[100:])
        st = s.recv(4096).split(b' ', 2)[1]
        check(st == b'201', 'the held PUT ended with %r' % st)
    finally:
        s.close()
    values[path] = value
    rc, out, err = tool(cluster, 'rebalance', volumes=four)
    check(rc == 0 and ' 0 busy' in out, 'second run: %d %s %s' % (rc, out, err))
    restart_workers(cluster, four)
    check_layout(cluster, values, four)


@nginx_only
@own_cluster
def test_rebalance_online_under_traffic(cluster):
    """mkv-rebalance to a 4th volume while clients write (PUT/GET/DELETE of
    fresh keys) and read the keys being moved: every read of a key being
    moved follows its redirect to the right bytes, every write is answered
    as without a rebalance, and a second pass (workers on the new list)
    leaves every key at its placement with nothing stray."""
    from test_faults import LoadClient
    values = put_keys(cluster, 300, size=64 * 1024)
    four = list(cluster.volumes) + [add_volume(cluster)]
    stop = threading.Event()
    reads = {'ok': [], 'bad': []}  # times of good reads; failures

    def reader():
        paths = list(values)
        while not stop.is_set():
            path = random.choice(paths)
            try:
                st, _, body = cluster.get(path, timeout=30)
            except Exception as e:  # noqa: BLE001
                st, body = repr(e), b''
            if st == 200 and body == values[path]:
                reads['ok'].append(time.time())
            else:
                reads['bad'].append('%s: %s %d bytes' % (path, st, len(body)))

    threads = [threading.Thread(target=reader, daemon=True) for _ in range(2)]
    load = LoadClient(cluster, threads=2, sizes=(1024, 65536), timeout=30, prefix='/rbload-')
    for t in threads:
        t.start()
    load.start()
    try:
        time.sleep(0.5)
        t0 = time.time()
        rc, out, err = tool(cluster, 'rebalance', '--concurrency=2', volumes=four)
        t1 = time.time()
        time.sleep(0.5)
    finally:
        stop.set()
        load.stop()
        for t in threads:
            t.join(30)
    during = sum(t0 <= t <= t1 for t in reads['ok'])
    print('  rebalance took %.1fs: %d good reads of the old keys during it, %d bad; %s; %s' % (
        t1 - t0, during, len(reads['bad']), load.summary(), out.strip()))
    check(rc == 0, 'rebalance under traffic exited %d: %s %s' % (rc, out, err))
    check(not reads['bad'], 'reads that failed during the rebalance:\n  ' +
          '\n  '.join(reads['bad'][:10]))
    check(during >= 20, 'too few reads during the rebalance: %d' % during)
    fails = load.failures()
    check(not fails, 'writes that failed during the rebalance:\n  ' +
          '\n  '.join('%s %s: %s' % (o.what, o.key, o.detail[:200]) for o in fails[:10]))
    # workers on the new list, a second pass: everything in place
    restart_workers(cluster, four)
    rc, out, err = tool(cluster, 'rebalance', volumes=four)
    check(rc == 0, 'second rebalance exited %d: %s %s' % (rc, out, err))
    values.update(load.kept)
    check_layout(cluster, values, four)
    for key in load.deleted:
        st, _, _ = cluster.get(key)
        check(st == 404, 'deleted %s reads %s after the rebalance' % (key, st))


@nginx_only
@own_cluster
def test_rebalance_after_losing_a_volume(cluster):
    """A volume lost for good (its server gone): take it out of `volumes`
    and rebalance; every key gets its copies back from the live replicas on
    the remaining volumes plus a new one, and the records forget it."""
    values = put_keys(cluster, 60, size=4096)
    lost_port, lost = cluster.volume_ports[2], cluster.volumes[2]
    new = add_volume(cluster)
    cluster.stop_volume(lost_port)
    remaining = [v for v in cluster.volumes if v != lost]
    # still configured: its keys stop (a copy is never guessed missing)
    rc, out, err = tool(cluster, 'rebalance', volumes=list(cluster.volumes))
    check(rc == 1 and 'did not answer' in err + out, 'rebalance with the dead volume still '
          'configured: %d %s %s' % (rc, out, err))
    rc, out, err = tool(cluster, 'rebalance', volumes=remaining)
    print('  ' + out.strip())
    check(rc == 0, 'rebalance without the lost volume exited %d: %s %s' % (rc, out, err))
    m = re.search(r'(\d+) copies lost with removed volumes', out)
    check(m and int(m.group(1)) == 60, 'lost copies counted: %s' % out)
    # the lost volume's files stay on its disk: leave it out of the checks
    i = cluster.volume_ports.index(lost_port)
    del cluster.volume_ports[i]
    del cluster.volumes[i]
    restart_workers(cluster, remaining)
    check_layout(cluster, values, remaining)
    check(new in remaining, 'new volume %s unused' % new)


@nginx_only
@own_cluster
def test_rebuild_escapes_keys_and_names(cluster):
    """mkv-rebuild prints keys and file names escaped (escape_nonprint): a
    key with a newline and control bytes whose record is damaged, and a file
    on a volume whose name holds them, each make one line of their own."""
    path = fresh_key('/rbesc-') + '%0Anext%1B[2J'
    expect(cluster.put(path, b'value'), 201, 'PUT ' + path)
    key = key_of(path)

    # a damaged record, stored as these bytes past every check
    p = subprocess.run([built_tool('index-put'), os.path.join(cluster.data, 'index'),
                        esc(key), 'HASHab'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    check(p.returncode == 0, 'index-put: %r' % p.stderr)
    odd = 'odd\nname\x1b[2J'
    leaf = os.path.dirname(cluster.replica_files(path)[0])
    with open(os.path.join(leaf, odd), 'wb') as f:
        f.write(b'x')
    p = subprocess.run([os.path.join(cluster.bin, 'mkv-rebuild')], env=tool_env(cluster),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    err = p.stderr
    check(p.returncode == 1, 'mkv-rebuild exited %d: %r' % (p.returncode, err))
    check(not re.search(rb'[\x00-\x09\x0b-\x0c\x0e-\x1f\x7f-\xff]', err), 'raw bytes: %r' % err)
    lines = re.split(rb'[\r\n]', err)
    escaped = ''.join(chr(c) if 0x21 <= c <= 0x7e and c != 0x25 else '%%%02X' % c for c in key)
    bad = [ln for ln in lines if b'malformed record' in ln]
    check(len(bad) == 3 and all(('key %s has' % escaped).encode() in ln for ln in bad),
          'malformed record messages: %r' % err)
    names = [ln for ln in lines if b'odd%0Aname%1B[2J' in ln]
    check(len(names) == 1 and b'not the base64 of a key' in names[0], 'odd name: %r' % err)
    check(not any(ln.startswith(b'next') or ln.startswith(b'name') for ln in lines),
          'a line made by a key or name: %r' % err)


# -- an admin tool meets an index that needs recovery (issue 11) --------------

def _dbfault_env(cluster, volumes, **flags):
    """tool_env with tests/shim/dbfault.c preloaded, driven by flags
    (MKV_DBFAULT_PANIC=path, MKV_DBFAULT_DIE=path)."""
    shim = os.path.join(cluster.bin, 'tests', 'libdbfault.so')
    if not os.path.exists(shim):
        import harness
        harness.skip('%s not built' % shim)
    env = tool_env(cluster, volumes)
    env['LD_PRELOAD'] = shim
    env['ASAN_OPTIONS'] = 'verify_asan_link_order=0'
    env.update(flags)
    return env


@nginx_only
@own_cluster
def test_rebalance_rejoins_after_index_recovery(cluster):
    """mkv-rebalance meets an environment that needs recovery while workers
    are attached (tests/shim/dbfault.c marks it so from inside the tool,
    once a few values were copied, as a process dying inside Berkeley DB
    does): the tool leaves the environment, the supervisor recovers it
    (restarting its workers), the tool rejoins and finishes, exit 0, the
    same end state as one run."""
    values = put_keys(cluster, 150, size=200 * 1024)
    four = list(cluster.volumes) + [add_volume(cluster)]
    new_root = cluster.volume_root(len(four) - 1)
    flag = os.path.join(cluster.data, 'dbfault-panic')
    log_start = cluster.worker_log_size()
    start = files_under(new_root)
    p = subprocess.Popen([os.path.join(cluster.bin, 'mkv-rebalance'), '--concurrency=2'],
                         env=_dbfault_env(cluster, four, MKV_DBFAULT_PANIC=flag),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while p.poll() is None and time.time() < deadline and files_under(new_root) < start + 5:
        time.sleep(0.002)
    open(flag, 'w').close()
    try:
        out, err = p.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
    out, err = out.decode('utf-8', 'replace'), err.decode('utf-8', 'replace')
    check(not os.path.exists(flag), 'the rebalance ended before the fault: %s %s' % (out, err))
    check('panics the environment' in err, 'no panic injected: %s' % err[-2000:])
    check(p.returncode == 0, 'rebalance after a recovery exited %d: %s %s'
          % (p.returncode, out, err[-3000:]))
    check('rejoined the recovered environment' in err, 'the tool did not rejoin: %s' % err[-2000:])
    check('index recovered' in cluster.worker_log(log_start),
          'the supervisor did not recover the index')
    restart_workers(cluster, four)
    check_layout(cluster, values, four)


@nginx_only
@own_cluster
def test_rebalance_rerun_after_a_kill_inside_bdb(cluster):
    """Issue 11 made deterministic: mkv-rebalance dies inside Berkeley DB
    (SIGKILL in its first commit's log flush, tests/shim/dbfault.c) while
    workers are attached, and is run again at once: the rerun meets the
    environment needing recovery (at open, or as a panic once the
    supervisor's check finds the dead process), gets it recovered by the
    supervisor, and finishes: exit 0, every key in place."""
    values = put_keys(cluster, 150, size=64 * 1024)
    four = list(cluster.volumes) + [add_volume(cluster)]
    die = os.path.join(cluster.data, 'dbfault-die')
    log_start = cluster.worker_log_size()
    open(die, 'w').close()
    victim = subprocess.run([os.path.join(cluster.bin, 'mkv-rebalance'), '--concurrency=4'],
                            env=_dbfault_env(cluster, four, MKV_DBFAULT_DIE=die),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    check(victim.returncode == -signal.SIGKILL and not os.path.exists(die),
          'the rebalance did not die inside a commit: %d %s'
          % (victim.returncode, victim.stderr[-1000:]))
    rc, out, err = tool(cluster, 'rebalance', volumes=four)
    check(rc == 0, 'rebalance right after the kill exited %d: %s %s' % (rc, out, err[-3000:]))
    check('index recovered' in cluster.worker_log(log_start),
          'the supervisor did not recover the index')
    restart_workers(cluster, four)
    check_layout(cluster, values, four)
