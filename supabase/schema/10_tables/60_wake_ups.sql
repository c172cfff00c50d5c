-- Every wake-up sent in the last few minutes, so that each is honoured once: a replayed signed
-- call (the same webhook-id, inside the receiver's 5-minute window) finds its wake-up taken and
-- starts nothing. private.sweep forgets them after 10 minutes.
create table if not exists private.wake_ups (
  wake_id  text primary key,
  reason   text not null,
  sent_at  timestamptz not null default clock_timestamp(),
  taken_at timestamptz
);
create index if not exists wake_ups_by_age on private.wake_ups (sent_at);
revoke all on private.wake_ups from public, anon, authenticated;
