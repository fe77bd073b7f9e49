# prints the summed CPU (s) of all postgres processes
for p in $(pgrep -u postgres postgres); do awk '{print $14+$15}' /proc/$p/stat 2>/dev/null; done | awk '{s+=$1} END {print s/100}'
