-- The values one field of a cron expression allows: '*', 'n', 'a-b', with '/step', in a
-- comma-separated list, each within lo..hi. Null when the field is not valid.
create or replace function private.cron_field(p_field text, p_lo integer, p_hi integer)
returns integer[]
language plpgsql immutable
set search_path = pg_catalog
as $$
declare
  v_part  text;
  v_match text[];
  v_from  integer;
  v_to    integer;
  v_step  integer;
  v_out   integer[] := '{}';
begin
  foreach v_part in array string_to_array(p_field, ',') loop
    v_match := regexp_match(v_part, '^(\*|(\d{1,2})(?:-(\d{1,2}))?)(?:/(\d{1,2}))?$');
    if v_match is null then
      return null;
    end if;
    if v_match[1] = '*' then
      v_from := p_lo;
      v_to := p_hi;
    else
      v_from := v_match[2]::integer;
      v_to := coalesce(v_match[3]::integer, case when v_match[4] is null then v_from else p_hi end);
    end if;
    v_step := coalesce(v_match[4]::integer, 1);
    if v_from < p_lo or v_to > p_hi or v_from > v_to or v_step < 1 then
      return null;
    end if;
    v_out := v_out || array(select generate_series(v_from, v_to, v_step));
  end loop;
  return v_out;
end
$$;
revoke all on function private.cron_field(text, integer, integer) from public, anon, authenticated;

-- The first minute after p_after (UTC) that a five-field cron expression (minute hour
-- day-of-month month day-of-week, 0 = Sunday; 7 also Sunday) names; null for an expression
-- that is not valid or names no day (such as 30 February). As cron does, when both day fields
-- are restricted a day matching either runs.
create or replace function private.cron_next(p_cron text, p_after timestamptz)
returns timestamptz
language plpgsql immutable
set search_path = pg_catalog
as $$
declare
  v_fields  text[] := regexp_split_to_array(btrim(p_cron), '\s+');
  v_minutes integer[];
  v_hours   integer[];
  v_days    integer[];
  v_months  integer[];
  v_weekdays integer[];
  v_any_day boolean;
  v_any_weekday boolean;
  v_at      timestamp;
  v_day_ok  boolean;
begin
  if cardinality(v_fields) <> 5 then
    return null;
  end if;
  v_minutes := private.cron_field(v_fields[1], 0, 59);
  v_hours := private.cron_field(v_fields[2], 0, 23);
  v_days := private.cron_field(v_fields[3], 1, 31);
  v_months := private.cron_field(v_fields[4], 1, 12);
  v_weekdays := private.cron_field(v_fields[5], 0, 7);
  if v_minutes is null or v_hours is null or v_days is null or v_months is null
     or v_weekdays is null then
    return null;
  end if;
  v_weekdays := v_weekdays || case when 7 = any (v_weekdays) then array[0] else '{}' end;
  v_any_day := v_fields[3] = '*';
  v_any_weekday := v_fields[5] = '*';
  v_at := date_trunc('minute', p_after at time zone 'UTC') + interval '1 minute';
  -- Jumps by month, day, hour and minute: a few hundred steps at most over five years.
  for i in 1..100000 loop
    if v_at > (p_after at time zone 'UTC') + interval '5 years' then
      return null;
    end if;
    if not extract(month from v_at)::integer = any (v_months) then
      v_at := date_trunc('month', v_at) + interval '1 month';
      continue;
    end if;
    v_day_ok := case
      when v_any_day and v_any_weekday then true
      when v_any_day then extract(dow from v_at)::integer = any (v_weekdays)
      when v_any_weekday then extract(day from v_at)::integer = any (v_days)
      else extract(day from v_at)::integer = any (v_days)
           or extract(dow from v_at)::integer = any (v_weekdays)
    end;
    if not v_day_ok then
      v_at := date_trunc('day', v_at) + interval '1 day';
      continue;
    end if;
    if not extract(hour from v_at)::integer = any (v_hours) then
      v_at := date_trunc('hour', v_at) + interval '1 hour';
      continue;
    end if;
    if not extract(minute from v_at)::integer = any (v_minutes) then
      v_at := v_at + interval '1 minute';
      continue;
    end if;
    return v_at at time zone 'UTC';
  end loop;
  return null;
end
$$;
revoke all on function private.cron_next(text, timestamptz) from public, anon, authenticated;
