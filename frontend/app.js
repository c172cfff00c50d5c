// The jobs page's entry module: read the configuration (window.JOBS_CONFIG, from config.js),
// then wire the parts in modules/ together. No bundler: the browser loads each module as a
// native ES module. Each module owns its own state and changes it only through its functions;
// this file is the one place that says which part talks to which.
//
// Every value that comes from a user or a job is put on the page as text (textContent,
// setAttribute), never parsed as HTML.

import { wireAccount } from "./modules/account.js";
import { closeDetail, wireDetail } from "./modules/detail.js";
import { wireForm } from "./modules/form.js";
import { forgetAllJobs, loadJobs, wireTable } from "./modules/jobs.js";
import { loadKinds } from "./modules/kinds.js";
import { identityChanged, setConnection, startRealtime } from "./modules/realtime.js";
import { setText, ui } from "./modules/ui.js";

function showProblem(message) {
  ui.problem.textContent = message;
  ui.problem.hidden = false;
}

function readConfig() {
  const config = window.JOBS_CONFIG;
  const given = (key) => config && typeof config[key] === "string" && config[key].trim() !== "";
  // The project's publishable key (sb_publishable_...) or, for projects that still have one,
  // the legacy anon key: either is public and lets the anon role read what RLS allows.
  const keyName =
    !given("supabaseKey") && given("supabaseAnonKey") ? "supabaseAnonKey" : "supabaseKey";
  const missing = ["functionsUrl", "supabaseUrl", keyName].filter((key) => !given(key));
  if (missing.length) {
    showProblem(
      `The page has no configuration for ${missing.join(", ")}. ` +
        "Fill in config.js beside index.html (the build writes it as a template; " +
        "make run serves one for the local stack).",
    );
    return null;
  }
  const supabaseKey = config[keyName].trim();
  if (supabaseKey.startsWith("sb_secret_")) {
    // A secret key bypasses row level security: published in a page, anyone could use it.
    showProblem(
      `config.js holds a secret key (sb_secret_...) as ${keyName}: remove it at once, ` +
        "rotate it in the dashboard (Settings, API Keys), and use the publishable key.",
    );
    return null;
  }
  return {
    functionsUrl: config.functionsUrl.trim().replace(/\/+$/, ""),
    supabaseUrl: config.supabaseUrl.trim().replace(/\/+$/, ""),
    supabaseKey,
    // "broadcast" (the default) or "postgres_changes": see modules/live.js.
    liveMode: given("liveMode") ? config.liveMode.trim() : "broadcast",
  };
}

function main() {
  const config = readConfig();
  if (!config) {
    setConnection("offline", "no configuration");
    setText(ui.note, "Nothing to show without a configuration.");
    return;
  }
  wireForm(config);
  wireTable(config);
  wireDetail(config);
  // Signing in or out: the list and the open job were the previous identity's.
  const switchedIdentity = () => {
    forgetAllJobs();
    closeDetail();
    identityChanged();
    loadJobs(config);
  };
  // A kept session (a reload) is restored before the first read, so the list is the user's.
  wireAccount(config, switchedIdentity).finally(() => {
    loadJobs(config);
    loadKinds(config);
    startRealtime(config);
  });
}

main();
