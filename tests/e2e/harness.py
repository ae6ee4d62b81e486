"""harness.py: end-to-end test harness for mkv (Python 3 standard library only).

Cluster(front='nginx'|'lighttpd', env={...}) starts a local cluster with
tools/cluster (3 volume nginx servers on free 127.0.0.1 ports, mkv-fcgi
workers, an nginx or lighttpd front) in a fresh temporary MKV_DATA directory;
stop() stops it and removes the directory.  It also holds an independent
Python re-implementation of the placement (docs/compat.md §2.1-§2.2) used as
an oracle for where a value's bytes must be on the volumes' disks.

Run `python3 harness.py` to self-check the oracle against the docs/compat.md §2.3 vectors
(no cluster needed).
"""

import base64
import hashlib
import http.client
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CLUSTER_SCRIPT = os.path.join(REPO, 'tools', 'cluster')


def mkv_bin():
    """Directory holding mkv-fcgi and mkv-dump ($MKV_BIN or <repo>/build)."""
    return os.environ.get('MKV_BIN') or os.path.join(REPO, 'build')


# ---------------------------------------------------------------------------
# Placement oracle (docs/compat.md §2.1 and §2.2)
# ---------------------------------------------------------------------------

def as_bytes(key):
    if isinstance(key, bytes):
        return key
    return key.encode('utf-8', 'surrogateescape')


def key2path(key):
    """'/<hh>/<hh>/<base64 std of key>' (lowercase hex of md5(key)[0], [1])."""
    key = as_bytes(key)
    m = hashlib.md5(key).digest()
    return '/%02x/%02x/%s' % (m[0], m[1], base64.b64encode(key).decode('ascii'))


def key2volume(key, volumes, replicas=3, subvolumes=10):
    """Volume paths of a key, in placement order (rendezvous hashing)."""
    key = as_bytes(key)
    scored = [(hashlib.md5(key + v.encode()).digest(), v) for v in volumes]
    # sort() is stable, and stays stable with reverse=True.
    scored.sort(key=lambda t: t[0], reverse=True)
    out = []
    for score, v in scored[:replicas]:
        if subvolumes == 1:
            out.append(v)
        else:
            sv = int.from_bytes(score[12:16], 'big')
            out.append('%s/sv%02X' % (v, sv % subvolumes))
    return out


def placement_selfcheck():
    """Check the oracle against docs/compat.md §2.1/§2.3; raises AssertionError."""
    vols = ['localhost:3001', 'localhost:3002', 'localhost:3003']

    def L(s):
        return ['localhost:' + x.strip() for x in s.split(',')]

    k200 = '/' + 'x' * 199
    r200 = 'x' * 200
    vectors = [
        # key, r3 sv10, r3 sv1, r1 sv10, path
        ('/hello', '3003/sv04, 3001/sv06, 3002/sv04', '3003, 3001, 3002',
         '3003/sv04', '/3e/d1/L2hlbGxv'),
        ('/wehave', '3001/sv07, 3002/sv04, 3003/sv07', '3001, 3002, 3003',
         '3001/sv07', '/60/08/L3dlaGF2ZQ=='),
        ('/a/b/c', '3001/sv02, 3002/sv01, 3003/sv09', '3001, 3002, 3003',
         '3001/sv02', '/77/e3/L2EvYi9j'),
        (k200, '3003/sv05, 3002/sv03, 3001/sv03', '3003, 3002, 3001',
         '3003/sv05', '/9f/f5/L3h4' + 'eHh4' * 65 + 'eHg='),
        ('hello', '3002/sv06, 3003/sv08, 3001/sv08', '3002, 3003, 3001',
         '3002/sv06', '/5d/41/aGVsbG8='),
        ('wehave', '3001/sv08, 3002/sv07, 3003/sv05', '3001, 3002, 3003',
         '3001/sv08', '/e6/89/d2VoYXZl'),
        ('a/b/c', '3001/sv08, 3003/sv01, 3002/sv08', '3001, 3003, 3002',
         '3001/sv08', '/cf/f4/YS9iL2M='),
        (r200, '3001/sv06, 3003/sv01, 3002/sv04', '3001, 3003, 3002',
         '3001/sv06', '/30/a8/' + 'eHh4' * 66 + 'eHg='),
    ]
    n = 0
    for key, r3sv10, r3sv1, r1sv10, path in vectors:
        for got, want, what in [
                (key2volume(key, vols, 3, 10), L(r3sv10), 'r=3 sv=10'),
                (key2volume(key, vols, 3, 1), L(r3sv1), 'r=3 sv=1'),
                (key2volume(key, vols, 1, 10), L(r1sv10), 'r=1 sv=10'),
                (key2volume(key, vols, 1, 1), L(r3sv1)[:1], 'r=1 sv=1'),
                (key2path(key), path, 'key2path')]:
            assert got == want, 'placement %s of %r: got %r, want %r' % (what, key, got, want)
            n += 1
    assert key2path('helloworld') == '/fc/5e/aGVsbG93b3JsZA==', key2path('helloworld')
    assert len(key2path(k200)) == 7 + 268
    # Go unit-test vectors (larry, moe, curly; r=1 sv=3, volume part only).
    stooges = ['larry', 'moe', 'curly']
    for key, want in [('hello', 'larry'), ('helloworld', 'curly'),
                      ('world', 'moe'), ('blah', 'curly')]:
        got = key2volume(key, stooges, 1, 3)[0].split('/')[0]
        assert got == want, 'stooges %r: got %r, want %r' % (key, got, want)
        n += 1
    got = key2volume('hello', stooges, 3, 3)
    assert got == ['larry/sv00', 'curly/sv01', 'moe/sv02'], got
    # Worked example of docs/compat.md §2.2 (scores).
    assert hashlib.md5(b'/hellolocalhost:3001').hexdigest() == '4071c98280fa53601422ec8d15a12b7e'
    return n + 4


