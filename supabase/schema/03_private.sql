-- The private schema: tables and functions only the functions' role (through security-definer
-- functions) and the database itself use; no API role may even look in.
create schema if not exists private;
revoke all on schema private from public, anon, authenticated;

-- Settings of the wake-up call where there is no Vault (see private.webhook_target):
-- job_webhook_url and job_webhook_secret.
create table if not exists private.settings (
  name  text primary key,
  value text not null
);
revoke all on private.settings from public, anon, authenticated;
