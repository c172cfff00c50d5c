// The detail view of one job: its facts and its events (GET /jobs/<id>), read again whenever a
// new version of that job reaches the table, until it is closed.

import { api } from "./api.js";
import { flowFacts } from "./flow.js";
import { formatMoment } from "./time.js";
import { setText, ui } from "./ui.js";

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

// The page's configuration (given once by wireDetail), the job shown (null when closed), and a
// count of reads, so that only the newest read's answer is shown.
let detailConfig = null;
let detailJobId = null;
let detailGeneration = 0;

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
  const items = (Array.isArray(job.events) ? job.events : []).map(eventItem);
  ui.detailEvents.replaceChildren(...items);
}

function eventItem(event) {
  const li = document.createElement("li");
  li.dataset.testid = "job-event";
  li.dataset.event = String(event.event);
  li.dataset.eventId = String(event.event_id ?? "");
  const what = EVENT_TEXT[event.event] ?? String(event.event);
  const detail = event.detail ? ` — ${event.detail}` : "";
  li.textContent = `${formatMoment(event.at)} · run ${event.run}, attempt ${event.attempt}: ${what}${detail}`;
  return li;
}

/** An event that came over Broadcast (live.js): on the open job's history at once, once. */
export function showLiveEvent(event, job) {
  if (!detailJobId || job.job_id !== detailJobId) return;
  const id = String(event.event_id);
  if ([...ui.detailEvents.children].some((li) => li.dataset.eventId === id)) return;
  ui.detailEvents.append(eventItem(event));
}

async function refreshDetail() {
  if (!detailJobId) return;
  const generation = ++detailGeneration;
  const jobId = detailJobId;
  try {
    const job = await api(detailConfig, `/jobs/${encodeURIComponent(jobId)}`);
    if (generation === detailGeneration && jobId === detailJobId) renderDetail(job);
  } catch (failure) {
    if (generation === detailGeneration) setText(ui.jobsError, failure.message);
  }
}

/** A row's Details: show that job, and move the focus to it once read. */
export function openDetail(jobId) {
  detailJobId = jobId;
  ui.detail.hidden = false;
  refreshDetail().then(() => ui.detail.focus());
}

export function closeDetail() {
  detailJobId = null;
  ui.detail.hidden = true;
}

/** New versions of these jobs were shown: read the open one again if it is among them. */
export function jobsChanged(changedIds) {
  if (detailJobId && changedIds.has(detailJobId)) refreshDetail();
}

export function wireDetail(config) {
  detailConfig = config;
  ui.detailClose.addEventListener("click", closeDetail);
}
