-- Idempotency keys remember the request they first came with (a SHA-256 fingerprint) for 24
-- hours, as the IETF Idempotency-Key draft describes: the same key with the same request
-- answers with the first job(s); with a different request, SQLSTATE SJ422 (HTTP 422); while the
-- first request with the key is still in its transaction, SJ409 (HTTP 409).
create table if not exists private.idempotency_keys (
  key         text primary key,
  -- sha256 of the canonical request (jsonb text); a single job's and a batch's never agree.
  fingerprint bytea not null,
  job_id      uuid not null references public.job_results (job_id) on delete cascade,
  -- The ids a batch key answers with; null for a single job's key (its job_id alone).
  job_ids     uuid[],
  created_at  timestamptz not null default now(),
  expires_at  timestamptz not null default now() + interval '24 hours'
);
create index if not exists idempotency_keys_expiry on private.idempotency_keys (expires_at);
revoke all on private.idempotency_keys from public, anon, authenticated;
