-- A `net` schema with pg_net's SQL interface and grants, for a Postgres without pg_net.
-- Requests wait in net.http_request_queue; the relay (python -m devstack.relay) delivers them.
-- As in pg_net, a request is seen only once its transaction commits: the NOTIFY that wakes the
-- relay is itself delivered at commit, and a rolled-back request never existed.
create schema if not exists net;

create unlogged table if not exists net.http_request_queue (
  id                   bigserial primary key,
  method               text not null,
  url                  text not null,
  headers              jsonb,
  body                 bytea,
  timeout_milliseconds integer not null
);

create unlogged table if not exists net._http_response (
  id           bigint,
  status_code  integer,
  content_type text,
  headers      jsonb,
  content      text,
  timed_out    boolean,
  error_msg    text,
  created      timestamptz not null default now()
);
create index if not exists _http_response_created_idx on net._http_response (created);

create or replace function net._enqueue(
  method text, url text, params jsonb, headers jsonb, body bytea, timeout_milliseconds integer
) returns bigint
language plpgsql
as $$
declare
  v_id    bigint;
  v_url   text := url;
  v_query text;
begin
  if params is not null and params <> '{}'::jsonb then
    select string_agg(format('%s=%s', key, value), '&') into v_query
    from jsonb_each_text(params);
    v_url := v_url || case when position('?' in v_url) > 0 then '&' else '?' end || v_query;
  end if;
  insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
  values (method, v_url, headers, body, timeout_milliseconds)
  returning id into v_id;
  -- One notification per transaction (Postgres folds identical ones), as pg_net wakes its
  -- worker once per commit however many requests the transaction queued.
  perform pg_notify('net_http_request', '');
  return v_id;
end
$$;

create or replace function net.http_post(
  url text,
  body jsonb default '{}'::jsonb,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language sql
as $$
  select net._enqueue('POST', url, params, headers,
                      convert_to(coalesce(body, '{}'::jsonb)::text, 'UTF8'), timeout_milliseconds)
$$;

create or replace function net.http_get(
  url text,
  params jsonb default '{}'::jsonb,
  headers jsonb default '{}'::jsonb,
  timeout_milliseconds integer default 5000
) returns bigint
language sql
as $$
  select net._enqueue('GET', url, params, headers, null, timeout_milliseconds)
$$;

-- Exactly the grants pg_net's own install script ends with (pg_net sql/pg_net.sql): every role may
-- use the schema and read, rewrite or delete queued requests and responses, and, as with pg_net
-- 0.12 and later, call net.http_post (functions are executable by PUBLIC unless revoked). The
-- stand-in must be no stricter than the real thing, or tests pass here that fail on Supabase.
grant usage on schema net to public;
grant all on all sequences in schema net to public;
grant all on all tables in schema net to public;
