#!/usr/bin/env python3
"""How long this host's disk takes to flush a WAL-sized write, the way a committing PostgreSQL
backend does (write 8 kB into a preallocated 16 MB file, then fdatasync), at a steady offered rate.
Prints the percentiles and the slowest flushes with when they happened.
Usage: fdatasync.py DIR [SECONDS] [PER_SECOND]  (DIR on the disk PostgreSQL's data would use)"""
import os, sys, time

folder = sys.argv[1]
seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 30
rate = float(sys.argv[3]) if len(sys.argv) > 3 else 1000
path = os.path.join(folder, "flush-probe")
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
os.ftruncate(fd, 16 << 20)
os.fsync(fd)
block = b"\0" * 8192
flushes = []
start = time.monotonic()
offset = 0
n = 0
while True:
    due = start + n / rate
    now = time.monotonic()
    if now - start >= seconds:
        break
    if due > now:
        time.sleep(due - now)
    os.pwrite(fd, block, offset)
    t0 = time.monotonic()
    os.fdatasync(fd)
    flushes.append((time.monotonic() - t0, t0 - start))
    offset = (offset + 8192) % (16 << 20)
    n += 1
os.close(fd)
os.unlink(path)
took = sorted(f for f, _ in flushes)
def pct(p):
    return took[min(len(took) - 1, int(p / 100 * len(took)))] * 1000
print(f"{len(took)} flushes in {seconds:.0f} s (offered {rate:.0f}/s; each waits for the one before)")
print("ms: p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f" % (pct(50), pct(90), pct(99), pct(99.9), took[-1] * 1000))
print("over 10 ms: %d (%.2f %%)" % (sum(1 for f in took if f > 0.010), 100 * sum(1 for f in took if f > 0.010) / len(took)))
# A commit that arrives while a flush is stalled waits for the rest of it (with many writers, each
# one does): the share of the time in which an arriving commit would wait longer than a bound.
for bound in (0.005, 0.010):
    stalled = sum(f - bound for f, _ in flushes if f > bound)
    print("share of the time a commit arriving then waits over %d ms: %.2f %%" % (bound * 1000, 100 * stalled / seconds))
print("slowest: " + ", ".join("%.1f ms at %.1f s" % (f * 1000, at) for f, at in sorted(flushes, reverse=True)[:8]))
