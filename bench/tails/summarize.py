#!/usr/bin/env python3
# Medians of 3 of the matrix runs: python3 summarize.py OUTDIR
import json, sys, glob, os, statistics
out = sys.argv[1]
rows = {}
for f in sorted(glob.glob(os.path.join(out, '*-*-*-*-*.json'))):
    name = os.path.basename(f)[:-5]
    rep, rate, mix, load, var = name.split('-')
    try:
        j = json.load(open(f))
    except Exception:
        print('unreadable', f); continue
    rows.setdefault((int(rate), mix, load, var), []).append((int(rep), j))
stages = ['read_to_worker', 'worker_to_queued', 'queued_to_durable', 'durable_to_fanout', 'fanout_to_written']
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float('nan')
def f1(x):
    return ('%.1f' % x) if x < 100 else ('%.0f' % x)
print('| offered deliveries/s | mix | machine | variant | p99 ms [3 runs] | p99.9 ms [3 runs] | delivered/s | lost | server CPU µs/delivery | load avg | server stage p99 ms: read→worker / worker→queued / queued→durable / durable→fan-out / fan-out→written |')
print('|---|---|---|---|---|---|---|---|---|---|---|')
for key in sorted(rows, key=lambda k: (k[0], k[1], k[2] == 'loaded', k[3])):
    rate, mix, load, var = key
    rs = [j for _, j in sorted(rows[key], key=lambda r: r[0])]
    p99 = [j['latency_ms']['p99'] for j in rs]
    p999 = [j['latency_ms']['p999'] for j in rs]
    dps = [j['deliveries_per_s'] for j in rs]
    lost = [j['lost'] for j in rs]
    cpu = [j['server'].get('cpu_us_per_delivery') for j in rs]
    la = [j['machine']['loadavg_1m_before'] for j in rs]
    st = [med([j['server'].get('stages_ms', {}).get(s, {}).get('p99') for j in rs]) for s in stages]
    per = 100 if mix == 'all' else 99
    print('| %s | %s | %s | %s | **%s** [%s] | **%s** [%s] | %.0f | %s | %.2f | %.1f | %s |' % (
        '{:,}'.format(rate * per), mix, load, var, f1(med(p99)), ', '.join(f1(x) for x in p99), f1(med(p999)),
        ', '.join(f1(x) for x in p999), med(dps), '+'.join(str(x) for x in lost), med(cpu), med(la),
        ' / '.join(f1(x) for x in st)))
