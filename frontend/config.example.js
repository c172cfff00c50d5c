// The page's configuration. `make page` copies this file to dist/config.js; fill that copy in
// for the host that serves dist/. `make run` answers /config.js itself for the local stack.
//
// Only public values belong here: the page is static and anyone can read this file.
// Never put a secret key (sb_secret_...), the service_role key, the JWT secret or a database
// URL in it.
window.JOBS_CONFIG = {
  // Where the jobs API (the `submit` function) answers: POST {functionsUrl}/jobs,
  // GET {functionsUrl}/jobs?limit=N, GET {functionsUrl}/jobs/<job_id>. No trailing slash needed.
  // Local stack: "http://127.0.0.1:24323"; deployed: the function's URL, e.g.
  // "https://<api-id>.execute-api.<region>.amazonaws.com" or a Lambda function URL.
  functionsUrl: "",

  // The Supabase project URL; Realtime is reached at {supabaseUrl}/realtime/v1 (ws/wss).
  // Local stack: "http://127.0.0.1:24321"; hosted: "https://<project-ref>.supabase.co".
  supabaseUrl: "",

  // The project's publishable key (sb_publishable_..., dashboard: Settings > API Keys) or,
  // while the project still has one, its legacy anon key (Settings > API Keys > Legacy API
  // keys) as supabaseAnonKey instead. Either is public: Realtime accepts it, and row level
  // security lets the anon role read public.job_results (and nothing else).
  supabaseKey: "",

  // How the page follows jobs live. "broadcast" (the default): the database sends every change
  // of a job to the private Realtime topic of its owner (jobs:user:<uid>, or jobs:public for the
  // public demo), which the page joins with its token and resumes with a replay after a lost
  // connection. "postgres_changes": Realtime checks every change of public.job_results against
  // every watcher's row level security (fine for a demo, the first thing to give out as
  // watchers grow; nothing missed while disconnected is told again, so the list is re-read).
  liveMode: "broadcast",
};