# ---------------------------------------------------------------------------
# Test markers (read by run.py)
# ---------------------------------------------------------------------------

def cluster_env(**env):
    """Run the test on a cluster started with these extra MKV_* settings.
    Tests with equal settings share one such cluster (per front)."""
    def mark(fn):
        fn.cluster_env = {k: str(v) for k, v in env.items()}
        return fn
    return mark


def own_cluster(fn):
    """Run the test on a cluster of its own (it stops volumes, kills workers...)."""
    fn.own_cluster = True
    return fn


def supervised(fn):
    """The test needs the mkv-fcgi supervisor (spawn-fcgi fronts), not
    lighttpd's own spawning of workers (front lighttpd-spawn)."""
    fn.fronts = ('nginx', 'lighttpd')
    return fn


def nginx_only(fn):
    """The test does not apply to the lighttpd front."""
    fn.fronts = ('nginx',)
    return fn


class Skip(Exception):
    """Raised by skip(); run.py reports the test as SKIP with the reason."""


def skip(why):
    """End the running test as skipped: it does not apply here (this front,
    not root...).  A test must never just return instead: run.py would count
    it as passed although it checked nothing."""
    raise Skip(why)


# ---------------------------------------------------------------------------
# Figures: numbers a test reports (faults injected, writes lost...), printed
# by run.py as one table at the end of a run
# ---------------------------------------------------------------------------

FIGURES = []  # [(row name, {column: value})], in the order recorded

# `make faults` (MKV_FAULTS=full) runs the fault suites at full length; `make
# test` runs them shortened to stay inside CI's time.
FULL_FAULTS = os.environ.get('MKV_FAULTS') == 'full'


def record_figures(name, figures):
    """Record one row of figures, e.g. record_figures('faults.volume_kill
    [nginx]', {'faults': 1, 'acknowledged': 120, 'lost': 0}).  Columns are
    free; the summary table has every column any row used."""
    FIGURES.append((str(name), dict(figures)))


def figures_table(rows=None):
    """The recorded figures as a text table ('' when nothing was recorded)."""
    rows = FIGURES if rows is None else rows
    if not rows:
        return ''
    cols = []
    for _name, figs in rows:
        cols += [c for c in figs if c not in cols]
    head = ['test'] + cols
    body = [[name] + [str(figs.get(c, '')) for c in cols] for name, figs in rows]
    # totals of the numeric columns, when there is more than one row
    if len(rows) > 1:
        body.append(['total'] + [str(sum(f[c] for _n, f in rows if isinstance(f.get(c), int)))
                                 for c in cols])
    widths = [max(len(r[i]) for r in [head] + body) for i in range(len(head))]

    def line(r):
        return '  '.join(r[0].ljust(widths[0]) if i == 0 else r[i].rjust(widths[i])
                         for i in range(len(r))).rstrip()
    return '\n'.join([line(head), line(['-' * w for w in widths])] + [line(r) for r in body])


