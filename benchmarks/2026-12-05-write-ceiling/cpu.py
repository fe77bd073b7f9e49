# usage: PGBENCH_URL=postgresql://... cpu.py SERVICE_PID SECONDS CLIENTS MODE(http|pgbench) [PORT]
# The whole machine's CPU per request (/proc/stat), the load generator's (wrk or pgbench, as a
# child), the service's (/proc/PID/stat) and the rest (PostgreSQL and the kernel), over one run.
import os, re, subprocess, sys, time, resource
hz = os.sysconf('SC_CLK_TCK')
def proc_cpu(pid):
    f = open(f'/proc/{pid}/stat').read().rsplit(')',1)[1].split()
    return (int(f[11]) + int(f[12])) / hz
def sys_cpu():
    f = open('/proc/stat').readline().split()[1:]
    v = list(map(int, f)); idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / hz
# The benchmark's own request and statement: wrk's from the bare-NIO experiment (the same file),
# pgbench's beside this script.
here = os.path.dirname(os.path.abspath(__file__))
lua = os.path.join(here, '..', '2026-12-03-bare-nio', 'update.lua')
sql = os.path.join(here, 'update.sql')
pid, secs, clients, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
port = sys.argv[5] if len(sys.argv) > 5 else '8080'
s0 = sys_cpu(); p0 = proc_cpu(pid) if pid else 0; c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
t0 = time.time()
if mode == 'http':
    out = subprocess.run(['wrk','-t',str(min(clients,2)),'-c',str(clients),'-d',f'{secs}s','-s',lua,'http://127.0.0.1:'+port], capture_output=True, text=True).stdout
    n = int(re.search(r'(\d+) requests in', out).group(1))
else:
    out = subprocess.run(['pgbench','-n','-M','prepared','-f',sql,'-c',str(clients),'-j',str(min(clients,2)),'-T',str(secs),os.environ['PGBENCH_URL']], capture_output=True, text=True).stdout
    n = int(re.search(r'number of transactions actually processed: (\d+)', out).group(1))
el = time.time() - t0
c1 = resource.getrusage(resource.RUSAGE_CHILDREN); s1 = sys_cpu(); p1 = proc_cpu(pid) if pid else 0
gen = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
tot = s1 - s0; svc = p1 - p0
us = lambda x: f'{x/n*1e6:6.1f}'
print(f'{mode}:{port}  c={clients:3} rate={n/el:8.0f}/s  total={us(tot)} gen={us(gen)} svc={us(svc)} rest(pg)={us(tot-gen-svc)} us/req; cores used {tot/el:.2f}')
