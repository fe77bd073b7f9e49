#!/bin/bash
# Instructions per execution of the batch chunk's statement, before (flattened) and now (whole),
# counted by valgrind's callgrind on a single-user server: 5 and then 15 executions of each on the
# same chunk, the difference divided by 10.
# Usage (as the cluster's OS user, the cluster stopped, its database DB prepared as for
# chunk-statement.sql, SN UP CX CI the consumer's snapshot, batch_snapshot, cursor_xid and
# cursor_id read from it beforehand): instructions.sh DATADIR DB SN UP CX CI
set -e
dir=$(dirname "$0"); data=$1; db=$2; sn=$3; up=$4; cx=$5; ci=$6
postgres=$(pg_config --bindir)/postgres
out=$(mktemp -d)
for name in flattened whole; do
  # The statement as one line (single-user mode ends a statement at the newline).
  stmt=$(awk -v n="PREPARE $name(" 'index($0, n) == 1 {on = 1} on {printf "%s ", $0} on && /;$/ {exit}' "$dir/chunk-statement.sql" | sed 's/; *$//')
  for n in 5 15; do
    { printf 'SET plan_cache_mode=force_generic_plan\nSET jit=off\nSET enable_seqscan=off\n%s\n' "$stmt"
      for _ in $(seq $n); do echo "EXECUTE $name('$sn','$up','$cx',$ci,5000)"; done
    } > "$out/$name-$n.sql"
    valgrind --tool=callgrind --callgrind-out-file="$out/$name-$n.out" "$postgres" --single -D "$data" -c fsync=off "$db" \
      < "$out/$name-$n.sql" > "$out/$name-$n.log" 2>&1
    eval "${name}_$n=$(awk '/^summary/ {print $2; exit}' "$out/$name-$n.out")"
  done
  eval "echo \"$name: \$(( (${name}_15 - ${name}_5) / 10 )) instructions per execution\""
done
