// The new-job form: read and check the inputs, POST /jobs (a batch for several copies), show
// the new row at once, and put a refusal in the form's words, on the input it is about.

import { api } from "./api.js";
import { apply, loadJobs } from "./jobs.js";
import { kindSpec, showKindHint } from "./kinds.js";
import { setText, ui } from "./ui.js";
import { readFlowFields } from "./flow.js";

const TASK_NAME_LIMIT = 200;

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
    const spec = kindSpec(ui.kind.value);
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

/** Submitting, and the hints that follow the inputs (the name's length, the kind's payload). */
export function wireForm(config) {
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
  ui.kind.addEventListener("change", showKindHint);
  ui.taskName.addEventListener("input", showTaskNameCount);
}
