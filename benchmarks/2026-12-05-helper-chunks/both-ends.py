# The rest of a batch after its read, with the applier and the helper at once (ad hoc; not the
# product): on a fresh copy of a template database (the schema of the build being measured applied,
# a consumer with a backlog), the batch's first transaction (the read alone) runs, then the applier's
# loop (apply_next_chunk until done) and the helper's (help_batch with the given chunk until NULL)
# each in a session connected beforehand. Prints when each ended, the events counted and the stale
# orders (none expected). PGHOST/PGPORT/PGUSER as psql reads them.
# Usage: python3 both-ends.py HELPER_CHUNK [TEMPLATE [CONSUMER]]   (defaults s100k_t, order-service)
import os, subprocess, sys, time

env = dict(os.environ, PGOPTIONS='-c synchronous_commit=off -c plan_cache_mode=force_generic_plan -c jit=off -c enable_seqscan=off')
chunk = int(sys.argv[1])
template = sys.argv[2] if len(sys.argv) > 2 else 's100k_t'
consumer = sys.argv[3] if len(sys.argv) > 3 else 'order-service'


def run(*sql):
    subprocess.run(['psql', '-qAt', '-d', 'both_ends', *sum([['-c', s] for s in sql], [])], env=env, check=True, stdout=subprocess.DEVNULL)


def session():
    p = subprocess.Popen(['psql', '-qAt', '-d', 'both_ends'], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
    p.stdin.write("SELECT 1;\n")
    p.stdout.readline()
    return p


subprocess.run(['psql', '-q', '-c', 'DROP DATABASE IF EXISTS both_ends', '-c', f'CREATE DATABASE both_ends TEMPLATE {template}'],
               env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
run('VACUUM ANALYZE', 'CHECKPOINT')
run(f"SELECT events, more FROM order_service.apply_next_chunk('{consumer}', 5000)")
run('CHECKPOINT')
applier, helper = session(), session()
start = time.perf_counter()
applier.stdin.write(f"DO $$ DECLARE r record; BEGIN LOOP SELECT * INTO r FROM order_service.apply_next_chunk('{consumer}', 5000); "
                    "COMMIT; EXIT WHEN NOT r.more; END LOOP; END $$;\nSELECT 'a';\n")
helper.stdin.write(f"DO $$ DECLARE r bigint; BEGIN r := order_service.help_batch('{consumer}', NULL, {chunk}); COMMIT; "
                   f"WHILE r IS NOT NULL LOOP r := order_service.help_batch('{consumer}', r, {chunk}); COMMIT; END LOOP; END $$;\nSELECT 'h';\n")
applier.stdout.readline()
applier_done = time.perf_counter()
helper.stdout.readline()
helper_done = time.perf_counter()
applier.stdin.close(); helper.stdin.close(); applier.wait(); helper.wait()
check = subprocess.run(['psql', '-qAt', '-d', 'both_ends',
                        '-c', f"SELECT applied_events FROM order_service.consumer_positions WHERE consumer = '{consumer}'",
                        '-c', 'SELECT count(*) FROM order_service.stale_orders'], env=env, capture_output=True, text=True).stdout.split()
print(f"helper chunk {chunk}: applier done {1000 * (applier_done - start):.0f} ms, helper done {1000 * (helper_done - start):.0f} ms; "
      f"applied {check[0]}, stale {check[1]}")
