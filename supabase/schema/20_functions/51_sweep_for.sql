-- The sweep every p_every_s seconds for p_seconds, each in a transaction of its own: for a
-- pg_cron older than 1.5, whose schedules are whole minutes (see 70_sweep_schedule.sql).
create or replace procedure private.sweep_for(p_seconds double precision, p_every_s double precision default 2)
-- Neither security definer nor a SET clause: a procedure with either may not commit.
language plpgsql
as $$
declare
  v_until timestamptz := clock_timestamp() + make_interval(secs => p_seconds);
begin
  loop
    perform private.sweep();
    commit;
    exit when clock_timestamp() + make_interval(secs => p_every_s) >= v_until;
    perform pg_sleep(p_every_s);
  end loop;
end
$$;
revoke all on procedure private.sweep_for(double precision, double precision) from public, anon, authenticated;
