# Writes the single-user input of the apply measurements: N (UPDATE + apply) pairs, or N UPDATEs (mode upd),
# after four applies that catch up with the seed. Run: python3 apply-pairs.py N apply | postgres --single -D DATADIR ecst
import sys
n=int(sys.argv[1]); mode=sys.argv[2]
print("SET synchronous_commit=off")
print("SET plan_cache_mode=force_generic_plan")
print("SET jit=off")
print("SET enable_seqscan=off")
print("PREPARE apply(text,int,text,text[]) AS SELECT busy, events, orders_updated, more, highest_event_id, dead_letters, relying_writers, token_states, position_snapshot, applied_tokens::text[] AS applied_tokens FROM order_service.apply_next_chunk($1, $2::integer, $3, $4::text[]::xid8[])")
print("PREPARE upd(bigint, text) AS UPDATE user_service.users SET firstname = 'F', lastname = 'L', email = $2 WHERE id = $1 RETURNING id, firstname, lastname, email, user_service.transaction_token()")
for _ in range(4): print("EXECUTE apply('order-service', 5000, 'cg', '{}')")
import random
random.seed(7)
for i in range(n):
    uid = 10 + (i * 7919) % 9000
    print(f"EXECUTE upd({uid}, 'cg{i}-{random.randint(1,10**9)}@b.io')")
    if mode == 'apply':
        print("EXECUTE apply('order-service', 5000, 'cg', '{}')")
