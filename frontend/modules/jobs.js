// The jobs table: the jobs by id, the newest LIST_LIMIT of them shown in order, the status
// filter, reading the list through the API, and the rows' Cancel and Retry.
//
// A version of a job replaces the one shown only when it is not older (updated_at, to the
// microsecond), so late events and slow list answers never roll a row back. Every version,
// from the API or from Realtime, goes through apply().

import { api } from "./api.js";
import { jobsChanged, openDetail } from "./detail.js";
import { createRow, elapsedText, renderRow } from "./job-row.js";
import { micros } from "./time.js";
import { setText, ui } from "./ui.js";

const LIST_LIMIT = 50;
const TICK_MS = 500;

const jobs = new Map(); // job_id -> job (as the API or Realtime gives it)
const rows = new Map(); // job_id -> <tr>
let loadedOnce = false;
// The status the list is filtered by ("" for all): jobs in another state are kept but not shown.
let statusFilter = "";
// Bumped when the page signs in or out: answers to reads made as the previous identity are dropped.
let identity = 0;
let loadGeneration = 0;
// The page's configuration, for the rows' buttons (given once by wireTable).
let tableConfig = null;

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

const shownByFilter = (job) => !statusFilter || job.status === statusFilter;

function newestFirst(a, b) {
  const byCreated = (micros(b.created_at) ?? 0) - (micros(a.created_at) ?? 0);
  return byCreated !== 0 ? byCreated : a.job_id < b.job_id ? -1 : a.job_id > b.job_id ? 1 : 0;
}

const rowActions = { steer, details: openDetail };

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
      tr = createRow(job.job_id, rowActions);
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

/** Merge versions of jobs and show them; the ids whose version was taken. */
export function apply(versions) {
  const changed = new Set();
  for (const job of versions) if (merge(job)) changed.add(job.job_id);
  if (changed.size) render(changed);
  jobsChanged(changed);
  return changed;
}

/** A job deleted from the database leaves the list. */
export function removeJob(jobId) {
  if (jobId && jobs.has(jobId)) {
    forget(jobId);
    render(new Set());
  }
}

/** The page signed in or out: every job shown was the previous identity's. */
export function forgetAllJobs() {
  identity += 1;
  for (const jobId of [...jobs.keys()]) forget(jobId);
  render(new Set());
}

/** Read the newest jobs (in the filter's status) through the API and merge them. */
export async function loadJobs(config) {
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

/** A row's Cancel or Retry: POST /jobs/<id>/<action>, then show the job as answered. */
async function steer(jobId, action, button) {
  setText(ui.jobsError, "");
  button.disabled = true;
  try {
    const job = await api(tableConfig, `/jobs/${encodeURIComponent(jobId)}/${action}`, {
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

/** Running and waiting jobs show a ticking elapsed time; display only, nothing is fetched. */
function tick() {
  const now = Date.now();
  for (const [jobId, tr] of rows) {
    const job = jobs.get(jobId);
    if (job && ["running", "pending", "scheduled"].includes(job.status)) {
      setText(tr.refs.elapsed, elapsedText(job, now));
    }
  }
}

/** The status filter, the rows' buttons, and the ticking elapsed times. */
export function wireTable(config) {
  tableConfig = config;
  ui.filter.addEventListener("change", () => {
    statusFilter = ui.filter.value;
    render(new Set(jobs.keys()));
    loadJobs(config);
  });
  setInterval(tick, TICK_MS);
}
