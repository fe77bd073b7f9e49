# The floor as ecst-bench measures it: UPDATE + NOTIFY committed by 16 pgbench clients at an offered
# rate, to a bare LISTEN session stamping each notification as it reads it; commit timestamp to
# wake-up, p50 and p99. Usage: python3 floor.py RATE SECONDS (PGHOST, PGPORT, PGUSER, DB as for
# propagation.sh; psycopg2).
import os, select, subprocess, sys, time
import psycopg2
rate, secs = sys.argv[1], sys.argv[2]
here = os.path.dirname(os.path.abspath(__file__))
conn = psycopg2.connect(dbname=os.environ["DB"])
conn.autocommit = True
cur = conn.cursor()
cur.execute("CREATE TABLE IF NOT EXISTS public.bench_floor (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0)")
cur.execute("INSERT INTO public.bench_floor (id) SELECT generate_series(1, 64) ON CONFLICT DO NOTHING")
cur.execute("LISTEN bench_floor")
pgbench = subprocess.Popen(["pgbench", "-n", "-M", "prepared", "-c", "16", "-j", "2", "-R", rate, "-T", secs,
                            "-f", os.path.join(here, "floor.sql"), os.environ["DB"]],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
woken = []
while pgbench.poll() is None or select.select([conn], [], [], 0.5)[0]:
    if not select.select([conn], [], [], 0.5)[0]:
        continue
    conn.poll()
    now = time.time()
    while conn.notifies:
        woken.append((conn.notifies.pop(0).payload, now))
cur.execute("""
    SELECT round((percentile_disc(0.5) WITHIN GROUP (ORDER BY s))::numeric * 1000, 3),
           round((percentile_disc(0.99) WITHIN GROUP (ORDER BY s))::numeric * 1000, 3), count(*)
    FROM (SELECT t - extract(epoch FROM pg_xact_commit_timestamp(x::xid8::text::xid))::float8 AS s
          FROM unnest(%s::text[], %s::float8[]) AS r(x, t)) q""", ([w[0] for w in woken], [w[1] for w in woken]))
print("floor at %s/s: p50 %s ms, p99 %s ms, %s notifications" % ((rate,) + cur.fetchone()))
