-- What hosted Supabase adds when pg_net is created: its event trigger
-- extensions.grant_pg_net_access() (migrations/20250220051611_pg_net_perms_fix.sql) grants the
-- schema to the API roles, and for pg_net 0.12+ leaves http_get/http_post SECURITY INVOKER and
-- executable by PUBLIC. Together with pg_net's own PUBLIC grants, anon may read and rewrite
-- queued requests and call net.http_post. Run by supabase_admin, the owner of `net`.
grant usage on schema net to supabase_functions_admin, postgres, anon, authenticated, service_role;
alter function net.http_get(text, jsonb, jsonb, integer) security invoker;
alter function net.http_post(text, jsonb, jsonb, jsonb, integer) security invoker;
grant all on function net.http_get(text, jsonb, jsonb, integer) to public;
grant all on function net.http_post(text, jsonb, jsonb, jsonb, integer) to public;
