-- pgbench's floor for a ledger transfer: lock and update both balances (lower id first, so no deadlock),
-- append the entry, commit. 5 statements in 5 round trips. Driven by bench/ledger_postings.py
-- (pgbench -f bench/pgbench_ledger_transfer.sql -D naccounts=N), over tables it creates.
\set amount random(1, 10000)
\set a random(1, :naccounts)
\set b 1 + (:a + random(0, :naccounts - 2)) % :naccounts
\set lo least(:a, :b)
\set hi greatest(:a, :b)
BEGIN;
UPDATE bench_pgb_accounts SET balance = balance + CASE WHEN id = :a THEN -:amount ELSE :amount END WHERE id = :lo;
UPDATE bench_pgb_accounts SET balance = balance + CASE WHEN id = :a THEN -:amount ELSE :amount END WHERE id = :hi;
INSERT INTO bench_pgb_entries (debit_id, credit_id, amount, created_at) VALUES (:b, :a, :amount, now());
END;
