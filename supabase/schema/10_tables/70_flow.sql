-- Flow control's own state (private.flow_admit reads and writes it under the kind's lock).
--
-- A job of a kind that declares flow control (task_kinds.flow), or submitted with a priority or
-- a concurrency key, gets no queue message at submit: it waits in flow_waiting until
-- flow_admit sends its message, which it does only while the kind's limits allow. From then
-- until it finishes the job holds a slot (flow_slots), retries and redeliveries included, so the
-- jobs running under a key never outnumber its slots. A worker killed mid-job leaves its job
-- running in its slot; the sweep makes its message visible when the lease lapses and the next
-- worker runs it in the same slot. Claims never see a blocked job, so they never wait on one.

-- Jobs not yet admitted. sort_at is created_at moved earlier by priority × the kind's ageing
-- step: among one owner's jobs the earliest sort_at goes first (see flow_admit for the rule).
create table if not exists private.flow_waiting (
  job_id     uuid primary key references public.job_results (job_id) on delete cascade,
  kind       text not null,
  -- The fair-share key: the owner ('' for public jobs), or '' for all when the kind is not fair.
  fair_key   text not null,
  sort_at    timestamptz not null,
  -- A delayed job is not admitted before its start (run_at).
  not_before timestamptz,
  ckey       text,
  climit     integer
);
create index if not exists flow_waiting_next on private.flow_waiting (kind, fair_key, sort_at, job_id);
revoke all on private.flow_waiting from public, anon, authenticated;

-- Admitted jobs not yet finished: one slot each.
create table if not exists private.flow_slots (
  job_id    uuid primary key references public.job_results (job_id) on delete cascade,
  kind      text not null,
  ckey      text,
  -- When its message becomes visible (later than admitted_at under a rate limit).
  starts_at timestamptz not null
);
create index if not exists flow_slots_by_key on private.flow_slots (kind, ckey);
revoke all on private.flow_slots from public, anon, authenticated;

-- Round robin between the fair-share keys of a kind: the one served longest ago goes first.
create table if not exists private.flow_owners (
  kind      text not null,
  fair_key  text not null,
  waiting   integer not null default 0,
  served_at timestamptz,
  primary key (kind, fair_key)
);
revoke all on private.flow_owners from public, anon, authenticated;

-- A kind's rate limit as a token bucket, kept as GCRA's theoretical arrival time: the next
-- start may be at tat - (burst - 1) × interval at the earliest.
create table if not exists private.flow_buckets (
  kind text primary key,
  tat  timestamptz not null
);
revoke all on private.flow_buckets from public, anon, authenticated;
