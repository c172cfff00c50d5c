// One row of the jobs table: its cells, its progress bar and buttons, and how a version of a
// job is shown in it. No state of its own: the table (jobs.js) keeps the rows and the jobs, and
// gives each row what its buttons do.

import { formatDuration, formatMoment, millis } from "./time.js";
import { setText, setTitle } from "./ui.js";

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

/**
 * A new, empty row for a job. actions.steer(jobId, "cancel" | "retry", button) and
 * actions.details(jobId) are what its buttons do.
 */
export function createRow(jobId, actions) {
  const tr = document.createElement("tr");
  tr.setAttribute("role", "row");
  tr.dataset.testid = "job-row";
  tr.dataset.jobId = jobId;
  const [id, task, status, attempts, result, created, started, finished, buttons] = COLUMNS.map(
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
    ...lifecycleRefs(jobId, status, buttons, actions),
  };
  tr.refs = refs;
  return tr;
}

/** The progress bar and its message under the status, and the row's buttons. */
function lifecycleRefs(jobId, statusCell, actionsCell, actions) {
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
    cancel: button("Cancel", "job-cancel", (id, el) => actions.steer(id, "cancel", el)),
    retry: button("Retry", "job-retry", (id, el) => actions.steer(id, "retry", el)),
    details: button("Details", "job-details", (id) => actions.details(id)),
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

/** How long a job has run, waited, or took, or when it starts, as of `now` (ms). */
export function elapsedText(job, now) {
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

/** Show one version of a job in its row. */
export function renderRow(tr, job) {
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
