"""Admin tools: mkv-import (an original's LevelDB index into ours) and
mkv-upkeep (checkpoint + log removal, hot backup).

Each test runs once (nginx front only: the tools never touch the front) on a
cluster of its own, so it can compare whole index dumps and restart workers.
The LevelDB fixtures are written by tests/tools/ldb-write.c (built by make
with libleveldb-dev, the library mkv-import uses).
"""

import atexit
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse

import harness
from harness import (REPO, check, expect, fresh_key, key2path, key_of, md5hex, nginx_only,
                     own_cluster, unescape_dump_key, built_tool, esc)

def ldb_write_bin():
    return built_tool('ldb-write')


def ldb_write(path, records, compact=False):
    """Put {key bytes: value str/bytes} into the LevelDB at path."""
    lines = ''.join('%s\t%s\n' % (esc(k), esc(v)) for k, v in records.items())
    args = [ldb_write_bin(), path] + (['compact'] if compact else [])
    p = subprocess.run(args, input=lines.encode('ascii'), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=60)
    check(p.returncode == 0, 'ldb-write failed: %s' % p.stderr.decode('utf-8', 'replace'))


def index_dir(cluster):
    return os.path.join(cluster.data, 'index')


def tool(cluster, name, *args, db=None, timeout=300):
    """Run build/mkv-<name> on the cluster's index (or db); returns
    (exit status, stdout, stderr) as text."""
    env = dict(cluster.env)
    env['MKV_DB'] = db or index_dir(cluster)
    p = subprocess.run([os.path.join(cluster.bin, 'mkv-' + name)] + list(args), env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode('utf-8', 'replace'), p.stderr.decode('utf-8', 'replace')


def summary(out):
    """mkv-import's summary lines as {name: number}."""
    d = {}
    for line in out.splitlines():
        m = re.match(r'^([a-z ()]+): (\d+)', line)
        if m:
            d[m.group(1)] = int(m.group(2))
    return d


def dump_of(cluster, db):
    """mkv-dump --db=db as {key bytes: record}."""
    rc, out, err = tool(cluster, 'dump', '--db=' + db)
    check(rc == 0, 'mkv-dump --db=%s exited %d: %s' % (db, rc, err))
    d = {}
    for line in out.split('\n'):
        if line:
            k, _, rec = line.partition(' ')
            d[unescape_dump_key(k)] = rec
    return d


# ---------------------------------------------------------------------------
# mkv-import
# ---------------------------------------------------------------------------

def original_records(cluster):
    """About 50 records as the original writes them: live and DELETED, with
    and without HASH, 1 to 5 volume paths, keys with spaces, UTF-8, other
    bytes, and longer than a worker accepts (a failed PUT's leftover)."""
    recs = {}

    def placed(key, md5=None, deleted=False):
        recs[key] = cluster.expected_record(key, md5, deleted)

    for i in range(20):
        key = b'/import/live-%02d' % i
        placed(key, md5hex(b'value of ' + key))
    for i in range(8):
        key = b'/import/unlinked-%02d' % i
        placed(key, md5hex(key), deleted=True)
    for i in range(6):
        placed(b'/import/nohash-%02d' % i)  # the original with -md5sum=false
    for i in range(4):
        placed(b'/import/failed-put-%02d' % i, deleted=True)  # a PUT that failed midway
    h = md5hex(b'x')
    recs[b'/import/one-volume'] = 'HASH' + h + 'localhost:3001/sv03'
    recs[b'/import/two-volumes'] = 'localhost:3002/sv00,localhost:3001/sv09'
    recs[b'/import/five-volumes'] = 'HASH' + h + ','.join('vol%d:80/sv0%d' % (i, i) for i in range(5))
    recs[b'/import/no-subvolumes'] = 'localhost:3003,localhost:3001,localhost:3002'
    recs[b'/import/sixteen-subvolumes'] = 'DELETEDHASH' + h + 'localhost:3001/sv0F,localhost:3002/sv0A'
    for key in ['/import/with space', '/import/caf\u00e9/\u00fc', '/import/\u65e5\u672c\u8a9e \u30ad\u30fc',
                '/import/100%', '/import/a+b?c#d&e=f', '//import//double//', '/import/tab\there\nnewline']:
        placed(key.encode('utf-8'), md5hex(key.encode('utf-8')))
    placed(b'/import/not-utf8-\xff\xfe\x80')
    placed(b'/import/' + b'k' * (189 - 8), md5hex(b'max'))  # the longest storable key
    # Over 189 bytes: the original's PUT fails on the volume and leaves this.
    recs[b'/import/' + b'L' * 492] = 'DELETED' + ','.join(cluster.placement(b'/import/' + b'L' * 492))
    return recs


@nginx_only
@own_cluster
def test_import_records(cluster):
    recs = original_records(cluster)
    check(len(recs) >= 50, 'fixture has %d records' % len(recs))
    src = os.path.join(cluster.data, 'leveldb')
    items = sorted(recs.items())
    # half in compacted .ldb tables, half only in LevelDB's write-ahead log
    ldb_write(src, dict(items[::2]), compact=True)
    ldb_write(src, dict(items[1::2]))
    check(any(f.endswith('.ldb') for f in os.listdir(src)), 'no .ldb table in %s' % os.listdir(src))

    check(len(cluster.dump()) == 0, 'the fresh cluster has records')
    rc, out, err = tool(cluster, 'import', '--dry-run', src)
    s = summary(out)
    check(rc == 0, 'dry run exited %d: %s%s' % (rc, out, err))
    check(s.get('records read') == len(recs) and s.get('would write') == len(recs),
          'dry-run summary: %r' % out)
    check(len(cluster.dump()) == 0, 'the dry run wrote records')

    rc, out, err = tool(cluster, 'import', src)
    s = summary(out)
    check(rc == 0, 'import exited %d: %s%s' % (rc, out, err))
    check(s.get('records read') == len(recs) and s.get('written') == len(recs) and
          s.get('skipped (malformed)') == 0 and s.get('conflicts') == 0, 'summary: %r' % out)
    got = dict(cluster.dump())
    missing = set(recs) - set(got)
    extra = set(got) - set(recs)
    wrong = {k: (got[k], recs[k]) for k in set(recs) & set(got) if got[k] != recs[k]}
    check(not missing and not extra and not wrong,
          'index after import: missing %r, extra %r, different (got, want) %r' % (
              sorted(missing)[:5], sorted(extra)[:5], list(wrong.items())[:5]))

    # a second run finds everything in place and changes nothing
    rc, out, err = tool(cluster, 'import', src)
    s = summary(out)
    check(rc == 0 and s.get('written') == 0 and s.get('already present') == len(recs),
          'second import: exit %d, %r %r' % (rc, out, err))
    check(dict(cluster.dump()) == recs, 'second import changed the index')

    # the workers serve imported keys: put the bytes where the record says
    for key in [b'/import/live-00', b'/import/live-07', '/import/caf\u00e9/\u00fc'.encode('utf-8'),
                b'/import/with space']:
        body = b'value of ' + key if key.startswith(b'/import/live-') else key
        md5 = md5hex(body) if key.startswith(b'/import/live-') else md5hex(key)
        check(md5hex(body) == md5, 'fixture hash of %r' % key)
        for v in cluster.placement(key):
            path = cluster.disk_path(v, key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'wb') as f:
                f.write(body)
        url = urllib.parse.quote(key, safe='/')
        r = expect(cluster.request('GET', url), 302, 'GET of imported %r' % key)
        want = {'http://%s%s' % (v, key2path(key)) for v in cluster.placement(key)}
        check(r[1].get('location') in want, 'Location of imported %r' % key, *r)
        check(r[1].get('content-md5') == md5, 'Content-Md5 of imported %r' % key, *r)
        check(r[1].get('key-balance') == 'balanced', 'Key-Balance of imported %r' % key, *r)
        f = expect(cluster.follow(*r), 200, 'follow the redirect of %r' % key)
        check(f[2] == body, 'value of imported %r' % key, *f)
    # unlinked and failed records read as absent and are listed as unlinked
    expect(cluster.request('GET', '/import/unlinked-03'), 404, 'GET of an imported DELETED key')
    r = expect(cluster.request('GET', '/import/?unlinked'), 200, 'unlinked listing')
    for k in [b'/import/unlinked-03', b'/import/failed-put-01']:
        check(b'"' + k + b'"' in r[2], 'imported %r not in ?unlinked' % k, *r)
    r = expect(cluster.request('GET', '/import/live-?list'), 200, 'list')
    check(r[2].count(b'/import/live-') == 20, 'live keys listed', *r)
    # and the cluster takes new writes of imported keys normally
    expect(cluster.put('/import/live-00', b'again'), 403, 'PUT onto an imported live key')
    expect(cluster.put('/import/unlinked-03', b'again'), 201, 'PUT onto an imported unlinked key')


@nginx_only
@own_cluster
def test_import_rejects(cluster):
    # absent directory: exit 1, a message naming it, nothing created
    absent = os.path.join(cluster.data, 'no-such-leveldb')
    rc, out, err = tool(cluster, 'import', absent)
    check(rc == 1 and absent in err and 'No such file' in err, 'absent dir: exit %d, %r' % (rc, err))
    check(not os.path.exists(absent), 'mkv-import created %s' % absent)
    # a directory that is not a LevelDB is left untouched
    notldb = os.path.join(cluster.data, 'not-a-leveldb')
    os.mkdir(notldb)
    rc, out, err = tool(cluster, 'import', notldb)
    check(rc == 1 and 'not a LevelDB' in err, 'not a LevelDB: exit %d, %r' % (rc, err))
    check(os.listdir(notldb) == [], 'mkv-import wrote into %s: %r' % (notldb, os.listdir(notldb)))
    # usage errors
    rc, out, err = tool(cluster, 'import')
    check(rc == 2 and 'usage' in err, 'no argument: exit %d, %r' % (rc, err))
    rc, out, err = tool(cluster, 'import', '--help')
    check(rc == 0 and 'usage' in err, '--help: exit %d' % rc)
    rc, out, err = tool(cluster, 'import', '--nonsense=1', notldb)
    check(rc == 2, 'unknown flag: exit %d, %r' % (rc, err))

    # malformed records are reported and skipped, the rest is imported
    h = md5hex(b'ok')
    good = {b'/rej/good-1': 'HASH' + h + 'localhost:3001/sv01',
            b'/rej/good-2': 'DELETEDlocalhost:3002/sv02,localhost:3003/sv03'}
    bad = {b'/rej/short-hash': 'HASHabc',
           b'/rej/upper-hash': 'HASH' + h.upper() + 'localhost:3001/sv01',
           b'/rej/not-hex': 'HASH' + 'z' * 32 + 'localhost:3001/sv01',
           b'/rej/empty': '',
           b'/rej/deleted-only': 'DELETED',
           b'/rej/empty-volume': 'localhost:3001/sv01,,localhost:3002/sv02',
           b'/rej/nul': 'localhost:3001\x00/sv01',
           b'no-slash': 'localhost:3001/sv01',
           b'': 'localhost:3001/sv01'}
    src = os.path.join(cluster.data, 'ldb-bad')
    ldb_write(src, {**good, **bad})
    rc, out, err = tool(cluster, 'import', src)
    s = summary(out)
    check(rc != 0, 'import with malformed records exited 0: %s' % out)
    check(s.get('records read') == len(good) + len(bad) and s.get('written') == len(good) and
          s.get('skipped (malformed)') == len(bad), 'summary: %r %r' % (out, err))
    for k in [b'/rej/short-hash', b'/rej/upper-hash', b'/rej/empty-volume', b'no-slash']:
        check(("skipped key '%s'" % k.decode()) in err, 'no message about %r in %r' % (k, err))
    check("'HASHabc'" in err, 'the malformed record is not quoted: %r' % err)
    d = cluster.dump()
    for k, v in good.items():
        check(d.get(k) == v, 'good record %r: %r' % (k, d.get(k)))
    for k in bad:
        check(k not in d, 'malformed record %r was imported: %r' % (k, d.get(k)))

    # conflicts: a key PUT through the cluster, then a LevelDB disagreeing
    expect(cluster.put('/rej/live', b'live value'), 201, 'PUT')
    live = cluster.dump()[b'/rej/live']
    other = 'HASH' + md5hex(b'other') + 'localhost:3001/sv05'
    src2 = os.path.join(cluster.data, 'ldb-conflict')
    ldb_write(src2, {b'/rej/live': other, b'/rej/good-1': good[b'/rej/good-1'],
                     b'/rej/new': 'localhost:3003/sv07'})
    rc, out, err = tool(cluster, 'import', src2)
    s = summary(out)
    check(rc != 0, 'import with a conflict exited 0: %s' % out)
    check(s.get('conflicts') == 1 and s.get('written') == 1 and s.get('already present') == 1,
          'conflict summary: %r' % out)
    check("conflict on key '/rej/live'" in err and live in err and other in err,
          'conflict message: %r' % err)
    d = cluster.dump()
    check(d.get(b'/rej/live') == live, 'conflicting record replaced without --overwrite')
    check(d.get(b'/rej/new') == 'localhost:3003/sv07', 'new record of the conflicting run')
    r = expect(cluster.get('/rej/live'), 200, 'GET of the kept key')
    check(r[2] == b'live value', 'kept value', *r)
    # a dry run with --overwrite changes nothing; --overwrite replaces it
    rc, out, err = tool(cluster, 'import', '--dry-run', '--overwrite', src2)
    check(rc == 0 and summary(out).get('would write') == 1, 'dry overwrite: %d %r' % (rc, out))
    check(cluster.dump().get(b'/rej/live') == live, 'the dry run overwrote')
    rc, out, err = tool(cluster, 'import', '--overwrite', src2)
    check(rc == 0 and summary(out).get('written') == 1 and summary(out).get('conflicts') == 1,
          '--overwrite: exit %d, %r %r' % (rc, out, err))
    check(cluster.dump().get(b'/rej/live') == other, 'record not overwritten')


# ---------------------------------------------------------------------------
# mkv-upkeep
# ---------------------------------------------------------------------------

def log_files(db):
    return sorted(f for f in os.listdir(db) if f.startswith('log.'))


def stop_workers(cluster):
    """Stop the supervisor and wait until its worker processes are gone too."""
    pids = cluster.worker_pids() + [cluster.supervisor_pid()]
    cluster._cluster('workers-stop')
    deadline = time.time() + 20
    for pid in pids:
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError('worker %d still running after workers-stop' % pid)


def small_log_index(cluster, lg_max=65536):
    """Restart the workers on a fresh, empty environment whose DB_CONFIG makes
    log files of lg_max bytes (instead of 10 MB), so a few hundred PUTs fill
    several.  The index so far is thrown away."""
    stop_workers(cluster)
    db = index_dir(cluster)
    shutil.rmtree(db)
    os.mkdir(db, 0o700)
    with open(os.path.join(db, 'DB_CONFIG'), 'w') as f:
        f.write('set_lg_max %d\n' % lg_max)
    cluster._cluster('workers-start')


def put_many(cluster, prefix, n):
    keys = {}
    for i in range(n):
        key = '%s%04d' % (prefix, i)
        body = ('value %d of %s ' % (i, prefix)).encode() * 20
        expect(cluster.put(key, body), 201, 'PUT %s' % key)
        keys[key] = body
    return keys


def parse_checkpoint(out):
    m = re.search(r'removed (\d+) log files \((\d+) bytes\); (\d+) remain \((\d+) bytes\)', out)
    check(m is not None, 'mkv-upkeep checkpoint output: %r' % out)
    return [int(x) for x in m.groups()]


@nginx_only
@own_cluster
def test_upkeep_checkpoint(cluster):
    db = index_dir(cluster)
    # default 10 MB logs: nothing to remove yet, but it runs and keeps the log
    keys = put_many(cluster, '/ckp-', 30)
    rc, out, err = tool(cluster, 'upkeep', 'checkpoint')
    check(rc == 0, 'checkpoint exited %d: %s%s' % (rc, out, err))
    removed, _rbytes, remain, _ = parse_checkpoint(out)
    logs = log_files(db)
    check(len(logs) >= 1 and remain == len(logs), 'reported %d logs, have %r' % (remain, logs))
    check(removed == 0, 'removed %d of a single 10 MB log' % removed)
    for key, body in list(keys.items())[:5]:
        r = expect(cluster.get(key), 200, 'GET after checkpoint')
        check(r[2] == body, 'value after checkpoint', *r)
    expect(cluster.put('/ckp-after', b'after'), 201, 'PUT after checkpoint')
    # usage errors and an absent index
    rc, _, err = tool(cluster, 'upkeep')
    check(rc == 2 and 'usage' in err, 'no subcommand: exit %d' % rc)
    rc, _, err = tool(cluster, 'upkeep', 'compress')
    check(rc == 2, 'unknown subcommand: exit %d' % rc)
    rc, _, err = tool(cluster, 'upkeep', 'checkpoint', db=os.path.join(cluster.data, 'none'))
    check(rc == 3 and 'no index' in err, 'absent index: exit %d, %r' % (rc, err))
    check(not os.path.exists(os.path.join(cluster.data, 'none')), 'upkeep created an index')

    # small logs that roll over: the checkpoint removes all but the last
    small_log_index(cluster)
    keys = put_many(cluster, '/roll-', 300)
    before = log_files(db)
    check(len(before) >= 2, 'logs did not roll over: %r' % before)
    # while a backup holds the upkeep lock, a checkpoint removes nothing
    with open(os.path.join(db, 'upkeep.lock'), 'a') as lk:
        fcntl.flock(lk, fcntl.LOCK_EX)
        rc, out, err = tool(cluster, 'upkeep', 'checkpoint')
    check(rc == 0 and 'log removal skipped' in out, 'checkpoint under the backup lock: %d %r %r' % (
        rc, out, err))
    check(log_files(db) == before, 'logs removed under the backup lock: %r -> %r' % (
        before, log_files(db)))
    rc, out, err = tool(cluster, 'upkeep', 'checkpoint')
    check(rc == 0, 'checkpoint exited %d: %s%s' % (rc, out, err))
    removed, rbytes, remain, _ = parse_checkpoint(out)
    after = log_files(db)
    print('  logs %d -> %d (%s)' % (len(before), len(after), out.strip()))
    check(1 <= len(after) < len(before), 'log files %r -> %r' % (before, after))
    check(removed == len(set(before) - set(after)) and remain == len(after) and rbytes > 0,
          'report %r does not match %r -> %r' % (out, before, after))
    check(after[-1] >= before[-1], 'the current log was removed: %r -> %r' % (before, after))

    # nothing the index needs was removed: every record is there, and stays
    # there through a crash (SIGKILL) and the recovery of the next start
    want = {k.encode(): cluster.expected_record(k, md5hex(v)) for k, v in keys.items()}
    d = dict(cluster.dump())
    check(d == want, 'index after log removal differs: %d records' % len(d))
    for pid in cluster.worker_pids() + [cluster.supervisor_pid()]:
        os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    cluster._cluster('workers-stop', check=False)
    cluster._cluster('workers-start')
    d = dict(cluster.dump())
    check(d == want, 'index after a crash and recovery differs: %d records' % len(d))
    for key in ['/roll-0000', '/roll-0150', '/roll-0299']:
        r = expect(cluster.get(key), 200, 'GET %s after log removal and recovery' % key)
        check(r[2] == keys[key], 'value', *r)
    expect(cluster.put('/roll-new', b'new'), 201, 'PUT after log removal')
    r = expect(cluster.get('/roll-new'), 200, 'GET')
    check(r[2] == b'new', 'new value', *r)
    # a second checkpoint right away has nothing more to remove but works
    rc, out, err = tool(cluster, 'upkeep', 'checkpoint')
    check(rc == 0 and parse_checkpoint(out)[2] >= 1, 'second checkpoint: %d %r %r' % (rc, out, err))


def log_dir_bytes(db):
    total = 0
    for f in log_files(db):
        try:
            total += os.path.getsize(os.path.join(db, f))
        except FileNotFoundError:  # removed by a checkpoint meanwhile
            pass
    return total


@nginx_only
@own_cluster
def test_log_stays_bounded_under_writes(cluster):
    """Under a sustained PUT/DELETE load, with `mkv-upkeep checkpoint` on its
    cadence (the crontab's 5 minutes scaled down to 2 s, and log files of
    128 KiB instead of 10 MB), the log directory never holds more than what
    two intervals wrote plus two log files: the README's bound.  The load
    writes several times that, so the bound would fail without the
    checkpoints."""
    from test_faults import LoadClient
    lg_max, interval, run_for = 128 * 1024, 2.0, 16.0
    small_log_index(cluster, lg_max)
    db = index_dir(cluster)

    def newest():
        logs = log_files(db)
        return int(logs[-1][4:]) if logs else 0

    peak, marks, stop = [0], [newest()], threading.Event()

    def sampler():
        while not stop.is_set():
            peak[0] = max(peak[0], log_dir_bytes(db))
            time.sleep(0.05)

    s = threading.Thread(target=sampler, daemon=True)
    load = LoadClient(cluster, threads=4, sizes=(1024, 1024), timeout=30, prefix='/logb-')
    s.start()
    load.start()
    try:
        # run_for at least, longer (to 60 s) until the load has written
        # three times the bound (a slow build writes less a second)
        t0 = time.time()
        while True:
            time.sleep(interval)
            rc, out, err = tool(cluster, 'upkeep', 'checkpoint')
            check(rc == 0, 'checkpoint exited %d: %s%s' % (rc, out, err))
            marks.append(newest())
            most = max(b - a for a, b in zip(marks, marks[1:]))
            enough = (marks[-1] - marks[0]) >= 3 * (2 * most + 2)
            if time.time() - t0 >= 60 or (time.time() - t0 >= run_for and enough):
                break
    finally:
        load.stop()
        stop.set()
        s.join(5)
    fails = load.failures()
    check(not fails, 'writes failed: %r' % [(o.what, o.key, o.detail[:100]) for o in fails[:5]])
    # Log written per interval, in whole files (a file is lg_max long).
    per = [(b - a) * lg_max for a, b in zip(marks, marks[1:])]
    bound = 2 * max(per) + 2 * lg_max
    written = (marks[-1] - marks[0]) * lg_max
    print('  %s; %d checkpoints; log written %d KiB (at most %d KiB an interval); '
          'log dir at most %d KiB, bound %d KiB' % (
              load.summary(), len(per), written // 1024, max(per) // 1024, peak[0] // 1024,
              bound // 1024))
    check(written >= 2 * bound, 'the load wrote too little log to test the bound: %d KiB, bound '
          '%d KiB' % (written // 1024, bound // 1024))
    check(peak[0] <= bound, 'the log directory reached %d KiB, over the bound of %d KiB' % (
        peak[0] // 1024, bound // 1024))


class Writer(threading.Thread):
    """PUTs fresh keys until stopped; remembers when each was acknowledged."""

    def __init__(self, cluster, prefix):
        super().__init__(daemon=True)
        self.cluster = cluster
        self.prefix = prefix
        self.stop_flag = threading.Event()
        self.acked = []  # (time acknowledged, key, body)
        self.attempted = {}
        self.errors = []

    def run(self):
        i = 0
        while not self.stop_flag.is_set():
            key = '%s%05d' % (self.prefix, i)
            body = hashlib.sha256(key.encode()).digest() * 64
            self.attempted[key] = body
            try:
                r = self.cluster.put(key, body, timeout=30)
            except OSError as e:
                self.errors.append('%s: %s' % (key, e))
                return
            if r[0] != 201:
                self.errors.append('%s: %d %r' % (key, r[0], r[2][:200]))
                return
            self.acked.append((time.time(), key, body))
            i += 1

    def wait_acked(self, n, timeout=60):
        deadline = time.time() + timeout
        while len(self.acked) < n and time.time() < deadline and not self.errors:
            time.sleep(0.02)
        check(len(self.acked) >= n, 'writer: %d acked, errors %r' % (len(self.acked), self.errors))


@nginx_only
@own_cluster
def test_upkeep_backup(cluster):
    small_log_index(cluster)
    w = Writer(cluster, '/bk-')
    w.start()
    try:
        w.wait_acked(200)  # logs have rolled over a few times by now
        started = time.time()
        n_before = len(w.acked)
        before = list(w.acked)
        target = os.path.join(cluster.data, 'backup-1')
        src_logs = log_files(index_dir(cluster))
        rc, out, err = tool(cluster, 'upkeep', 'backup', target)
        ended = time.time()
        w.wait_acked(len(w.acked) + 20)  # the writer kept going after it
    finally:
        w.stop_flag.set()
        w.join(60)
    check(not w.errors, 'PUT failed while backing up: %r' % w.errors)
    check(rc == 0, 'backup exited %d: %s%s' % (rc, out, err))
    m = re.search(r'(\d+) records', out)
    check(m is not None, 'backup output: %r' % out)
    print('  backup in %.2fs while writing: %s (%d keys acked before it, %d after)' % (
        ended - started, out.strip(), n_before, len(w.acked) - n_before))
    files = os.listdir(target)
    check('records.db' in files and 'volumes.db' in files and log_files(target) and
          all(f in ('records.db', 'volumes.db') or f.startswith('log.') for f in files),
          'backup holds other files than the index files and logs: %r' % files)
    # the logs were copied (and replayed): the copy's log goes on from the
    # source's log at the time of the backup, it does not start afresh
    check(len(src_logs) >= 2 and log_files(target)[-1] >= src_logs[-1],
          'backup logs %r, source logs before it %r' % (log_files(target), src_logs))

    live = cluster.dump()
    bk = dump_of(cluster, target)  # opens it the normal way, as workers would
    check(len(bk) == int(m.group(1)), 'backup reported %s records, mkv-dump sees %d' % (
        m.group(1), len(bk)))
    for _t, key, body in before:
        k = key.encode()
        want = cluster.expected_record(key, md5hex(body))
        check(bk.get(k) == want, 'acknowledged key %s in the backup: %r, want %r' % (
            key, bk.get(k), want))
        check(live.get(k) == want, 'live record of %s: %r' % (key, live.get(k)))
    for k, rec in bk.items():
        key = k.decode()
        check(key in w.attempted, 'backup holds a key never written: %r' % k)
        ok = {cluster.expected_record(key, md5hex(w.attempted[key])),
              cluster.expected_record(key, deleted=True)}  # a PUT in flight
        check(rec in ok, 'backup record of %s: %r' % (key, rec))

    # serving from the copy: it is a complete environment
    rc2, out2, err2 = tool(cluster, 'upkeep', 'checkpoint', db=target)
    check(rc2 == 0, 'checkpoint of the backup copy: %d %r' % (rc2, err2))
    # a backup never goes into a directory holding anything
    rc, out, err = tool(cluster, 'upkeep', 'backup', target)
    check(rc == 1 and 'not empty' in err, 'backup into a used dir: exit %d, %r' % (rc, err))
    check(dump_of(cluster, target) == bk, 'the refused backup changed the copy')
    rc, out, err = tool(cluster, 'upkeep', 'backup')
    check(rc == 2, 'backup without DIR: exit %d' % rc)
    # a second backup into a new directory sees the later keys too
    target2 = os.path.join(cluster.data, 'backup-2')
    rc, out, err = tool(cluster, 'upkeep', 'backup', target2)
    check(rc == 0, 'second backup: %d %r' % (rc, err))
    bk2 = dump_of(cluster, target2)
    check(bk2 == dict(cluster.dump()), 'a backup of a quiet cluster differs from its index')


# ---------------------------------------------------------------------------
# mkv-dump --columns
# ---------------------------------------------------------------------------

@nginx_only
def test_dump_columns(cluster):
    """mkv-dump --columns: key, state, md5 and volumes of each record, the
    same records as the default form."""
    live, gone = fresh_key('/dumpcol-'), fresh_key('/dumpcol-')
    expect(cluster.put(live, b'live value'), 201)
    expect(cluster.put(gone + '%20x', b'unlinked value'), 201)
    expect(cluster.request('UNLINK', gone + '%20x'), 204)
    rc, out, err = tool(cluster, 'dump', '--columns')
    check(rc == 0, 'mkv-dump --columns exited %d: %s' % (rc, err))
    rows = {}
    for line in out.splitlines():
        cols = line.split('\t')
        check(len(cols) == 4, 'not 4 columns: %r' % line)
        rows[unescape_dump_key(cols[0])] = cols[1:]
    check(rows.get(key_of(live)) == ['live', md5hex(b'live value'), ','.join(
        cluster.placement(live))], 'live row: %r' % rows.get(key_of(live)))
    check(rows.get(key_of(gone + '%20x')) == ['unlinked', md5hex(b'unlinked value'), ','.join(
        cluster.placement(gone + '%20x'))], 'unlinked row: %r' % rows.get(key_of(gone + '%20x')))
    check(set(rows) == set(cluster.dump()), 'columns and records list other keys')


# ---------------------------------------------------------------------------
# imported records and keys the workers must not trust or cannot reach
# ---------------------------------------------------------------------------

import base64  # noqa: E402

from harness import show  # noqa: E402

def index_put_bin(cluster):
    return built_tool('index-put')


def index_put(cluster, key, record):
    """Write a record into the cluster's index unchecked (a damaged index)."""
    p = subprocess.run([index_put_bin(cluster), index_dir(cluster), esc(key), esc(record)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    check(p.returncode == 0, 'index-put failed: %s' % p.stderr.decode('utf-8', 'replace'))


def place_files(cluster, key, body):
    """Put body where placement puts key's replicas, as the original did."""
    for v in cluster.placement(key):
        path = cluster.disk_path(v, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'wb') as f:
            f.write(body)


def worker_log(cluster):
    with open(os.path.join(cluster.data, 'logs', 'fcgi.log'), 'rb') as f:
        return f.read().decode('utf-8', 'replace')


@nginx_only
@own_cluster
def test_import_header_injection(cluster):
    """A record whose volume path carries CR LF (or whose hash is not hex)
    is listed and skipped by mkv-import; one already in the index (written
    unchecked) makes GET answer 500 with a reason, never copies it into a
    header, and is logged with its key escaped; mkv-delete removes it."""
    h = md5hex(b'injected')
    good = {b'/inj/good': 'HASH' + h + ','.join(cluster.placement(b'/inj/good')),
            b'/inj/forms': 'HASH' + h + '[::1]:3001/sv0A,127.0.0.1:3002/sv1FF,larry,moe:80'}
    evil_vol = cluster.placement(b'/inj/evil')[0] + '\r\nX-Evil: 1'
    bad = {b'/inj/evil': 'HASH' + h + evil_vol,
           b'/inj/evil-second': 'DELETED' + cluster.placement(b'/inj/evil-second')[0] +
           ',x\r\nLocation: http://evil.example/',
           b'/inj/evil-at': 'evil.example@' + cluster.placement(b'/inj/evil-at')[0],
           b'/inj/bad-hash': 'HASH' + 'g' * 32 + cluster.placement(b'/inj/bad-hash')[0],
           b'/inj/bad-hash-crlf': 'HASH' + h[:30] + '\r\n' + cluster.placement(b'/inj/x')[0]}
    src = os.path.join(cluster.data, 'ldb-inject')
    ldb_write(src, {**good, **bad})
    rc, out, err = tool(cluster, 'import', src)
    s = summary(out)
    check(rc == 1, 'import of malformed records exited %d: %s %s' % (rc, out, err))
    check(s.get('written') == len(good) and s.get('skipped (malformed)') == len(bad),
          'summary: %r %r' % (out, err))
    for k in bad:
        check(("skipped key '%s'" % k.decode()) in err, 'no message about %r in %r' % (k, err))
    check('volume path 1 is not host[:port][/svXX]' in err and
          'volume path 2 is not host[:port][/svXX]' in err and '32 lowercase hex' in err,
          'reasons: %r' % err)
    check('\r' not in err and 'X-Evil: 1' not in err and '%0D%0AX-Evil:%201' in err,
          'the record bytes are not escaped in the report: %r' % err)
    d = cluster.dump()
    check(set(d) == set(good), 'index after the import: %r' % sorted(d))

    # the same record written straight into the index: a GET answers 500
    place_files(cluster, b'/inj/evil', b'evil value')
    index_put(cluster, b'/inj/evil', bad[b'/inj/evil'])
    for method in ('GET', 'HEAD'):
        r = cluster.request(method, '/inj/evil')
        check(r[0] == 500, '%s of a malformed record: %s' % (method, show(*r)))
        check('x-evil' not in r[1] and 'location' not in r[1] and 'key-volumes' not in r[1],
              '%s copied the record into headers: %r' % (method, r[1]))
        if method == 'GET':
            check(b'malformed' in r[2], 'reason of the 500: %r' % r[2])
    log = worker_log(cluster)
    check('malformed index record for key /inj/evil' in log, 'worker log: %r' % log[-2000:])
    check('X-Evil' not in log, 'the worker logged the record bytes: %r' % log[-2000:])
    # mkv-delete removes it, files included (placement volumes only: the
    # record's volume paths are not trusted)
    rc, out, err = tool(cluster, 'delete', '--volumes=' + ','.join(cluster.volumes), '/inj/evil')
    check(rc == 0 and 'deleted /inj/evil: a malformed record' in out,
          'mkv-delete: %d %r %r' % (rc, out, err))
    check(not any(os.path.exists(f) for f in cluster.replica_files(b'/inj/evil')),
          'mkv-delete left files of /inj/evil')
    expect(cluster.request('GET', '/inj/evil'), 404, 'GET after mkv-delete')
    check(set(cluster.dump()) == set(good), 'index after mkv-delete: %r' % sorted(cluster.dump()))
    # the legitimate forms are served
    place_files(cluster, b'/inj/good', b'injected')
    r = expect(cluster.request('GET', '/inj/good'), 302, 'GET of the good record')
    check(r[1].get('key-volumes') == ','.join(cluster.placement(b'/inj/good')), *r)


def unreachable_fixture(cluster):
    """Keys as the original stores them that mkv either serves or reports:
    {key: (record, value or None when it has no files)}."""
    recs = {}

    def live(key, value):
        recs[key] = (cluster.expected_record(key, md5hex(value)), value)

    live(b'/dots/a/../b', b'dot dot value')
    live(b'/dots/./c', b'dot value')
    live(b'/', b'the empty key')
    recs[b'/dots/x/..'] = (cluster.expected_record(b'/dots/x/..', md5hex(b'u'), True), None)
    # reported: nginx refuses a '..' above the root and any %00
    live(b'/../climb', b'climbing value')
    live(b'/nul/a\x00b', b'nul value')
    # failed PUTs' leftovers: base64 name ending in '/', over 189 bytes
    k = next(b'/b64/' + b'x' * i + b'?' for i in range(3)
             if base64.b64encode(b'/b64/' + b'x' * i + b'?').endswith(b'/'))
    recs[k] = (cluster.expected_record(k, deleted=True), None)
    longk = b'/long/' + b'L' * 300
    recs[longk] = (cluster.expected_record(longk, deleted=True), None)
    return recs, k, longk


def delete_commands(err):
    """The mkv-delete commands mkv-import printed: {key bytes: argument}."""
    cmds = {}
    for m in re.finditer(r"key '([^']*)' imported, but no worker can serve it: [^\n]*"
                         r"remove it with: mkv-delete '([^']*)'", err):
        cmds[unescape_dump_key(m.group(1))] = m.group(2)
    return cmds


@nginx_only
@own_cluster
def test_import_unreachable_keys(cluster):
    """Keys the original stores that new writes may not use: '.'/'..'
    segments and '/' are served (GET/HEAD/DELETE/UNLINK) when they have a
    record; those no request can name (a NUL byte, '..' above the root,
    failed PUTs' leftovers) are imported and reported, each with the
    mkv-delete command that removes it; mkv-rebalance reports the over-long
    one without failing; a dry run creates nothing."""
    recs, b64key, longk = unreachable_fixture(cluster)
    src = os.path.join(cluster.data, 'ldb-unreachable')
    ldb_write(src, {k: v[0] for k, v in recs.items()})
    for k, (_, value) in recs.items():
        if value is not None:
            place_files(cluster, k, value)

    # a dry run into an index that does not exist creates nothing
    nodb = os.path.join(cluster.data, 'no-index-yet')
    rc, out, err = tool(cluster, 'import', '--dry-run', src, db=nodb)
    check(rc == 0 and summary(out).get('would write') == len(recs),
          'dry run: %d %r %r' % (rc, out, err))
    check(not os.path.exists(nodb), 'the dry run created %s: %r' % (
        nodb, os.listdir(nodb) if os.path.isdir(nodb) else None))

    rc, out, err = tool(cluster, 'import', src)
    s = summary(out)
    check(rc == 0 and s.get('written') == len(recs), 'import: %d %r %r' % (rc, out, err))
    cmds = delete_commands(err)
    want = {b'/../climb', b'/nul/a\x00b', b64key, longk}
    check(set(cmds) == want and s.get('unreachable through the workers') == len(want),
          'reported %r, want %r: %r' % (sorted(cmds), sorted(want), err))
    check(cmds[b'/nul/a\x00b'] == '/nul/a%00b', 'command for the NUL key: %r' % cmds)
    check('above the root' in err and 'NUL' in err and 'base64' in err and '189' in err,
          'reasons: %r' % err)

    # served through the front ('.' segments sent as %2E)
    for path, key in (('/dots/a/%2E%2E/b', b'/dots/a/../b'), ('/dots/%2E/c', b'/dots/./c'),
                      ('/', b'/')):
        for method in ('GET', 'HEAD'):
            r = expect(cluster.request(method, path), 302, '%s of imported %r' % (method, key))
            want_loc = {'http://%s%s' % (v, key2path(key)) for v in cluster.placement(key)}
            check(r[1].get('location') in want_loc, 'Location of %r' % key, *r)
        f = expect(cluster.follow(*r), 200, 'follow %r' % key)
        check(f[2] == recs[key][1], 'value of %r' % key, *f)
    expect(cluster.request('GET', '/dots/x/%2E%2E'), 404, 'GET of the unlinked dot key')
    r = expect(cluster.request('GET', '/dots/?list'), 200, 'list')
    check(b'"/dots/a/../b"' in r[2] and b'"/dots/./c"' in r[2], 'listing: %r' % r[2])
    # new keys of those kinds stay refused, absent ones read as before
    expect(cluster.put('/dots/q/%2E%2E/new', b'v'), 400, 'PUT of a new dot key')
    expect(cluster.put('/dots/x/%2E%2E', b'v'), 400, 'PUT onto the unlinked dot key')
    expect(cluster.request('GET', '/dots/nope/%2E%2E/x'), 400, 'GET of an absent dot key')
    expect(cluster.request('DELETE', '/dots/nope/%2E%2E/x'), 400, 'DELETE of an absent dot key')
    # rebalanced and deleted like any other key, files included
    expect(cluster.request('REBALANCE', '/dots/a/%2E%2E/b'), 204, 'REBALANCE of a dot key')
    expect(cluster.request('DELETE', '/dots/a/%2E%2E/b'), 204, 'DELETE of a dot key')
    expect(cluster.request('UNLINK', '/dots/%2E/c'), 204, 'UNLINK of a dot key')
    expect(cluster.request('DELETE', '/dots/%2E/c'), 204, 'DELETE of the unlinked dot key')
    expect(cluster.request('DELETE', '/dots/x/%2E%2E'), 204, 'DELETE of an imported unlinked one')
    expect(cluster.request('DELETE', '/'), 204, 'DELETE of the empty key')
    for k in (b'/dots/a/../b', b'/dots/./c', b'/'):
        check(not any(os.path.exists(f) for f in cluster.replica_files(k)),
              'DELETE left files of %r' % k)
    # the unreachable ones really are: nginx refuses them, or the worker does
    for path in ('/nul/a%00b', '/%2E%2E/climb'):
        expect(cluster.request('DELETE', path), 400, 'DELETE %s' % path)
    expect(cluster.request('DELETE', '/long/' + 'L' * 300), 414, 'DELETE of the over-long key')

    # mkv-rebalance: the over-long key is reported, not a failure, run after run
    vols = '--volumes=' + ','.join(cluster.volumes)
    for run in (1, 2):
        rc, out, err = tool(cluster, 'rebalance', vols)
        check(rc == 0, 'rebalance run %d exited %d: %s %s' % (run, rc, out, err))
        lines = [line for line in out.splitlines() if line.startswith('cannot be rebalanced:')]
        check(len(lines) == 1 and '/long/LLL' in lines[0] and 'longer than 189' in lines[0],
              'rebalance run %d report: %r' % (run, out))
        check(re.search(r' 0 failed, 1 cannot be rebalanced', out), 'summary: %r' % out)

    # mkv-delete, as the import said, removes each one with its files
    for k, arg in sorted(cmds.items()):
        rc, out, err = tool(cluster, 'delete', vols, arg)
        check(rc == 0 and out.startswith('deleted '), 'mkv-delete %r: %d %r %r' % (arg, rc, out, err))
        if recs[k][1] is not None:
            check(not any(os.path.exists(f) for f in cluster.replica_files(k)),
                  'mkv-delete left files of %r' % k)
        if k == b64key:  # its URL would be a directory's: no DELETE is sent
            check('no file can exist for it, 0 volume(s) asked' in out, 'mkv-delete: %r' % out)
    left = cluster.dump()
    check(len(left) == 0, 'records left: %r' % dict(left))
    rc, out, err = tool(cluster, 'delete', vols, cmds[longk])
    check(rc == 1 and 'absent' in out, 'mkv-delete of an absent key: %d %r' % (rc, out))
    rc, out, err = tool(cluster, 'rebalance', vols)
    check(rc == 0 and 'cannot be rebalanced:' not in out, 'rebalance after: %d %r' % (rc, out))


# ---------------------------------------------------------------------------
# Escaping: request bytes in the workers' log, index bytes in mkv-dump
# ---------------------------------------------------------------------------

from harness import cluster_env  # noqa: E402

# What may appear raw in a log or a tool's output: printable ASCII (and the
# line ends themselves).
_RAW_BYTE = re.compile(rb'[\x00-\x09\x0b-\x0c\x0e-\x1f\x7f-\xff]')


def _raw_get(cluster, target):
    """GET target (bytes, sent as is) on a fresh plain-HTTP connection;
    returns the status."""
    data = cluster.raw_request(b'GET ' + target +
                               b' HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    check(data.startswith(b'HTTP/1.'), 'not an HTTP answer: %r' % data[:200])
    return int(data.split(b' ', 2)[1])


def db_load_raw(cluster, key, value):
    """Writes key -> value (bytes) straight into the index, stored as those
    bytes past every check (tests/tools/index-put): a damaged record."""
    index_put(cluster, key, value)


@own_cluster
@cluster_env(MKV_LOG_LEVEL=1)
def test_request_log_escapes_request_bytes(cluster):
    """The request log line escapes every byte the client chose (escape_nonprint,
    as the key): raw bytes a front lets through in the query, and %0d%0a,
    never reach the log raw, and each request stays one line."""
    marker = fresh_key('/logesc-')
    path = os.path.join(cluster.data, 'logs', 'fcgi.log')
    start = os.path.getsize(path) if os.path.exists(path) else 0
    queries = [b'list&x=\xff\xfe', b'list&x=\x80y', b'list&x=\x1b[2J', b'list&x=\x01',
               b'list&x=\x7f', b'list&x=\t', b'list&x=%0d%0afake line', b'list&x="%00']
    statuses = [_raw_get(cluster, ('%s-%d?' % (marker, i)).encode() + q)
                for i, q in enumerate(queries)]
    reached = [i for i, st in enumerate(statuses) if st != 400]
    check(reached, 'the front refused every query: %r' % statuses)
    text = b''
    deadline = time.time() + 5
    while time.time() < deadline:
        with open(path, 'rb') as f:
            f.seek(start)
            text = f.read()
        if all(('%s-%d?' % (marker, i)).encode() in text for i in reached):
            break
        time.sleep(0.1)
    check(not _RAW_BYTE.search(text), 'raw bytes in the log: %r' % text)
    lines = text.split(b'\n')
    for i in reached:
        mine = [ln for ln in lines if ('%s-%d?' % (marker, i)).encode() in ln]
        want = (' GET %s-%d?%s %d ' % (marker, i, esc(queries[i]), statuses[i])).encode()
        check(len(mine) == 1 and want in mine[0], 'log line of %r: %r' % (queries[i], mine))
    check(not any(ln.startswith(b'fake') for ln in lines), 'a forged log line: %r' % text)


@nginx_only
@own_cluster
def test_dump_escapes_records(cluster):
    """mkv-dump prints one line per record whatever bytes its key and its
    record hold: both escaped, in the default form and with --columns."""
    put = fresh_key('/dumpesc-') + '%0Anext%1B[2J'
    expect(cluster.put(put, b'value'), 201)
    # a record that decodes, with odd volume paths (mkv-import refuses them:
    # written past it, as a damaged or hand-made index could hold)
    imported = b'/dumpesc/imp\nort'
    imported_rec = 'localhost:3001/sv01\nfake-key localhost:3002/sv02,x:1/sv\x1b[2J03'
    db_load_raw(cluster, imported, imported_rec.encode())
    damaged, damaged_rec = b'/dumpesc/bad\nrecord', b'HASHab\ncd\x01'
    db_load_raw(cluster, damaged, damaged_rec)
    want = {key_of(put): cluster.expected_record(put, md5hex(b'value')).encode(),
            imported: imported_rec.encode(), damaged: damaged_rec}

    env = dict(cluster.env, MKV_DB=index_dir(cluster))
    for columns in ([], ['--columns']):
        p = subprocess.run([os.path.join(cluster.bin, 'mkv-dump')] + columns, env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        check(p.returncode == 0, 'mkv-dump %r exited %d: %r' % (columns, p.returncode, p.stderr))
        check(not _RAW_BYTE.search(p.stdout.replace(b'\t', b' ') if columns else p.stdout),
              'raw bytes in mkv-dump %r: %r' % (columns, p.stdout))
        lines = p.stdout.split(b'\n')
        check(lines[-1] == b'' and len(lines) - 1 == len(want),
              'mkv-dump %r: not one line per record: %r' % (columns, p.stdout))
        rows = {}
        for ln in lines[:-1]:
            if columns:
                cols = ln.split(b'\t')
                check(len(cols) == 4, 'not 4 columns: %r' % ln)
                rows[unescape_dump_key(cols[0])] = [c.decode() for c in cols[1:]]
            else:
                k, sep, rec = ln.partition(b' ')
                check(sep and b' ' not in rec, 'not "<key> <record>": %r' % ln)
                rows[unescape_dump_key(k)] = unescape_dump_key(rec)
        if not columns:
            check(rows == want, 'records: %r, want %r' % (rows, want))
        else:
            # decoded into volumes or, as record_decode checks them, malformed
            check(rows[imported][0] in ('live', 'malformed') and
                  rows[imported][1:] == ['-', esc(imported_rec)], 'imported row: %r' % rows[imported])
            check(rows[damaged] == ['malformed', '-', esc(damaged_rec)],
                  'damaged row: %r' % rows[damaged])


UPGRADE_KEYS = int(os.environ.get('MKV_UPGRADE_KEYS', '20000'))


def v0_index(cluster, records):
    """Replace the cluster's index with one written as mkv 0.1 did (text
    records in index.db: tests/tools/v0-write); workers stopped."""
    stop_workers(cluster)
    db = index_dir(cluster)
    shutil.rmtree(db)
    lines = ''.join('%s\t%s\n' % (esc(k), esc(v)) for k, v in records.items())
    p = subprocess.run([built_tool('v0-write'), db], input=lines.encode('ascii'),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=600)
    check(p.returncode == 0, 'v0-write failed: %r' % p.stderr)


@nginx_only
@own_cluster
def test_upgrade_from_v0(cluster):
    """An index of mkv 0.1 (text records in index.db) is refused clearly (503
    from the workers, exit 3 from the tools) until `mkv-upkeep upgrade`
    converts it; after it every record dumps byte for byte as before, the
    workers serve it without a restart, and the old file is kept."""
    records = {}
    for i in range(UPGRADE_KEYS):
        key = '/upgrade/%06d' % i
        md5 = md5hex(key.encode())
        kind = i % 10
        if kind == 7:    # unlinked
            rec = cluster.expected_record(key, md5, deleted=True)
        elif kind == 8:  # volumes not the placement (explicit in the new form)
            rec = 'HASH%s%s' % (md5, ','.join(reversed(cluster.placement(key))))
        elif kind == 9:  # a failed PUT's leftover: no hash
            rec = 'DELETED' + ','.join(cluster.placement(key))
        else:
            rec = cluster.expected_record(key, md5)
        records[key.encode()] = rec
    records[b'/upgrade/odd\nkey\x1b'] = cluster.expected_record('/x', md5hex(b'x'))
    v0_index(cluster, records)
    cluster._cluster('workers-start')
    live = '/upgrade/%06d' % 1
    r = cluster.get(live, follow=False)
    check(r[0] == 503 and b'mkv-upkeep upgrade' in r[2], 'GET before the upgrade', *r)
    rc, out, err = tool(cluster, 'dump')
    check(rc == 3 and 'mkv-upkeep upgrade' in err, 'mkv-dump before: %d %r' % (rc, err))
    started = time.time()
    rc, out, err = tool(cluster, 'upkeep', 'upgrade', timeout=900)
    took = time.time() - started
    check(rc == 0 and ('%d records converted, 0 left out' % len(records)) in out,
          'upgrade: %d %r %r' % (rc, out, err))
    got = dump_of(cluster, index_dir(cluster))
    want = {k: v for k, v in records.items()}
    check(len(got) == len(want), 'records after the upgrade: %d of %d' % (len(got), len(want)))
    bad = [k for k in want if got.get(k) != want[k]]
    check(not bad, 'records changed by the upgrade: %r' % [(k, want[k], got.get(k))
                                                          for k in bad[:3]])
    files = os.listdir(index_dir(cluster))
    check('index-v0.db' in files and 'records.db' in files and 'index.db' not in files,
          'files after the upgrade: %r' % files)
    old = os.path.getsize(os.path.join(index_dir(cluster), 'index-v0.db'))
    new = os.path.getsize(os.path.join(index_dir(cluster), 'records.db'))
    print('  upgraded %d records in %.1fs: index.db %d B (%.0f B/key) -> records.db %d B '
          '(%.0f B/key)' % (len(records), took, old, old / len(records), new,
                           new / len(records)))
    # the workers serve again within their once-a-second check, unrestarted
    deadline = time.time() + 10
    while True:
        r = cluster.get(live, follow=False)
        if r[0] != 503 or time.time() > deadline:
            break
        time.sleep(0.2)
    # 404 or 302 as the volumes hold the value or not (none here): the
    # record is what is served
    check(r[0] in (302, 404), 'GET after the upgrade', *r)
    check(r[1].get('key-volumes') == ','.join(cluster.placement(live)), 'volumes', *r)
    again = tool(cluster, 'upkeep', 'upgrade')
    check(again[0] == 0 and 'current format already' in again[1], 'second upgrade: %r' % (again,))


@nginx_only
@own_cluster
def test_size_in_record(cluster):
    """A PUT records the value's size: HEAD answers it as Content-Length.  A
    record without one (written as the original's text) gets it from the
    volumes' listings when mkv-rebuild meets its files."""
    key = fresh_key('/size-')
    body = os.urandom(12345)
    expect(cluster.put(key, body), 201)
    r = cluster.get(key, method='HEAD', follow=False)
    check(r[0] == 302 and r[1].get('content-length') == '12345', 'HEAD after PUT', *r)
    r = cluster.get(key, follow=False)
    check(r[0] == 302 and r[1].get('content-length') in ('0', None), 'GET 302 length', *r)
    # the same record as the original's text: no size until a rebuild
    index_put(cluster, key_of(key), cluster.expected_record(key, md5hex(body)))
    r = cluster.get(key, method='HEAD', follow=False)
    check(r[0] == 302 and r[1].get('content-length') == '0', 'HEAD of a sizeless record', *r)
    rc, out, err = tool(cluster, 'rebuild', '--volumes=' + ','.join(cluster.volumes))
    check(rc == 0, 'mkv-rebuild: %d %s %s' % (rc, out, err))
    r = cluster.get(key, method='HEAD', follow=False)
    check(r[0] == 302 and r[1].get('content-length') == '12345', 'HEAD after rebuild', *r)
    check(cluster.dump()[key_of(key)] == cluster.expected_record(key, md5hex(body)),
          'the dump shows the original text')
