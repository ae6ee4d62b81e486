#!/usr/bin/env python3
"""run.py: run the mkv end-to-end tests (Python 3 standard library only).

Usage: python3 tests/e2e/run.py [-k SUBSTRING]... [--front nginx|lighttpd|lighttpd-spawn]
                                [--keep] [--logs] [-v]

Every function named test_* in a module tests/e2e/test_*.py takes a `cluster`
argument (a harness.Cluster) and is run against an nginx-front cluster and
then a lighttpd-front cluster, then lighttpd spawning the workers itself
(lighttpd-spawn).  Markers from harness: @cluster_env(MKV_X=..)
(tests with equal settings share a cluster), @own_cluster (a cluster of its
own), @nginx_only.  The built binaries are taken from $MKV_BIN (default
<repo>/build); other MKV_* variables of the caller are not passed on, so the
clusters run with the contract's defaults.  Prints `PASS|FAIL name [front]` per test
(`SKIP name [front]: reason` for a test that called harness.skip: it does not
apply there) and ends with `N passed, N failed, N skipped`; exits 1 if anything
failed.

  -k SUBSTRING   run only tests whose name (module.function) contains it
                 (may be repeated: any match)
  --front F      run only against front F
  --keep         keep the clusters' data directories (printed) for inspection
  --logs         print the tail of the cluster logs after each failure
  -v             print each test's duration
"""

import argparse
import importlib
import os
import shutil
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import harness  # noqa: E402

FRONTS = ('nginx', 'lighttpd', 'lighttpd-spawn')


def discover():
    tests = []
    for fname in sorted(os.listdir(HERE)):
        if not (fname.startswith('test_') and fname.endswith('.py')):
            continue
        modname = fname[:-3]
        mod = importlib.import_module(modname)
        for name, obj in vars(mod).items():  # definition order
            if name.startswith('test_') and callable(obj) and \
                    getattr(obj, '__module__', None) == modname:
                tests.append(('%s.%s' % (modname, name), obj))
    return tests


class Runner:
    def __init__(self, args):
        self.args = args
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.failures = []  # (name [front], last line of the detail)

    def report(self, ok, name, front, dt, detail=None, skipped=None):
        """skipped: the reason, for a test that does not apply here (it
        counts as neither passed nor failed)."""
        line = '%s %s [%s]' % ('PASS' if ok else 'FAIL', name, front)
        if skipped is not None:
            self.skipped += 1
            line = 'SKIP %s [%s]: %s' % (name, front, skipped)
        elif ok:
            self.passed += 1
        else:
            self.failed += 1
            last = (detail or '').strip().splitlines()[-1:] or ['']
            self.failures.append(('%s [%s]' % (name, front), last[0][:300]))
        if self.args.v:
            line += ' (%.1fs)' % dt
        if detail:
            sys.stdout.write(detail.rstrip('\n') + '\n')
        sys.stdout.write(line + '\n')
        sys.stdout.flush()

    def run_one(self, name, fn, front, *fnargs, cluster=None):
        t0 = time.time()
        try:
            fn(*fnargs)
        except (KeyboardInterrupt, SystemExit):
            raise
        except harness.Skip as e:
            self.report(True, name, front, time.time() - t0,
                        skipped=str(e).strip().replace('\n', ' ') or 'no reason given')
            return
        except BaseException:
            detail = traceback.format_exc()
            if self.args.logs and cluster is not None:
                detail += '--- cluster logs (%s)\n%s' % (cluster.data, cluster.logs_tail(15))
            self.report(False, name, front, time.time() - t0, detail)
            return
        self.report(True, name, front, time.time() - t0)

    def run_group(self, front, env, tests):
        """Start one cluster for these tests, run them, stop it."""
        t0 = time.time()
        try:
            cluster = harness.Cluster(front=front, env=env, keep=self.args.keep)
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            detail = 'cluster start failed (front %s, env %r):\n%s' % (
                front, env, traceback.format_exc())
            for name, _fn in tests:
                self.report(False, name, front, time.time() - t0, detail)
                detail = 'cluster start failed (see above)'
            return
        try:
            if self.args.keep:
                print('# %s cluster %r: %s' % (front, env, cluster.data), flush=True)
            for name, fn in tests:
                self.run_one(name, fn, front, cluster, cluster=cluster)
        finally:
            # Stop first (a sanitizer may report at exit), read the logs, then
            # remove the data directory.
            cluster.stop(remove=False)
            reports = cluster.sanitizer_reports()
            if reports:
                self.report(False, 'sanitizers after %s' % tests[0][0], front, 0,
                            'sanitizer reports in the worker logs:\n' + reports)
            if not self.args.keep:
                shutil.rmtree(cluster.data, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description='mkv end-to-end tests')
    ap.add_argument('-k', action='append', default=[], metavar='SUBSTRING')
    ap.add_argument('--front', choices=FRONTS, action='append')
    ap.add_argument('--keep', action='store_true')
    ap.add_argument('--logs', action='store_true')
    ap.add_argument('-v', action='store_true')
    args = ap.parse_args()

    def on_term(signum, frame):
        raise SystemExit('killed by signal %d' % signum)
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)

    def selected(name):
        return not args.k or any(k in name for k in args.k)

    runner = Runner(args)
    t_start = time.time()
    # The harness's own checks (no cluster needed).
    for name, fn in [('harness.placement_selfcheck', harness.placement_selfcheck),
                     ('harness.dump_parse_selfcheck', harness.dump_parse_selfcheck)]:
        if selected(name):
            runner.run_one(name, fn, 'none')

    tests = [(n, f) for n, f in discover() if selected(n)]
    try:
        for front in args.front or FRONTS:
            mine = [(n, f) for n, f in tests if front in getattr(f, 'fronts', FRONTS)]
            shared = [(n, f) for n, f in mine
                      if not getattr(f, 'own_cluster', False) and not getattr(f, 'cluster_env', None)]
            if shared:
                runner.run_group(front, {}, shared)
            groups = {}
            for n, f in mine:
                if getattr(f, 'cluster_env', None) and not getattr(f, 'own_cluster', False):
                    key = tuple(sorted(f.cluster_env.items()))
                    groups.setdefault(key, []).append((n, f))
            for key, group in groups.items():
                runner.run_group(front, dict(key), group)
            for n, f in mine:
                if getattr(f, 'own_cluster', False):
                    runner.run_group(front, getattr(f, 'cluster_env', None) or {}, [(n, f)])
    except (KeyboardInterrupt, SystemExit) as e:
        print('interrupted: %s' % (e or 'KeyboardInterrupt'), flush=True)
        runner.failed += 1
    table = harness.figures_table()
    if table:
        print('figures (harness.record_figures): faults = faults injected, acknowledged = '
              'writes answered 201, lost = acknowledged writes that did not read back '
              '(must be 0), orphans = failed writes GET could still reach (must be 0), '
              'crashes (must be 0), malformed = malformed requests tried, wrong answers '
              '(must be 0)\n' + table, flush=True)
    if args.v:
        print('# total %.1fs' % (time.time() - t_start))
    # Repeated at the end, where a truncated log still shows them.
    for name, why in runner.failures:
        print('failed: %s: %s' % (name, why))
    # CI reads this line: "N passed, N failed, N skipped", alone on its line.
    print('%d passed, %d failed, %d skipped' % (runner.passed, runner.failed, runner.skipped),
          flush=True)
    return 1 if runner.failed else 0


if __name__ == '__main__':
    sys.exit(main())
