"""TLS: the front over HTTPS (the route suites again, through a child runner
with MKV_E2E_TLS=1), and volumes served over HTTPS that the workers and
admin tools verify against a CA file (volume_scheme, volume_cafile)."""

import os
import ssl
import subprocess

import harness
from harness import check, cluster_env, expect, fresh_key, key_of, md5hex, own_cluster, read_file

# Route suites that speak only through Cluster.request (no raw sockets).
TLS_SUITES = ['test_basic.', 'test_list.', 'test_original.', 'test_badinput.', 'test_values.',
              'test_settings.', 'test_observability.']


def run_child(front, suites, extra_env):
    env = dict(os.environ, **extra_env)
    args = [a for k in suites for a in ('-k', k)]
    p = subprocess.run(['python3', os.path.join(harness.HERE, 'run.py'), '--front', front] + args,
                       env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.decode(errors='replace').splitlines()
    last = [l for l in out if l.endswith((' failed', ' skipped')) and ' passed, ' in l]
    return p.returncode, (last[-1] if last else 'no result line'), out


def test_routes_over_https(cluster):
    rc, last, out = run_child(cluster.front, TLS_SUITES, {'MKV_E2E_TLS': '1'})
    print('  over https: ' + last)
    check(rc == 0 and not last.startswith('0 passed') and last != 'no result line',
          'route suites over https:\n' + '\n'.join('    ' + l for l in out[-40:]))


@own_cluster
@cluster_env(MKV_TLS_PORT='auto')
def test_https_front_certificate(cluster):
    """The HTTPS front presents the configured pair; an unverified client is
    refused by its own TLS stack, a client with the CA file gets through."""
    port = cluster.tls_port
    cert = os.path.join(cluster.data, 'tls', 'cert.pem')
    check(os.path.isfile(cert) and os.path.isfile(os.path.join(cluster.data, 'tls', 'key.pem')),
          'no generated certificate pair')
    pem = ssl.get_server_certificate(('127.0.0.1', port))
    check(pem.strip() == open(cert).read().strip(), 'the front serves another certificate')
    try:
        ctx = ssl.create_default_context()  # the system CAs only
        with ssl.create_connection(('127.0.0.1', port)) as s:
            ctx.wrap_socket(s, server_hostname='localhost')
        check(False, 'a self-signed front verified without its CA file')
    except ssl.SSLCertVerificationError:
        pass
    key = fresh_key()
    expect(cluster.put(key, b'over tls'), 201, 'PUT over https')
    r = expect(cluster.get(key), 200, 'GET over https')
    check(r[2] == b'over tls', 'value', *r)
    # plain HTTP still answers on the HTTP port
    expect(harness.request('127.0.0.1', cluster.port, 'GET', key), 302, 'GET over http')


def https_volume_env(cluster, cafile=None):
    env = dict(cluster.env)
    env['MKV_DB'] = os.path.join(cluster.data, 'index')
    env['MKV_VOLUMES'] = ','.join(cluster.volumes)
    env['MKV_VOLUME_SCHEME'] = 'https'
    env['MKV_VOLUME_CAFILE'] = cafile or os.path.join(cluster.data, 'tls', 'cert.pem')
    return env


@own_cluster
@cluster_env(MKV_VOLUME_TLS='yes')
def test_volumes_over_https(cluster):
    key = fresh_key()
    body = os.urandom(300000)
    expect(cluster.put(key, body), 201, 'PUT to https volumes')
    for f in cluster.replica_files(key):
        check(read_file(f) == body, 'replica bytes: ' + f)
    check(cluster.dump().get(key_of(key)) == cluster.expected_record(key, md5hex(body)), 'record')
    st, hdrs, _ = expect(cluster.get(key, follow=False), 302, 'GET')
    check(hdrs['location'].startswith('https://127.0.0.1:'), 'Location scheme', st, hdrs, b'')
    r = expect(cluster.follow(st, hdrs), 200, 'follow to the https volume')
    check(r[2] == body, 'value through https')
    # the admin tools reach https volumes too: a rebuild into a fresh index
    fresh = os.path.join(cluster.data, 'rebuilt')
    env = https_volume_env(cluster)
    env['MKV_DB'] = fresh
    p = subprocess.run([os.path.join(cluster.bin, 'mkv-rebuild')], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    check(p.returncode == 0, 'rebuild over https: %s' % p.stderr.decode()[-500:])
    expect(cluster.delete(key), 204, 'DELETE on https volumes')
    for f in cluster.replica_files(key):
        check(not os.path.exists(f), 'replica left after DELETE: ' + f)

    # Workers that do not trust the volumes' certificate: writes fail with a
    # 5xx naming the certificate problem, and leave nothing behind.
    kept = fresh_key()
    expect(cluster.put(kept, b'kept'), 201)
    cluster.env['MKV_VOLUME_CAFILE'] = '/etc/ssl/certs/ca-certificates.crt'
    cluster._cluster('workers-stop')
    cluster._cluster('workers-start')
    bad = fresh_key()
    r = cluster.put(bad, b'never stored')
    check(r[0] == 500 and b'certificate' in r[2].lower(), 'PUT to untrusted volumes', *r)
    check(key_of(bad) not in cluster.dump(), 'a failed PUT left a record')
    check(not any(os.path.exists(f) for f in cluster.replica_files(bad)),
          'a failed PUT left a replica')
    # reads: every probe fails on the certificate: 503 saying so, not 404
    r = cluster.get(kept, follow=False)
    check(r[0] == 503 and b'certificate' in r[2].lower() and 'key-volumes' in r[1],
          'GET with untrusted volumes', *r)
    r = cluster.delete(kept)
    check(r[0] == 500 and b'certificate' in r[2].lower(), 'DELETE on untrusted volumes', *r)
    check(all(os.path.exists(f) for f in cluster.replica_files(kept)),
          'replicas of a failed DELETE went missing')
