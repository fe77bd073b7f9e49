# first-read.sh BINARY: ms from exec to the consumer's LISTEN, its position's registration and its first apply_next_chunk (each as sent), traced with strace (which slows all of them)
cd "$(dirname "$0")/../.."
trace=$(mktemp)
DATABASE_URL="${DATABASE_URL:?a database with the schema and a consumer}" PORT=8081 timeout 0.4 strace -s 300 --seccomp-bpf -qq -f -ttt -e trace=execve,sendto -e signal=none -o "$trace" $1 >/dev/null 2>&1
TRACE="$trace" python3 - <<'PY'
t0=None; out={}
import os
for l in open(os.environ['TRACE']):
    f=l.split(None,2); t=float(f[1])*1000; r=f[2]
    if r.startswith('execve') and t0 is None: t0=t
    for k,pat in (('listen','LISTEN'),('register','INSERT INTO order_service.consumer_positions'),('read','apply_next_chunk')):
        if pat in r and k not in out: out[k]=t-t0
print(' '.join(f"{k}={out.get(k,-1):.1f}" for k in ('listen','register','read')))
PY
rm -f "$trace"
