// The page's configuration. Copy this file to config.js (beside index.html) and fill it in;
// config.js is git-ignored. `make run` serves a generated one for the local stack instead.
//
// Only public values belong here: the page is static and anyone can read this file.
// Never put the service_role key, the JWT secret or a database URL in it.
window.JOBS_CONFIG = {
  // Where the jobs API (the `submit` function) answers: POST {functionsUrl}/jobs,
  // GET {functionsUrl}/jobs?limit=N, GET {functionsUrl}/jobs/<job_id>. No trailing slash needed.
  // Local stack: "http://127.0.0.1:54323"; deployed: the function's URL, e.g.
  // "https://<region>-<project>.cloudfunctions.net/submit" or a Lambda function URL.
  functionsUrl: "http://127.0.0.1:54323",

  // The Supabase project URL; Realtime is reached at {supabaseUrl}/realtime/v1 (ws/wss).
  // Local stack: "http://127.0.0.1:54321"; hosted: "https://<project-ref>.supabase.co".
  supabaseUrl: "http://127.0.0.1:54321",

  // The project's anon (public) key: Realtime verifies it, and row level security lets the
  // anon role read public.job_results (and nothing else).
  supabaseAnonKey: "<anon key>",
};
