-- Where the wake-up goes and what signs it, in one call: Vault's secrets job_webhook_url and
-- job_webhook_secret on hosted Supabase, private.settings elsewhere.
create or replace function private.webhook_target(out url text, out secret text)
language plpgsql
stable
security definer
set search_path = pg_catalog
as $$
begin
  if to_regclass('vault.decrypted_secrets') is not null then
    execute 'select max(decrypted_secret) filter (where name = ''job_webhook_url''),
                    max(decrypted_secret) filter (where name = ''job_webhook_secret'')
             from vault.decrypted_secrets
             where name in (''job_webhook_url'', ''job_webhook_secret'')'
      into url, secret;
  end if;
  if url is null or secret is null then
    select coalesce(url, max(s.value) filter (where s.name = 'job_webhook_url')),
           coalesce(secret, max(s.value) filter (where s.name = 'job_webhook_secret'))
      into url, secret
    from private.settings s
    where s.name in ('job_webhook_url', 'job_webhook_secret');
  end if;
end
$$;
revoke all on function private.webhook_target() from public, anon, authenticated;