# ---------------------------------------------------------------------------
# HTTP helpers
# ---------------------------------------------------------------------------

def fresh_key(prefix='/swag-'):
    """A fresh random key path, e.g. '/swag-0123456789abcdef0123'."""
    return prefix + secrets.token_hex(10)


def key_of(path):
    """The key bytes the worker must store for a raw request path."""
    return urllib.parse.unquote_to_bytes(path.split('?', 1)[0])


def md5hex(data):
    return hashlib.md5(data).hexdigest()


# The CA file that verifies https fronts and volumes (set by a Cluster that
# serves TLS: its self-signed certificate).
TLS_CAFILE = None


def connection(host, port, scheme='http', timeout=60, blocksize=1 << 20):
    if scheme == 'https':
        ctx = ssl.create_default_context(cafile=TLS_CAFILE)
        return http.client.HTTPSConnection(host, port, timeout=timeout, blocksize=blocksize,
                                           context=ctx)
    return http.client.HTTPConnection(host, port, timeout=timeout, blocksize=blocksize)


def request(host, port, method, path, body=None, headers=None, timeout=60,
            chunked=False, blocksize=1 << 20, stream_to=None, scheme='http'):
    """One request on a fresh connection; the path goes on the wire unmodified.

    body: None, bytes, a file object (needs Content-Length in headers, or
    chunked=True) or an iterable of bytes (chunked=True).  Returns
    (status, headers with lowercased names, body bytes).  If stream_to is a
    callable, the body is passed to it in chunks and the returned body is b''.
    """
    headers = dict(headers or {})
    conn = connection(host, port, scheme, timeout, blocksize)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        names = {k.lower() for k in headers}
        if 'host' not in names:
            conn.putheader('Host', '%s:%d' % (host, port))
        if chunked:
            headers.setdefault('Transfer-Encoding', 'chunked')
        elif body is not None and 'content-length' not in names:
            if isinstance(body, (bytes, bytearray)):
                headers['Content-Length'] = str(len(body))
            else:
                raise ValueError('file body needs a Content-Length header or chunked=True')
        for k, v in headers.items():
            conn.putheader(k, v)
        conn.endheaders()
        if body is not None:
            if chunked:
                if isinstance(body, (bytes, bytearray)):
                    body = [body]
                elif hasattr(body, 'read'):
                    f = body
                    body = iter(lambda: f.read(blocksize), b'')
                for chunk in body:
                    if chunk:
                        conn.send(b'%x\r\n' % len(chunk) + chunk + b'\r\n')
                conn.send(b'0\r\n\r\n')
            elif isinstance(body, (bytes, bytearray)):
                if body:
                    conn.send(body)
            else:
                while True:
                    chunk = body.read(blocksize)
                    if not chunk:
                        break
                    conn.send(chunk)
        resp = conn.getresponse()
        hdrs = {}
        for k, v in resp.getheaders():
            k = k.lower()
            hdrs[k] = hdrs[k] + ', ' + v if k in hdrs else v
        if stream_to is not None:
            while True:
                chunk = resp.read(blocksize)
                if not chunk:
                    break
                stream_to(chunk)
            data = b''
        else:
            data = resp.read()
        return resp.status, hdrs, data
    finally:
        conn.close()


def request_url(method, url, body=None, headers=None, **kw):
    """request() on an absolute http:// or https:// URL (e.g. a Location)."""
    u = urllib.parse.urlsplit(url)
    assert u.scheme in ('http', 'https'), 'not an http(s) URL: %r' % url
    path = u.path or '/'
    if u.query:
        path += '?' + u.query
    kw.pop('scheme', None)
    return request(u.hostname, u.port or (443 if u.scheme == 'https' else 80), method, path,
                   body, headers, scheme=u.scheme, **kw)


def show(status, hdrs, body, limit=300):
    """Short description of a response for failure messages."""
    b = body[:limit]
    return 'status=%s headers=%r body=%r%s' % (status, hdrs, b, '...' if len(body) > limit else '')


