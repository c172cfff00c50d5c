-- The two advisory locks of the wake-up protocol (transaction-scoped, so they work through a
-- transaction pooler). WAKE_LOCK: every enqueuer holds it shared while it reads the leases; a
-- leaving worker takes it exclusively. SEND_LOCK: whoever decides to send wake-ups takes it
-- exclusively, so two deciders never both count the same free slot. Order: WAKE_LOCK, then
-- SEND_LOCK, never the other way.
create or replace function private.wake_lock_key() returns bigint
language sql immutable parallel safe
as $$ select 7305241100000000011::bigint $$;
revoke all on function private.wake_lock_key() from public, anon, authenticated;

create or replace function private.send_lock_key() returns bigint
language sql immutable parallel safe
as $$ select 7305241100000000012::bigint $$;
revoke all on function private.send_lock_key() from public, anon, authenticated;
