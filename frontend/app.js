// The jobs page: submit a job through the jobs API, list the newest jobs, and keep the list
// current through Supabase Realtime (postgres_changes on public.job_results). When supabase.js
// or Realtime cannot be reached, the page says so and reads the list through the API every
// REFRESH_MS instead, so a finished job never shows as pending for longer than that.
//
// Every value that comes from a user or a job is put on the page as text (textContent,
// setAttribute), never parsed as HTML.

import { flowFacts, readFlowFields } from "./flow.js";

const LIST_LIMIT = 50;
const TICK_MS = 500;
const REFRESH_MS = 3000;
const RESUBSCRIBE_AFTER_MS = [1000, 2000, 5000, 10000];
const STATUSES = new Set(["pending", "scheduled", "running", "completed", "failed", "cancelled"]);
const COLUMNS = [
  "ID",
  "Task",
  "Status",
  "Attempts",
  "Result",
  "Created",
  "Started",
  "Finished",
  "Actions",
];
const CANCELLABLE = new Set(["pending", "scheduled", "running"]);
const RETRYABLE = new Set(["failed", "cancelled"]);

const $ = (id) => document.getElementById(id);
const ui = {
  problem: $("config-problem"),
  liveOff: $("live-off"),
  connection: $("connection"),
  form: $("job-form"),
  taskName: $("task-name"),
  kind: $("kind"),
  copies: $("copies"),
  payload: $("payload"),
  delay: $("delay"),
  filter: $("status-filter"),
  jobsError: $("jobs-error"),
  detail: $("job-detail"),
  detailId: $("job-detail-id"),
  detailFacts: $("job-detail-facts"),
  detailEvents: $("job-events"),
  detailClose: $("job-detail-close"),
  submit: $("submit-job"),
  formError: $("form-error"),
  formStatus: $("form-status"),
  body: $("jobs-body"),
  count: $("jobs-count"),
  note: $("jobs-note"),
  taskNameCount: $("task-name-count"),
  payloadHint: $("payload-hint"),
  accountText: $("account-text"),
  accountError: $("account-error"),
  signIn: $("sign-in"),
  signOut: $("sign-out"),
};

// ---------------------------------------------------------------------------------------------
// Configuration

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
  };
}

function showProblem(message) {
  ui.problem.textContent = message;
  ui.problem.hidden = false;
}

// ---------------------------------------------------------------------------------------------
// Time: Postgres timestamps keep microseconds, which Date drops; updated_at ordering needs them.

const STAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** Microseconds since the epoch for an ISO-8601 / Postgres timestamp, or null. */
function micros(text) {
  if (typeof text !== "string") return null;
  const m = STAMP.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac = "", zone = "Z"] = m;
  let offsetMin = 0;
  if (zone.toUpperCase() !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || 0));
  }
  const ms = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s) - offsetMin * 60_000;
  return ms * 1000 + Number((frac + "000000").slice(0, 6));
}

const millis = (text) => {
  const us = micros(text);
  return us === null ? null : us / 1000;
};

const clockFormat = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

function formatMoment(text) {
  const ms = millis(text);
  if (ms === null) return "—";
  const date = new Date(ms);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? clockFormat.format(date) : `${dayFormat.format(date)}, ${clockFormat.format(date)}`;
}