def expect(r, status, what=''):
    """Assert the status of response r (a tuple from request()); return r."""
    allowed = tuple(status) if isinstance(status, (tuple, list, set)) else (status,)
    if r[0] not in allowed:
        raise AssertionError('%s: expected status %s, got %s' % (
            what, '/'.join(str(s) for s in allowed), show(*r)))
    return r


def check(cond, msg, *r):
    """assert cond, with msg and (if given) a response description."""
    if not cond:
        raise AssertionError(msg + (': ' + show(*r) if r else ''))


def read_file(path):
    with open(path, 'rb') as f:
        return f.read()


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
    finally:
        s.close()


class Dump(dict):
    """mkv-dump output: {key bytes: record string}; lookups accept str keys."""

    def __getitem__(self, k):
        return dict.__getitem__(self, as_bytes(k))

    def __contains__(self, k):
        return dict.__contains__(self, as_bytes(k))

    def get(self, k, default=None):
        return dict.get(self, as_bytes(k), default)


def built_tool(name):
    """build/tests/tools/<name>: make builds every tests/tools/X.c against the
    library objects with the build's own flags (a sanitizer's runtime too)."""
    exe = os.path.join(mkv_bin(), 'tests', 'tools', name)
    check(os.access(exe, os.X_OK), '%s is not built: run make' % exe)
    return exe


def esc(b):
    """%XX-escape every byte that is not printable ASCII (and '%'), as the
    test tools (ldb-write, index-put) expect."""
    if isinstance(b, str):
        b = b.encode('utf-8')
    return ''.join(chr(c) if 0x21 <= c <= 0x7e and c != 0x25 else '%%%02X' % c for c in b)


def unescape_dump_key(s):
    """Undo mkv-dump's %XX escaping of key bytes."""
    out = bytearray()
    b = s.encode('latin-1') if isinstance(s, str) else s
    i = 0
    while i < len(b):
        c = b[i]
        if c == 0x25:  # '%'
            h = b[i + 1:i + 3]
            if len(h) != 2 or not all(ch in b'0123456789ABCDEFabcdef' for ch in h):
                raise ValueError('bad escape in dump key %r' % s)
            out.append(int(h, 16))
            i += 3
        else:
            out.append(c)
            i += 1
    return bytes(out)


# ---------------------------------------------------------------------------
# Cluster
# ---------------------------------------------------------------------------

