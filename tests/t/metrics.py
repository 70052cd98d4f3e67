#!/usr/bin/env python3
"""metrics.py: the metrics tests' client (t1500, t2580), standard library only.

  metrics.py get PORT FILE            scrape http://127.0.0.1:PORT/metrics into FILE
  metrics.py delta PORT BEFORE SPEC...
      poll the endpoint (10 s) until every SPEC 'name{labels}=N' moved by
      exactly N since the scrape in BEFORE (a missing series counts as 0);
      exit 1 and print every series that differs otherwise
  metrics.py value PORT SERIES        print one series' value
  metrics.py status PORT METHOD PATH  print the HTTP status of one request
"""
import sys
import time
import urllib.error
import urllib.request


def scrape(port):
    with urllib.request.urlopen('http://127.0.0.1:%d/metrics' % port, timeout=10) as r:
        ctype = r.headers.get('Content-Type', '')
        assert ctype.startswith('text/plain'), ctype
        return r.read().decode('utf-8')


def parse(text):
    vals = {}
    for line in text.splitlines():
        if not line or line.startswith('#'):
            continue
        series, value = line.rsplit(' ', 1)
        vals[series] = float(value)
    return vals


def main():
    cmd, port = sys.argv[1], int(sys.argv[2])
    if cmd == 'get':
        open(sys.argv[3], 'w').write(scrape(port))
        return 0
    if cmd == 'value':
        print('%g' % parse(scrape(port))[sys.argv[3]])
        return 0
    if cmd == 'status':
        req = urllib.request.Request('http://127.0.0.1:%d%s' % (port, sys.argv[4]),
                                     method=sys.argv[3], data=b'x=1' if sys.argv[3] == 'POST' else None)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                print(r.status)
        except urllib.error.HTTPError as e:
            print(e.code)
        return 0
    if cmd == 'delta':
        before = parse(open(sys.argv[3]).read())
        want = {}
        for spec in sys.argv[4:]:
            series, n = spec.rsplit('=', 1)
            want[series] = float(n)
        end = time.time() + 10
        while True:
            now = parse(scrape(port))
            bad = ['%s moved by %g, not %g' % (s, now.get(s, 0) - before.get(s, 0), n)
                   for s, n in want.items() if now.get(s, 0) - before.get(s, 0) != n]
            if not bad:
                # and it stays there (nothing counted twice, late)
                time.sleep(0.3)
                again = parse(scrape(port))
                bad = ['%s moved by %g, not %g' % (s, again.get(s, 0) - before.get(s, 0), n)
                       for s, n in want.items() if again.get(s, 0) - before.get(s, 0) != n]
                if not bad:
                    return 0
            if time.time() > end:
                print('\n'.join(bad))
                return 1
            time.sleep(0.1)
    return 2


sys.exit(main())
