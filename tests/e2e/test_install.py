"""test_install.py: `make install` into a DESTDIR, and the nginx include
snippets inside a server block that serves other locations too."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import harness
from harness import check, expect, fresh_key, free_port, key_of, md5hex, nginx_only, own_cluster

INSTALLED = ['bin/mkv-fcgi', 'bin/mkv-dump', 'bin/mkv-rebuild', 'bin/mkv-rebalance',
             'bin/mkv-upkeep', 'bin/mkv-import', 'etc/mkv/mkv.conf',
             'share/mkv/nginx/mkv-location.conf', 'share/mkv/nginx/mkv-prefix.conf',
             'share/mkv/nginx/volume.conf.in', 'share/mkv/nginx/front.conf.in',
             'share/mkv/nginx/mkv-tls.conf', 'share/mkv/nginx/mkv-s3.conf',
             'share/mkv/nginx/mkv-s3.js', 'share/mkv/lighttpd/front.conf.in',
             'share/mkv/lighttpd/front-spawn.conf.in',
             'share/mkv/crontab.example', 'lib/systemd/system/mkv-fcgi.service',
             'lib/systemd/system/mkv-volume@.service', 'etc/mkv/volume-writers.conf'] + [
                 'share/man/man1/%s.1' % b for b in ('mkv-fcgi', 'mkv-dump', 'mkv-rebuild',
                                                     'mkv-rebalance', 'mkv-upkeep', 'mkv-import')]

# The route suites run again against the installed binaries and config.
INSTALLED_SUITES = ['test_basic.', 'test_list.', 'test_badinput.', 'test_values.']


def make_install(dest):
    """`make install DESTDIR=dest` of the binaries under test; returns the
    installed prefix (dest/usr/local)."""
    p = subprocess.run(['make', '-C', harness.REPO, '--no-print-directory', 'install',
                        'DESTDIR=' + dest, 'BUILD=' + harness.mkv_bin()],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    check(p.returncode == 0, 'make install failed: %s' % p.stdout.decode()[-2000:])
    return os.path.join(dest, 'usr/local')


@nginx_only
@own_cluster
def test_make_install_and_serve_from_it(cluster):
    dest = tempfile.mkdtemp(prefix='mkv-dest-')
    try:
        prefix = make_install(dest)
        for f in INSTALLED:
            check(os.path.isfile(os.path.join(prefix, f)), 'not installed: %s' % f)
        unit = open(os.path.join(prefix, 'lib/systemd/system/mkv-fcgi.service')).read()
        check('/usr/local/bin/mkv-fcgi' in unit and '@' not in unit.replace('@.', ''),
              'unit not rendered: %s' % unit)
        vunit = open(os.path.join(prefix, 'lib/systemd/system/mkv-volume@.service')).read()
        check('/usr/local/share/mkv/nginx/volume.conf.in' in vunit and
              '/usr/local/etc/mkv/volume-writers.conf' in vunit and
              not any('@%s@' % w in vunit for w in ('BINDIR', 'SYSCONFDIR', 'DATADIR',
                                                    'LOCALSTATEDIR')),
              'volume unit not rendered: %s' % vunit)
        conf = open(os.path.join(prefix, 'etc/mkv/mkv.conf')).read()
        check('\ndb = /var/lib/mkv/index\n' in conf and
              'StateDirectory=mkv' in unit, 'installed db is not the unit\'s state directory')
        # Nothing outside DESTDIR: every installed path is below it.
        outside = [f for f in os.listdir(dest) if f != 'usr']
        check(not outside, 'installed outside usr/: %s' % outside)

        # The installed binaries, configuration and front/volume configs serve
        # a cluster of their own.
        bindir = os.path.join(prefix, 'bin')
        installed = {'MKV_BIN': bindir, 'MKV_CONF': os.path.join(prefix, 'etc/mkv/mkv.conf'),
                     'MKV_SHARE': os.path.join(prefix, 'share/mkv')}
        c = harness.Cluster(env=dict(installed))
        c.bin = bindir
        try:
            path = fresh_key()
            expect(c.put(path, b'installed'), 201)
            st, _, body = c.get(path)
            check(st == 200 and body == b'installed', 'GET from installed: %d' % st)
            check(c.dump().get(key_of(path)) == c.expected_record(path, md5hex(b'installed')),
                  'record from the installed mkv-dump')
            ps = subprocess.run(['ps', '-o', 'args=', '-p', str(c.supervisor_pid())],
                                stdout=subprocess.PIPE).stdout.decode()
            check(ps.startswith(bindir), 'the cluster runs %r, not the installed binary' % ps)
            front = open(os.path.join(c.data, 'front', 'nginx.conf')).read()
            check(os.path.join(prefix, 'share/mkv/nginx/mkv-location.conf') in front,
                  'the front does not include the installed snippet: %s' % front[-600:])
        finally:
            c.stop()
        man = open(os.path.join(prefix, 'share/man/man1/mkv-rebalance.1')).read()
        check('dry\\-run' in man and '.TH MKV-REBALANCE' in man, 'man page: %s' % man[:300])

        # The route suites, run again by a child runner on the installed tree,
        # behind both fronts.
        env = dict(os.environ, **installed)
        args = [a for k in INSTALLED_SUITES for a in ('-k', k)]
        for front in ('nginx', 'lighttpd'):
            p = subprocess.run(['python3', os.path.join(harness.HERE, 'run.py'), '--front',
                                front] + args, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            out = p.stdout.decode(errors='replace').splitlines()
            last = [l for l in out if l.endswith((' failed', ' skipped')) and ' passed, ' in l]
            print('  installed tree, %s front: %s' % (front, last[-1] if last else 'no result line'))
            check(p.returncode == 0 and last and not last[-1].startswith('0 passed'),
                  'suites against the installed tree (%s):\n' % front +
                  '\n'.join('    ' + l for l in out[-40:]))
    finally:
        shutil.rmtree(dest, ignore_errors=True)


@nginx_only
def test_installed_volume_unit_runs(cluster):
    """Runs what systemd would for mkv-volume@PORT (ExecStartPre lines, then
    ExecStart) with the installed tree in place of /usr/local and a scratch
    root, then checks the volume serves, takes a write from 127.0.0.1 (the
    installed writers file) and stops with its ExecStop."""
    if os.getuid() != 0:
        harness.skip('the volume unit\'s ExecStartPre chowns to www-data: needs root')
    dest = tempfile.mkdtemp(prefix='mkv-dest-')
    try:
        prefix = make_install(dest)
        with open(os.path.join(prefix, 'lib/systemd/system/mkv-volume@.service')) as f:
            run_volume_unit(f.read(), prefix)
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def run_volume_unit(unit, prefix):
    port = free_port()
    root = tempfile.mkdtemp(prefix='mkv-unit-')
    os.chmod(root, 0o755)  # the www-data workers must reach data/
    env_root = root + '/volumes/%d' % port
    try:
        cmds = []
        for line in unit.splitlines():
            key, _, cmd = line.partition('=')
            if key in ('ExecStartPre', 'ExecStart'):
                cmd = cmd.replace('%i', str(port)).replace('${ROOT}', env_root)
                cmds.append(cmd.replace('/usr/local/', prefix + '/'))
        check(len(cmds) >= 2, 'volume unit has no Exec lines: %s' % unit)
        for cmd in cmds:
            p = subprocess.run(['/bin/sh', '-c', cmd], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
            check(p.returncode == 0, 'volume unit: %s failed: %s' % (cmd, p.stdout.decode()))
        deadline = time.time() + 5
        r = None
        while time.time() < deadline:
            try:
                r = harness.request('127.0.0.1', port, 'GET', '/')
                break
            except OSError:
                time.sleep(0.05)
        check(r and r[0] == 200 and r[1].get('content-type') == 'application/json',
              'the unit\'s volume does not serve its autoindex: %r' % (r,))
        expect(harness.request('127.0.0.1', port, 'PUT', '/ab/cd/x', b'unit'), 201,
               'PUT to the unit\'s volume')
        with open(os.path.join(env_root, 'data/ab/cd/x'), 'rb') as f:
            check(f.read() == b'unit', 'the unit\'s volume stored other bytes')
    finally:
        pidfile = os.path.join(env_root, 'nginx.pid')
        if os.path.exists(pidfile):
            with open(pidfile) as f:
                pid = int(f.read().strip())
            os.kill(pid, signal.SIGQUIT)  # ExecStop
            for _ in range(100):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.05)
        shutil.rmtree(root, ignore_errors=True)


def start_nginx(conf_text, workdir):
    os.makedirs(os.path.join(workdir, 'tmp'), exist_ok=True)
    conf = os.path.join(workdir, 'nginx.conf')
    with open(conf, 'w') as f:
        f.write(conf_text)
    subprocess.run(['nginx', '-q', '-p', os.path.join(workdir, 'tmp'), '-c', conf,
                    '-e', os.path.join(workdir, 'error.log')], check=True)
    return os.path.join(workdir, 'nginx.pid')


@nginx_only
def test_include_snippets_in_existing_server(cluster):
    """mkv-location.conf at the root and mkv-prefix.conf under /kv/, each
    included into a server block that also serves a location of its own."""
    work = tempfile.mkdtemp(prefix='mkv-snippet-')
    root_port, prefix_port = free_port(), free_port()
    here = os.path.join(harness.REPO, 'nginx')
    sock = os.path.join(cluster.data, 'fcgi.sock')
    user = 'user root root;' if os.getuid() == 0 else ''
    conf = '''%(user)s
pid %(w)s/nginx.pid;
error_log %(w)s/error.log;
events { worker_connections 256; }
http {
    client_body_temp_path %(w)s/body; proxy_temp_path %(w)s/proxy;
    fastcgi_temp_path %(w)s/fcgi; uwsgi_temp_path %(w)s/uwsgi; scgi_temp_path %(w)s/scgi;
    access_log off;
    upstream mkv_workers { server unix:%(sock)s; }
    server {
        listen 127.0.0.1:%(rp)d;
        location /static/ { return 200 "static root\\n"; }
        include %(here)s/mkv-location.conf;
    }
    server {
        listen 127.0.0.1:%(pp)d;
        location / { return 200 "the site\\n"; }
        include %(here)s/mkv-prefix.conf;
    }
}
''' % {'user': user, 'w': work, 'sock': sock, 'rp': root_port, 'pp': prefix_port,
       'here': here}
    pidfile = start_nginx(conf, work)
    try:
        # Root: mkv keys and the server's own location side by side.
        path = fresh_key()
        expect(harness.request('127.0.0.1', root_port, 'PUT', path, b'at root'), 201)
        st, hdrs, _ = harness.request('127.0.0.1', root_port, 'GET', path)
        check(st == 302, 'GET at root: %d' % st)
        st, _, body = harness.request('127.0.0.1', root_port, 'GET', '/static/x')
        check(st == 200 and body == b'static root\n', 'other location at root: %d %r'
              % (st, body))
        # Prefix: /kv/<key> stores <key>; the site keeps its root.
        key = fresh_key()
        expect(harness.request('127.0.0.1', prefix_port, 'PUT', '/kv' + key, b'prefixed'), 201)
        st, hdrs, _ = harness.request('127.0.0.1', prefix_port, 'GET', '/kv' + key)
        check(st == 302, 'GET under the prefix: %d' % st)
        st, _, body = harness.request_url('GET', hdrs['location'])
        check(st == 200 and body == b'prefixed', 'following the redirect: %d' % st)
        dump = cluster.dump()
        check(dump.get(key_of(key)) == cluster.expected_record(key, md5hex(b'prefixed')),
              'prefixed PUT stored key %s: %r' % (key, dump.get(key_of(key))))
        check(key_of('/kv' + key) not in dump, 'the prefix leaked into the key')
        st, _, body = harness.request('127.0.0.1', prefix_port, 'GET', '/kv%s?list' % key)
        check(st == 200 and key.encode() in body, 'listing under the prefix: %d %r' % (st, body))
        st, _, body = harness.request('127.0.0.1', prefix_port, 'GET', '/elsewhere')
        check(st == 200 and body == b'the site\n', 'the site outside the prefix: %d' % st)
    finally:
        try:
            with open(pidfile) as f:
                pid = int(f.read())
            os.kill(pid, 15)
        except (OSError, ValueError):
            pass
        shutil.rmtree(work, ignore_errors=True)