def _base_env():
    """The test run's environment without stray MKV_* settings (so defaults
    are the contract's), keeping MKV_BIN, MKV_CONF and MKV_SHARE."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('MKV_') or k in ('MKV_BIN', 'MKV_CONF', 'MKV_SHARE')}
    env['MKV_BIN'] = mkv_bin()
    return env


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().replace(b'\0', b' ').decode('utf-8', 'replace').strip()
    except OSError:
        return ''


class ClusterError(Exception):
    pass


class Cluster:
    """A running local mkv cluster; use as a context manager or call stop()."""

    def __init__(self, front='nginx', env=None, keep=False, nvolumes=3):
        global TLS_CAFILE
        self.front = front
        self.extra = dict(env or {})
        # MKV_E2E_TLS=1: the front also serves HTTPS, and the tests speak it.
        if os.environ.get('MKV_E2E_TLS') == '1':
            self.extra.setdefault('MKV_TLS_PORT', 'auto')
        if self.extra.get('MKV_TLS_PORT') == 'auto':
            self.extra['MKV_TLS_PORT'] = str(free_port())
        self.scheme = 'https' if self.extra.get('MKV_TLS_PORT') else 'http'
        self.tls_port = int(self.extra.get('MKV_TLS_PORT') or 0)
        self.keep = keep
        self.data = tempfile.mkdtemp(prefix='mkv-e2e-%s-' % front)
        self.port = free_port()
        while self.port == self.tls_port:
            self.port = free_port()
        ports = set([self.port, self.tls_port])
        # MKV_S3_PORT='auto' (and MKV_S3_TLS_PORT='auto'): the S3 listener
        # on free ports; s3_env() gives the clients' keys.
        for k in ('MKV_S3_PORT', 'MKV_S3_TLS_PORT'):
            if self.extra.get(k) == 'auto':
                p = free_port()
                while p in ports:
                    p = free_port()
                ports.add(p)
                self.extra[k] = str(p)
        self.s3_port = int(self.extra.get('MKV_S3_PORT') or 0)
        self.s3_tls_port = int(self.extra.get('MKV_S3_TLS_PORT') or 0)
        self.volume_ports = []
        while len(self.volume_ports) < nvolumes:
            p = free_port()
            if p not in ports:
                ports.add(p)
                self.volume_ports.append(p)
        self.host = '127.0.0.1'
        self.url = 'http://127.0.0.1:%d' % self.port
        self.volumes = ['127.0.0.1:%d' % p for p in self.volume_ports]
        self.bin = mkv_bin()
        self.env = _base_env()
        self.env.update({
            'MKV_DATA': self.data,
            'MKV_PORT': str(self.port),
            'MKV_VOLUME_PORTS': ' '.join(str(p) for p in self.volume_ports),
            'MKV_VOLUME_HOST': '127.0.0.1',
            'MKV_FRONT': front,
        })
        self.env.update(self.extra)
        self.replicas = int(self.extra.get('MKV_REPLICAS', 3))
        self.subvolumes = int(self.extra.get('MKV_SUBVOLUMES', 10))
        self.running = False
        if self.tls_port or self.extra.get('MKV_VOLUME_TLS') == 'yes':
            TLS_CAFILE = os.path.join(self.data, 'tls', 'cert.pem')
        try:
            self._cluster('start', timeout=60)
            self.running = True
        except BaseException:
            self.stop(remove=not keep)
            raise

    def s3_env(self):
        """The S3 keys the cluster made (run/s3.env), as a dict."""
        env = {}
        for line in read_file(os.path.join(self.data, 's3.env')).decode().splitlines():
            k, _, v = line.partition('=')
            if k:
                env[k] = v
        return env

    # -- process control ----------------------------------------------------

    def _cluster(self, *args, timeout=60, check=True):
        p = subprocess.run([CLUSTER_SCRIPT] + list(args), env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        out = p.stdout.decode('utf-8', 'replace')
        if check and p.returncode != 0:
            raise ClusterError('tools/cluster %s exited %d:\n%s%s' % (
                ' '.join(args), p.returncode, out, self.logs_tail()))
        return out

    def stop(self, remove=None):
        """Stop everything (always safe to call twice) and remove MKV_DATA."""
        if remove is None:
            remove = not self.keep
        try:
            if os.path.isdir(self.data):
                # Each part waits for its processes to be gone (reaped), which
                # can take seconds where init reaps orphans slowly: stop the
                # parts in parallel, then `tools/cluster stop` sweeps up.
                workers = self._worker_family()
                parts = [['front-stop'], ['workers-stop']] + [
                    ['volume-stop', str(p)] for p in self.volume_ports]
                procs = []
                try:
                    for args in parts:
                        procs.append(subprocess.Popen(
                            [CLUSTER_SCRIPT] + args, env=self.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                finally:
                    for p in procs:
                        try:
                            p.wait(timeout=60)
                        except subprocess.TimeoutExpired:
                            p.kill()
                            p.wait()
                self._cluster('stop', timeout=120, check=False)
                self._kill_leftovers(workers)
        finally:
            self.running = False
            if remove:
                shutil.rmtree(self.data, ignore_errors=True)

    def _worker_family(self):
        """The supervisor and its children: [(pid, cmdline)]."""
        try:
            sup = self.supervisor_pid()
        except (OSError, ValueError, IndexError):
            return []
        pids = [sup]
        try:
            pids += self.worker_pids()
        except (OSError, ValueError):
            pass
        return [(p, _cmdline(p)) for p in pids if _cmdline(p)]

    def _kill_leftovers(self, family):
        """SIGKILL worker processes that survived the stop (a worker whose
        supervisor was killed is orphaned); only the very pids recorded before
        the stop, and only if they still run the same command."""
        for pid, cmd in family:
            if _cmdline(pid) == cmd and 'mkv-fcgi' in cmd:
                try:
                    os.kill(pid, signal.SIGKILL)
                    print('# harness: killed leftover worker %d (%s)' % (pid, cmd), flush=True)
                except OSError:
                    pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def stop_volume(self, port):
        self._cluster('volume-stop', str(port))

    def start_volume(self, port):
        self._cluster('volume-start', str(port))

    def supervisor_pid(self):
        with open(os.path.join(self.data, 'pids', 'fcgi.pid')) as f:
            return int(f.read().split()[0])

    def worker_pids(self):
        """Child pids of the mkv-fcgi supervisor (pgrep -P)."""
        p = subprocess.run(['pgrep', '-P', str(self.supervisor_pid())],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        return sorted(int(x) for x in p.stdout.split())

    def worker_log_size(self):
        """Bytes in the workers' log (logs/fcgi.log) now: an offset for
        worker_log."""
        return os.path.getsize(os.path.join(self.data, 'logs', 'fcgi.log'))

    def worker_log(self, start=0):
        """The workers' log from byte offset start, as text."""
        with open(os.path.join(self.data, 'logs', 'fcgi.log'), 'rb') as f:
            f.seek(start)
            return f.read().decode('utf-8', 'replace')

    def raw_request(self, data, timeout=10):
        """Sends data (a whole request, bytes as they are) on a fresh
        plain-HTTP connection to the front; returns everything it answered."""
        s = socket.create_connection((self.host, self.port), timeout=timeout)
        out = b''
        try:
            s.sendall(data)
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
        finally:
            s.close()
        return out

    def logs_tail(self, n=30):
        """The tail of every log file, for failure messages."""
        out = []
        for root, _dirs, files in os.walk(self.data):
            if '/volumes/' in root + '/' and '/data' in root:
                continue
            for f in files:
                if f.endswith('.log') and f != 'access.log':
                    path = os.path.join(root, f)
                    try:
                        with open(path, 'rb') as fh:
                            lines = fh.read().decode('utf-8', 'replace').splitlines()[-n:]
                    except OSError:
                        continue
                    if lines:
                        out.append('--- %s\n%s\n' % (os.path.relpath(path, self.data),
                                                     '\n'.join(lines)))
        return ''.join(out)

    def sanitizer_reports(self):
        """Reports AddressSanitizer/UBSan/LeakSanitizer/ThreadSanitizer wrote into
        the cluster's logs (the workers' stderr goes to logs/fcgi.log): '' when
        clean.  ThreadSanitizer reports are warnings (the worker goes on), so
        every one counts; those tests/tsan.supp suppresses are never written."""
        marks = ('ERROR: AddressSanitizer', 'ERROR: LeakSanitizer', 'runtime error:',
                 'SUMMARY: UndefinedBehaviorSanitizer', 'WARNING: ThreadSanitizer',
                 'FATAL: ThreadSanitizer')
        out = []
        for root, _dirs, files in os.walk(self.data):
            if '/volumes/' in root + '/' and '/data' in root:
                continue
            for f in files:
                if not f.endswith('.log'):
                    continue
                path = os.path.join(root, f)
                try:
                    with open(path, 'rb') as fh:
                        text = fh.read().decode('utf-8', 'replace')
                except OSError:
                    continue
                hits = [i for i, line in enumerate(text.splitlines())
                        if any(m in line for m in marks)]
                if hits:
                    lines = text.splitlines()
                    out.append('--- %s\n%s\n' % (os.path.relpath(path, self.data),
                                                 '\n'.join(lines[hits[0]:hits[0] + 40])))
        return ''.join(out)

    # -- index ----------------------------------------------------------------

    def dump(self, timeout=60):
        """Run mkv-dump; returns Dump {key bytes: record text}."""
        env = dict(self.env)
        env['MKV_DB'] = os.path.join(self.data, 'index')
        p = subprocess.run([os.path.join(self.bin, 'mkv-dump')], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        if p.returncode != 0:
            raise AssertionError('mkv-dump exited %d: %s' % (
                p.returncode, p.stderr.decode('utf-8', 'replace')))
        d = Dump()
        for line in p.stdout.split(b'\n'):
            if not line:
                continue
            k, sep, rec = line.partition(b' ')
            if not sep:
                raise AssertionError('mkv-dump: bad line %r' % line)
            d[unescape_dump_key(k)] = rec.decode('ascii')
        return d

    def log_flushes(self, timeout=30):
        """How many times the index's log has been flushed to disk (fsync),
        from db5.3_stat -l ("Total log file flushes")."""
        p = subprocess.run(['db5.3_stat', '-l', '-h', os.path.join(self.data, 'index')],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
        if p.returncode != 0:
            raise AssertionError('db5.3_stat -l exited %d: %s' % (
                p.returncode, p.stderr.decode('utf-8', 'replace')))
        for line in p.stdout.decode('ascii', 'replace').splitlines():
            n, _, what = line.partition('\t')
            if what == 'Total log file flushes':
                return int(n)
        raise AssertionError('db5.3_stat -l printed no flush count')

    # -- placement and disks -----------------------------------------------

    def placement(self, key):
        """Volume paths of key (bytes, or a request path str) in placement order."""
        if isinstance(key, str):
            key = key_of(key)
        return key2volume(key, self.volumes, self.replicas, self.subvolumes)

    def volume_root(self, i):
        return os.path.join(self.data, 'volumes', str(self.volume_ports[i]), 'data')

    def volume_index(self, volume):
        return self.volumes.index(volume.split('/')[0])

    def disk_path(self, volpath, key):
        """Where key's bytes are on the disk of volume path 'host:port[/svXX]'."""
        if isinstance(key, str):
            key = key_of(key)
        vol, _, sv = volpath.partition('/')
        root = self.volume_root(self.volume_index(vol))
        if sv:
            root = os.path.join(root, sv)
        return root + key2path(key)

    def replica_files(self, key):
        """Disk paths of every replica of key, in placement order."""
        return [self.disk_path(v, key) for v in self.placement(key)]

    def expected_record(self, key, md5=None, deleted=False):
        rec = ','.join(self.placement(key))
        if md5:
            rec = 'HASH' + md5 + rec
        return ('DELETED' if deleted else '') + rec

    def all_files(self):
        """Set of every file under any volume root (relative to MKV_DATA)."""
        out = set()
        for i in range(len(self.volume_ports)):
            root = self.volume_root(i)
            for d, _dirs, files in os.walk(root):
                for f in files:
                    out.add(os.path.relpath(os.path.join(d, f), self.data))
        return out

    def snapshot(self):
        return (self.dump(), self.all_files())

    # -- HTTP ---------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, **kw):
        if self.scheme == 'https':
            return request(self.host, self.tls_port, method, path, body, headers,
                           scheme='https', **kw)
        return request(self.host, self.port, method, path, body, headers, **kw)

    def follow(self, status, hdrs, body=None, method='GET', headers=None, **kw):
        """Request the Location of a 302 answer: cluster.follow(*response)."""
        assert status == 302 and 'location' in hdrs, 'expected a 302: %s' % show(status, hdrs, b'')
        return request_url(method, hdrs['location'], headers=headers, **kw)

    def get(self, path, headers=None, follow=True, method='GET', **kw):
        """GET (or HEAD) path; if follow and 302, GET the Location."""
        r = self.request(method, path, headers=headers, **kw)
        if follow and r[0] == 302:
            return self.follow(r[0], r[1], method=method, headers=headers, **kw)
        return r

    def put(self, path, body, headers=None, **kw):
        return self.request('PUT', path, body, headers, **kw)

    def delete(self, path, **kw):
        return self.request('DELETE', path, **kw)


def file_md5(path, blocksize=1 << 20):
    h = hashlib.md5()
    with open(path, 'rb') as f:
        while True:
            b = f.read(blocksize)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def dump_parse_selfcheck():
    """Check the mkv-dump key unescaping; raises AssertionError."""
    assert unescape_dump_key('/a%20b/%C3%A9') == '/a b/\u00e9'.encode('utf-8')
    assert unescape_dump_key('/x%25y%7F%00') == b'/x%y\x7f\x00'
    assert unescape_dump_key('/plain') == b'/plain'
    for bad in ('/a%zz', '/a%4'):
        try:
            unescape_dump_key(bad)
        except ValueError:
            continue
        raise AssertionError('unescape_dump_key accepted %r' % bad)
    d = Dump()
    d[b'/caf\xc3\xa9'] = 'x'
    assert '/caf\u00e9' in d and d['/caf\u00e9'] == 'x' and d.get('/nope') is None
    assert key_of('/a%20b/%C3%A9?x=1') == b'/a b/\xc3\xa9'
    return 8


if __name__ == '__main__':
    n = placement_selfcheck()
    print('placement oracle: %d docs/compat.md §2.3 vectors OK' % n)
    n = dump_parse_selfcheck()
    print('dump key parsing: %d checks OK' % n)
