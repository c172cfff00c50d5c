-- What is wrong with one new job, as {field, message} (field a JSON pointer below the job), or
-- null. One expression, so submit_jobs checks a whole batch in one set-based statement and
-- submit_job the same way for one; CASE tries each check only when the ones before hold.
-- The kind is checked against public.task_kinds by the callers (and by the foreign key).
-- PL/pgSQL rather than SQL: a SQL function with a SET clause is never inlined, and is planned
-- again for every statement that calls it (every submit_job); this one's expression is
-- prepared once a session (a third of the time a call).
create or replace function private.new_job_problem(p_task_name text, p_payload jsonb)
returns text[]
language plpgsql immutable parallel safe
set search_path = pg_catalog
as $$
begin
  return case
    when p_task_name is null or btrim(p_task_name) = ''
      then array['task_name', 'task_name is required and may not be blank']
    when char_length(btrim(p_task_name)) > 200
      then array['task_name', 'task_name is ' || char_length(btrim(p_task_name))
                 || ' characters long; the limit is 200']
    when btrim(p_task_name) ~ '[[:cntrl:]]'
      then array['task_name', 'task_name may not contain control characters']
    when coalesce(jsonb_typeof(p_payload), 'object') <> 'object'
      then array['payload', 'payload must be a JSON object, not ' || jsonb_typeof(p_payload)]
    -- As deep as the functions' strict JSON parser allows: no value below level 64.
    when jsonb_path_exists(p_payload, 'strict $.**{65 to last}')
      then array['payload', 'payload nests deeper than 64 levels']
    when octet_length(p_payload::text) >= 65536
      then array['payload', 'payload is ' || octet_length(p_payload::text)
                 || ' bytes as JSON; the limit is 65535']
  end;
end
$$;
revoke all on function private.new_job_problem(text, jsonb) from public, anon, authenticated;