function formatDuration(ms, precise) {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) {
    return precise && seconds < 10 ? `${seconds.toFixed(1)} s` : `${Math.floor(seconds)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(Math.floor(seconds % 60)).padStart(2, "0")} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}

// ---------------------------------------------------------------------------------------------
// The jobs, by id. A version of a row replaces the one shown only when it is not older.

const jobs = new Map(); // job_id -> job (as the API or Realtime gives it)
const rows = new Map(); // job_id -> <tr>
let loadedOnce = false;

function isNotOlder(incoming, current) {
  if (!current) return true;
  const a = micros(incoming.updated_at);
  const b = micros(current.updated_at);
  if (a === null || b === null) return true;
  return a >= b;
}

/** Merge one version of a job; true when it changed what the page shows. */
function merge(job) {
  if (!job || typeof job.job_id !== "string") return false;
  const current = jobs.get(job.job_id);
  if (!isNotOlder(job, current)) return false; // a stale event: a newer version is already here
  jobs.set(job.job_id, { ...current, ...job });
  return true;
}

function forget(jobId) {
  jobs.delete(jobId);
  rows.get(jobId)?.remove();
  rows.delete(jobId);
}

// The status the list is filtered by ("" for all): jobs in another state are kept but not shown.
let statusFilter = "";

const shownByFilter = (job) => !statusFilter || job.status === statusFilter;

function newestFirst(a, b) {
  const byCreated = (micros(b.created_at) ?? 0) - (micros(a.created_at) ?? 0);
  return byCreated !== 0 ? byCreated : a.job_id < b.job_id ? -1 : a.job_id > b.job_id ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Rendering

function cell(row, label, className) {
  const td = document.createElement("td");
  td.setAttribute("role", "cell");
  td.dataset.label = label;
  if (className) td.className = className;
  row.append(td);
  return td;
}

function span(parent, className, testId) {
  const el = document.createElement("span");
  el.className = className;
  if (testId) el.dataset.testid = testId;
  parent.append(el);
  return el;
}

function createRow(jobId) {
  const tr = document.createElement("tr");
  tr.setAttribute("role", "row");
  tr.dataset.testid = "job-row";
  tr.dataset.jobId = jobId;
  const [id, task, status, attempts, result, created, started, finished, actions] = COLUMNS.map(
    (label) => cell(tr, label, label === "Attempts" ? "num" : ""),
  );
  const idText = document.createElement("code");
  idText.className = "job-id";
  idText.dataset.testid = "job-id";
  id.append(idText);
  const refs = {
    id: idText,
    name: span(task, "task-name", "job-name"),
    kind: span(task, "task-kind", "job-kind"),
    badge: span(status, "badge", "job-status"),
    elapsed: span(status, "elapsed", "job-elapsed"),
    attempts: span(attempts, "", "job-attempts"),
    result: span(result, "result", "job-result"),
    created: span(created, "moment", "job-created"),
    started: span(started, "moment", "job-started"),
    finished: span(finished, "moment", "job-finished"),
    ...lifecycleRefs(jobId, status, actions),
  };
  tr.refs = refs;
  return tr;
}

/** The progress bar and its message under the status, and the row's buttons. */
function lifecycleRefs(jobId, statusCell, actionsCell) {
  const bar = document.createElement("progress");
  bar.className = "job-progress";
  bar.dataset.testid = "job-progress";
  bar.hidden = true;
  statusCell.append(bar);
  const message = span(statusCell, "progress-message", "job-progress-message");
  const box = span(actionsCell, "actions");
  const button = (label, testId, action) => {
    const el = document.createElement("button");
    el.type = "button";
    el.className = "button button-small button-quiet";
    el.dataset.testid = testId;
    el.textContent = label;
    el.addEventListener("click", () => action(jobId, el));
    box.append(el);
    return el;
  };
  return {
    progress: bar,
    progressMessage: message,
    cancel: button("Cancel", "job-cancel", (id, el) => steer(id, "cancel", el)),
    retry: button("Retry", "job-retry", (id, el) => steer(id, "retry", el)),
    details: button("Details", "job-details", (id) => openDetail(id)),
  };
}

function renderLifecycle(r, job, status) {
  const done = Number(job.progress);
  const total = Number(job.progress_total);
  const hasProgress = status === "running" && job.progress != null && Number.isFinite(done);
  r.progress.hidden = !hasProgress;
  if (hasProgress && Number.isFinite(total) && total > 0) {
    r.progress.max = total;
    r.progress.value = Math.min(done, total);
    r.progress.setAttribute("aria-label", `${Math.round((100 * Math.min(done, total)) / total)}% done`);
  } else if (hasProgress) {
    r.progress.removeAttribute("value"); // indeterminate: the total is not known
    r.progress.setAttribute("aria-label", `${done} done`);
  }
  setText(r.progressMessage, hasProgress && job.progress_message ? String(job.progress_message) : "");
  const cancelling = status === "running" && Boolean(job.cancel_requested_at);
  r.cancel.hidden = !CANCELLABLE.has(status);
  r.cancel.disabled = cancelling;
  setText(r.cancel, cancelling ? "Cancelling…" : "Cancel");
  r.retry.hidden = !RETRYABLE.has(status);
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function setTitle(el, text) {
  if (text) el.setAttribute("title", text);
  else el.removeAttribute("title");
}

function elapsedText(job, now) {
  if (job.status === "running") {
    const since = millis(job.started_at);
    return since === null ? "" : `for ${formatDuration(now - since, false)}`;
  }
  if (job.status === "pending") {
    const since = millis(job.created_at);
    return since === null ? "" : `waiting ${formatDuration(now - since, false)}`;
  }
  if (job.status === "scheduled") {
    const due = millis(job.run_at);
    if (due === null) return "";
    return due > now ? `starts in ${formatDuration(due - now, false)}` : "due now";
  }
  const start = millis(job.started_at);
  const end = millis(job.finished_at);
  return start !== null && end !== null ? `took ${formatDuration(end - start, true)}` : "";
}

function renderRow(tr, job) {
  const r = tr.refs;
  const status = STATUSES.has(job.status) ? job.status : "pending";
  tr.dataset.status = status;
  setText(r.id, String(job.job_id).slice(0, 8));
  setTitle(r.id, String(job.job_id));
  setText(r.name, String(job.task_name ?? ""));
  setTitle(r.name, String(job.task_name ?? ""));
  setText(r.kind, typeof job.kind === "string" ? job.kind : "");
  r.badge.className = `badge badge-${status}`;
  setText(r.badge, status);
  setText(r.elapsed, elapsedText(job, Date.now()));
  setText(r.attempts, String(job.attempts ?? 0));

  let result = "—";
  let resultClass = "result muted";
  if (status === "completed" && job.result != null) {
    result = String(job.result);
    resultClass = "result";
  } else if (status === "failed") {
    result = String(job.error ?? "failed");
    resultClass = "result result-error";
  } else if (status === "cancelled") {
    result = "Cancelled";
    resultClass = "result muted";
  } else if (status === "scheduled") {
    result = job.run_at ? `Starts at ${formatMoment(job.run_at)}` : "Scheduled";
    resultClass = "result muted";
  } else if (job.error) {
    result = `Retrying after: ${job.error}`;
    resultClass = "result result-retry";
  }
  r.result.className = resultClass;
  setText(r.result, result);
  setTitle(r.result, result === "—" ? "" : result);

  for (const key of ["created", "started", "finished"]) {
    const value = job[`${key}_at`];
    setText(r[key], value ? formatMoment(value) : "—");
    setTitle(r[key], value ? new Date(millis(value)).toString() : "");
  }
  renderLifecycle(r, job, status);
}

/** Show the newest LIST_LIMIT jobs in order, touching only the rows that changed. */
function render(changedIds) {
  const ordered = [...jobs.values()].sort(newestFirst);
  for (const old of ordered.slice(LIST_LIMIT)) forget(old.job_id);
  const shown = ordered.slice(0, LIST_LIMIT).filter(shownByFilter);
  for (const [jobId, tr] of rows) {
    if (!shownByFilter(jobs.get(jobId) ?? {})) {
      tr.remove();
      rows.delete(jobId);
    }
  }
  shown.forEach((job, index) => {
    let tr = rows.get(job.job_id);
    if (!tr) {
      tr = createRow(job.job_id);
      rows.set(job.job_id, tr);
      renderRow(tr, job);
    } else if (!changedIds || changedIds.has(job.job_id)) {
      renderRow(tr, job);
    }
    const here = ui.body.children[index];
    if (here !== tr) ui.body.insertBefore(tr, here ?? null);
  });
  const running = shown.filter((job) => job.status === "running").length;
  setText(
    ui.count,
    shown.length ? `${shown.length} shown${running ? ` · ${running} running` : ""}` : "",
  );
  if (shown.length) {
    ui.note.hidden = true;
  } else if (loadedOnce) {
    ui.note.hidden = false;
    setText(
      ui.note,
      statusFilter
        ? `No ${statusFilter} jobs among the newest.`
        : "No jobs yet. Submit one above and it appears here.",
    );
  }
}

function apply(versions) {
  const changed = new Set();
  for (const job of versions) if (merge(job)) changed.add(job.job_id);
  if (changed.size) render(changed);
  if (detailJobId && changed.has(detailJobId)) refreshDetail();
  return changed;
}

// Running and waiting jobs show a ticking elapsed time; this is display only, nothing is fetched.
setInterval(() => {
  const now = Date.now();
  for (const [jobId, tr] of rows) {
    const job = jobs.get(jobId);
    if (job && ["running", "pending", "scheduled"].includes(job.status)) {
      setText(tr.refs.elapsed, elapsedText(job, now));
    }
  }
}, TICK_MS);

// ---------------------------------------------------------------------------------------------
// The jobs API

async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** An API error: its message, and the JSON pointer of the field it is about, when it is. */
class ApiError extends Error {
  constructor(message, field = null) {
    super(message);
    this.field = field;
  }
}

function apiError(response, body) {
  const error = body && body.error;
  const message = error && typeof error.message === "string" ? error.message : null;
  const field = error && typeof error.field === "string" ? error.field : null;
  return new ApiError(
    message ?? `The jobs API answered ${response.status} ${response.statusText}`.trim(),
    field,
  );
}

async function api(config, path, init) {
  let response;
  try {
    const token = await accessToken();
    const auth = token ? { Authorization: `Bearer ${token}` } : {};
    response = await fetch(`${config.functionsUrl}${path}`, {
      ...init,
      headers: { Accept: "application/json", ...auth, ...(init && init.headers) },
    });
  } catch (error) {
    throw new ApiError(`Could not reach the jobs API (${error.message}).`);
  }
  const body = await readJson(response);
  if (!response.ok) throw apiError(response, body);
  return body;
}

let loadGeneration = 0;

async function loadJobs(config) {
  const generation = ++loadGeneration;
  const asIdentity = identity;
  try {
    const filter = statusFilter ? `&status=${encodeURIComponent(statusFilter)}` : "";
    const body = await api(config, `/jobs?limit=${LIST_LIMIT}${filter}`);
    if (asIdentity !== identity) return;
    loadedOnce = true;
    // Every version goes through merge, so an answer that is older than events already
    // shown changes nothing; answers may arrive in any order.
    apply(Array.isArray(body && body.jobs) ? body.jobs : []);
    render(new Set());
    ui.note.classList.remove("jobs-note-error");
  } catch (error) {
    if (generation !== loadGeneration) return;
    if (!jobs.size) {
      ui.note.hidden = false;
      ui.note.classList.add("jobs-note-error");
      setText(ui.note, `Could not load the jobs: ${error.message}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The form

/** The input an error's field (a JSON pointer: /payload/seconds, /items/3/kind) is typed in. */
function fieldFor(pointer) {
  if (typeof pointer !== "string") return null;
  const steps = pointer.split("/").slice(1);
  // Every copy of a batch comes from the same inputs: the item's index does not matter.
  if (steps[0] === "items" && /^\d+$/.test(steps[1] ?? "")) steps.splice(0, 2);
  const inputs = {
    task_name: ui.taskName,
    kind: ui.kind,
    payload: ui.payload,
    delay_seconds: ui.delay,
    run_at: ui.delay,
  };
  return inputs[steps[0]] ?? null;
}

function clearFormMessages() {
  setText(ui.formError, "");
  setText(ui.formStatus, "");
  for (const field of [ui.taskName, ui.kind, ui.payload, ui.delay]) {
    field.removeAttribute("aria-invalid");
    field.removeAttribute("aria-errormessage");
  }
}

function showFormError(message, field) {
  setText(ui.formError, message);
  if (field) {
    field.setAttribute("aria-invalid", "true");
    field.setAttribute("aria-errormessage", ui.formError.id);
    field.focus();
  }
}

function readForm() {
  const submission = { task_name: ui.taskName.value };
  if (ui.kind.value) submission.kind = ui.kind.value;
  const raw = ui.payload.value.trim();
  if (raw) {
    try {
      submission.payload = JSON.parse(raw);
    } catch (error) {
      return { error: `The payload is not valid JSON: ${error.message}` };
    }
  }
  const delay = ui.delay.value.trim();
  if (delay) {
    const seconds = Number(delay);
    if (!Number.isFinite(seconds) || seconds < 0 || seconds > 2592000) {
      return { error: "Start after must be a number of seconds from 0 to 2592000 (30 days).", field: ui.delay };
    }
    if (seconds > 0) submission.delay_seconds = seconds;
  }
  const copies = Number(ui.copies.value || "1");
  if (!Number.isInteger(copies) || copies < 1 || copies > 1000) {
    return { error: "Copies must be a whole number from 1 to 1000.", field: ui.copies };
  }
  // A batch's jobs start at once (the API refuses a start time in one).
  if (copies > 1 && submission.delay_seconds !== undefined) {
    return { error: "A delayed start goes with one copy only.", field: ui.copies };
  }
  const flowProblem = readFlowFields(submission, copies);
  if (flowProblem) return flowProblem;
  return { submission, copies };
}

function wireForm(config) {
  let busy = false;
  ui.form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    clearFormMessages();
    const { submission, copies, error, field } = readForm();
    if (error) {
      showFormError(error, field ?? ui.payload);
      return;
    }
    const length = [...submission.task_name.trim()].length;
    if (length > TASK_NAME_LIMIT) {
      showFormError(
        `The task name is ${length} characters long; the limit is ${TASK_NAME_LIMIT}. Shorten it by ${length - TASK_NAME_LIMIT}.`,
        ui.taskName,
      );
      return;
    }
    busy = true;
    ui.form.setAttribute("aria-busy", "true");
    ui.submit.classList.add("is-busy");
    setText(ui.submit, "Submitting…");
    try {
      const accepted = await api(config, "/jobs", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        // More than one copy goes as one batch: one request, stored all or none.
        body: JSON.stringify(copies > 1 ? Array(copies).fill(submission) : submission),
      });
      ui.taskName.value = "";
      if (copies > 1) {
        setText(ui.formStatus, `Submitted ${accepted.job_ids.length} copies of “${submission.task_name.trim()}”.`);
        loadJobs(config);
        return;
      }
      const jobId = String(accepted.job_id);
      const when = accepted.status === "scheduled" ? ", scheduled" : "";
      setText(
        ui.formStatus,
        `Submitted “${submission.task_name.trim()}” as job ${jobId.slice(0, 8)}${when}.`,
      );
      // Show the row at once, whatever the state of the live connection.
      api(config, `/jobs/${encodeURIComponent(jobId)}`)
        .then((job) => apply([job]))
        .catch(() => {});
    } catch (failure) {
      showFormError(humanize(failure.message), fieldFor(failure.field));
    } finally {
      busy = false;
      ui.form.removeAttribute("aria-busy");
      ui.submit.classList.remove("is-busy");
      setText(ui.submit, "Submit job");
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Steering a job: cancel, retry, and the detail view with its events

let pageConfig = null;
let detailJobId = null;
let detailGeneration = 0;

async function steer(jobId, action, button) {
  setText(ui.jobsError, "");
  button.disabled = true;
  try {
    const job = await api(pageConfig, `/jobs/${encodeURIComponent(jobId)}/${action}`, {
      method: "POST",
    });
    apply([job]);
  } catch (failure) {
    const verb = action === "cancel" ? "cancel" : "retry";
    setText(ui.jobsError, `Could not ${verb} job ${jobId.slice(0, 8)}: ${failure.message}`);
  } finally {
    button.disabled = false;
    const job = jobs.get(jobId);
    const tr = rows.get(jobId);
    if (job && tr) renderRow(tr, job);
  }
}

const EVENT_TEXT = {
  submitted: "submitted",
  scheduled: "scheduled",
  started: "attempt started",
  retrying: "will retry after an error",
  handed_back: "handed back unrun (out of time)",
  cancel_requested: "cancel requested",
  cancelled: "cancelled",
  completed: "completed",
  failed: "failed",
  retried: "retried by hand: a new run",
};

function fact(term, value) {
  const dt = document.createElement("dt");
  dt.textContent = term;
  const dd = document.createElement("dd");
  dd.textContent = value;
  ui.detailFacts.append(dt, dd);
}

function renderDetail(job) {
  setText(ui.detailId, String(job.job_id));
  ui.detailFacts.replaceChildren();
  fact("Task", String(job.task_name ?? ""));
  fact("Status", String(job.status));
  fact("Run", `${job.run ?? 1} (attempt ${job.attempts ?? 0})`);
  fact("Visible to", job.owner_id ? "you only (private)" : "everyone (public demo)");
  if (job.run_at) fact("Starts at", formatMoment(job.run_at));
  flowFacts(fact, job);
  if (job.result != null) fact("Result", String(job.result));
  if (job.error) fact("Error", String(job.error));
  const items = (Array.isArray(job.events) ? job.events : []).map((event) => {
    const li = document.createElement("li");
    li.dataset.testid = "job-event";
    li.dataset.event = String(event.event);
    const what = EVENT_TEXT[event.event] ?? String(event.event);
    const detail = event.detail ? ` — ${event.detail}` : "";
    li.textContent = `${formatMoment(event.at)} · run ${event.run}, attempt ${event.attempt}: ${what}${detail}`;
    return li;
  });
  ui.detailEvents.replaceChildren(...items);
}

async function refreshDetail() {
  if (!detailJobId) return;
  const generation = ++detailGeneration;
  const jobId = detailJobId;
  try {
    const job = await api(pageConfig, `/jobs/${encodeURIComponent(jobId)}`);
    if (generation === detailGeneration && jobId === detailJobId) renderDetail(job);
  } catch (failure) {
    if (generation === detailGeneration) setText(ui.jobsError, failure.message);
  }
}

function openDetail(jobId) {
  detailJobId = jobId;
  ui.detail.hidden = false;
  refreshDetail().then(() => ui.detail.focus());
}

function wireLifecycle(config) {
  pageConfig = config;
  ui.detailClose.addEventListener("click", () => {
    detailJobId = null;
    ui.detail.hidden = true;
  });
  ui.filter.addEventListener("change", () => {
    statusFilter = ui.filter.value;
    render(new Set(jobs.keys()));
    loadJobs(config);
  });
}

// ---------------------------------------------------------------------------------------------
// Realtime, and an honest account of the connection

const CONNECTION_TEXT = {
  live: "Live",
  connecting: "Connecting…",
  offline: "Offline — reconnecting",
};

function setConnection(state, detail) {
  ui.connection.dataset.state = state;
  setText(ui.connection.querySelector(".connection-label"), CONNECTION_TEXT[state]);
  setTitle(ui.connection, detail || "");
}

// Without Realtime, the list is read again every REFRESH_MS, and the page says so.
let refreshTimer = null;

function liveUpdatesOff(config, reason) {
  setText(
    ui.liveOff,
    `Live updates are off (${reason}); the list refreshes every ${REFRESH_MS / 1000} s.`,
  );
  ui.liveOff.hidden = false;
  if (refreshTimer === null) {
    loadJobs(config);
    refreshTimer = setInterval(() => loadJobs(config), REFRESH_MS);
  }
}

function liveUpdatesOn() {
  ui.liveOff.hidden = true;
  if (refreshTimer !== null) {
    clearInterval(refreshTimer);
    refreshTimer = null;
  }
}

function onChange(change) {
  if (change.eventType === "DELETE") {
    const jobId = change.old && change.old.job_id;
    if (jobId && jobs.has(jobId)) {
      forget(jobId);
      render(new Set());
    }
    return;
  }
  apply([change.new]);
}

function startRealtime(config) {
  if (!window.supabase || typeof window.supabase.createClient !== "function") {
    setConnection("offline", "supabase.js did not load");
    liveUpdatesOff(config, "supabase.js could not be loaded");
    return;
  }
  const client = supabaseClient(config);
  if (!client) {
    setConnection("offline", "the Supabase URL was refused");
    liveUpdatesOff(config, "the Supabase URL was refused");
    return;
  }
  let channel = null;
  let closedAttempts = 0;
  let joins = 0;
  let subscribed = false;
  // A Realtime that never answers (a dead port, a proxy that swallows WebSockets) may give no
  // error for a long time: not joined within REFRESH_MS counts as down.
  const watch = () =>
    setTimeout(() => {
      if (!subscribed) liveUpdatesOff(config, "Realtime did not answer");
    }, REFRESH_MS);

  const subscribe = () => {
    const mine = client
      .channel(`jobs-page-${++joins}`) // a new topic: realtime-js reuses a channel by topic
      .on("postgres_changes", { event: "*", schema: "public", table: "job_results" }, onChange)
      .subscribe((status, error) => {
        if (mine !== channel) return; // a channel this page already gave up
        if (status === "SUBSCRIBED") {
          closedAttempts = 0;
          subscribed = true;
          setConnection("live");
          liveUpdatesOn();
          // Realtime does not replay what happened while this channel was not joined, so after
          // every join (the first one included) the list is read again.
          loadJobs(config);
        } else if (status === "CHANNEL_ERROR" || status === "TIMED_OUT") {
          // realtime-js rejoins by itself, with backoff.
          subscribed = false;
          setConnection("offline", error ? String(error.message || error) : status);
          liveUpdatesOff(config, "the Realtime connection is down");
        } else if (status === "CLOSED") {
          // The server closed the channel; this one will not come back by itself.
          subscribed = false;
          setConnection("offline", "the channel was closed");
          liveUpdatesOff(config, "the Realtime channel was closed");
          channel = null;
          client.removeChannel(mine);
          const wait = RESUBSCRIBE_AFTER_MS[Math.min(closedAttempts++, RESUBSCRIBE_AFTER_MS.length - 1)];
          setTimeout(() => {
            if (channel === null) {
              setConnection("connecting");
              channel = subscribe();
              watch();
            }
          }, wait);
        }
      });
    return mine;
  };
  setConnection("connecting");
  channel = subscribe();
  watch();
}

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Kinds of task (GET /kinds): the selector, and hints from each kind's payload schema

const TASK_NAME_LIMIT = 200;
let kinds = new Map();
// The kind a job runs when it names none, as GET /kinds says (the API puts it in).
let defaultKind = null;

function schemaHint(kind) {
  const spec = kinds.get(kind || defaultKind);
  if (!spec) return null;
  const schema = spec.payload_schema || {};
  const fields = Object.entries(schema.properties || {}).map(([name, field]) => {
    const rules = [field.type === "integer" ? "whole number" : field.type];
    if (typeof field.minimum === "number") rules.push(`at least ${field.minimum}`);
    if (typeof field.maximum === "number") rules.push(`at most ${field.maximum}`);
    if (typeof field.maxLength === "number") rules.push(`up to ${field.maxLength} characters`);
    const required = (schema.required || []).includes(name) ? ", required" : "";
    const about = field.description ? `: ${field.description}` : "";
    return `"${name}" (${rules.filter(Boolean).join(", ")}${required})${about}`;
  });
  const limit = `Runs for at most ${spec.time_limit_s} s.`;
  if (!fields.length) return `${spec.description} ${limit}`.trim();
  const others = schema.additionalProperties === false ? "" : " Other fields are kept as they are.";
  return `${spec.description} Payload fields: ${fields.join("; ")}.${others} ${limit}`.trim();
}

function showKindHint() {
  const hint = schemaHint(ui.kind.value);
  if (hint) setText(ui.payloadHint, hint);
}

async function loadKinds(config) {
  let body;
  try {
    body = await api(config, "/kinds");
  } catch {
    return; // the selector keeps the built-in kinds it was written with
  }
  const list = Array.isArray(body && body.kinds) ? body.kinds : [];
  if (!list.length) return;
  kinds = new Map(list.map((spec) => [spec.kind, spec]));
  defaultKind = typeof body.default === "string" && kinds.has(body.default) ? body.default : null;
  const chosen = ui.kind.value;
  ui.kind.replaceChildren();
  const fallback = document.createElement("option");
  fallback.value = "";
  fallback.textContent = defaultKind ? `Default (${defaultKind})` : "Default";
  ui.kind.append(fallback);
  // The default kind first, then the others by name.
  const ordered = [...list].sort((a, b) =>
    a.kind === defaultKind ? -1 : b.kind === defaultKind ? 1 : a.kind < b.kind ? -1 : 1,
  );
  for (const spec of ordered) {
    const option = document.createElement("option");
    option.value = spec.kind;
    option.textContent = spec.description ? `${spec.kind} — ${spec.description}` : spec.kind;
    ui.kind.append(option);
  }
  ui.kind.value = kinds.has(chosen) ? chosen : "";
  ui.kind.dataset.source = "api";
  showKindHint();
}

function showTaskNameCount() {
  const length = [...ui.taskName.value.trim()].length;
  const over = length > TASK_NAME_LIMIT;
  ui.taskNameCount.classList.toggle("is-over", over);
  setText(
    ui.taskNameCount,
    over
      ? `${length} characters: ${length - TASK_NAME_LIMIT} over the limit of ${TASK_NAME_LIMIT}`
      : `${length} / ${TASK_NAME_LIMIT} characters`,
  );
}

/** An API message in the words of the form: field names become the labels a person sees. */
function humanize(message) {
  let text = message.replace(/\s*\(task '[a-z0-9_]+'\)$/, "");
  const unknown = /^kind '([^']*)' is not a known task \(known: ([^)]*)\)/.exec(text);
  if (unknown) return `“${unknown[1]}” is not a kind of task this system runs (it runs ${unknown[2]}).`;
  text = text.replace(/^payload\.([A-Za-z0-9_.[\]]+) /, (_, path) => {
    const spec = kinds.get(ui.kind.value || defaultKind);
    const field = spec && spec.payload_schema.properties && spec.payload_schema.properties[path];
    return `${field && field.title ? field.title : `“${path}”`} (in the payload) `;
  });
  text = text
    .replace(/^task_name\b/, "The task name")
    .replace(/^payload\b/, "The payload")
    .replace(/^kind\b/, "The kind")
    .replace(/^Idempotency-Key\b/, "The idempotency key");
  if (/^the access token is not valid/.test(text)) {
    text = "Your sign-in has expired or is not valid here. Sign out and keep your jobs private again.";
  }
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// ---------------------------------------------------------------------------------------------
// Own jobs: an anonymous sign-in (supabase-js auth.signInAnonymously()). Signed in, the API
// and Realtime act for the user, whose jobs only they see; signed out, the public demo.

let supabase = null;
let session = null;
let identity = 0;

function supabaseClient(config) {
  if (supabase) return supabase;
  if (!window.supabase || typeof window.supabase.createClient !== "function") return null;
  try {
    supabase = window.supabase.createClient(config.supabaseUrl, config.supabaseKey, {
      auth: { persistSession: true, autoRefreshToken: true, detectSessionInUrl: false },
    });
  } catch {
    return null;
  }
  return supabase;
}

async function accessToken() {
  if (!supabase || !session) return null;
  const { data } = await supabase.auth.getSession();
  return data && data.session ? data.session.access_token : null;
}

function showAccount() {
  const signedIn = Boolean(session);
  ui.signIn.hidden = signedIn;
  ui.signOut.hidden = !signedIn;
  ui.form.dataset.owner = signedIn ? "user" : "public";
  setText(
    ui.accountText,
    signedIn
      ? `Private: signed in anonymously (${session.user.id.slice(0, 8)}). Only you see your jobs.`
      : "Public demo: everyone with this page sees these jobs.",
  );
}

function switchedIdentity(config) {
  identity += 1; // answers to reads made as the previous identity are dropped
  for (const jobId of [...jobs.keys()]) forget(jobId);
  detailJobId = null; // the open job was the previous identity's
  ui.detail.hidden = true;
  render(new Set());
  showAccount();
  loadJobs(config);
}

async function wireAccount(config) {
  const client = supabaseClient(config);
  if (!client) {
    ui.signIn.disabled = true;
    setText(ui.accountError, "Signing in needs supabase.js, which did not load.");
    return;
  }
  ui.signIn.addEventListener("click", async () => {
    setText(ui.accountError, "");
    const { data, error } = await client.auth.signInAnonymously();
    if (error) {
      setText(ui.accountError, `Could not sign in: ${error.message}`);
      return;
    }
    session = data.session;
    switchedIdentity(config);
  });
  ui.signOut.addEventListener("click", async () => {
    await client.auth.signOut();
    session = null;
    switchedIdentity(config);
  });
  const { data } = await client.auth.getSession();
  session = data && data.session ? data.session : null;
  showAccount();
}

function main() {
  const config = readConfig();
  if (!config) {
    setConnection("offline", "no configuration");
    setText(ui.note, "Nothing to show without a configuration.");
    return;
  }
  wireForm(config);
  ui.kind.addEventListener("change", showKindHint);
  ui.taskName.addEventListener("input", showTaskNameCount);
  wireLifecycle(config);
  // A kept session (a reload) is restored before the first read, so the list is the user's.
  wireAccount(config).finally(() => {
    loadJobs(config);
    loadKinds(config);
    startRealtime(config);
  });
}

main();

// For the browser tests, which reach the page's own merge rule with import("./app.js").
export { apply as applyVersions, humanize, isNotOlder, micros, REFRESH_MS };
