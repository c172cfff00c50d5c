// Flow control on the page: the submit form's optional priority, dedup key and concurrency
// key/limit, and, in a job's details, why it waits ("waiting: 2 of 2 running for this user",
// "rate limited until 12:00:03 UTC", "scheduled by <schedule>"), as GET /jobs/<id> says it.
//
// A module of its own so that app.js only calls it: it adds its fields to the form when loaded,
// readFlowFields puts their values in a submission, flowFacts adds a job's facts.
// Values are put on the page as text only.

const FIELDS = [
  { name: "priority", label: "Priority", hint: "optional, higher first", number: true },
  { name: "dedup_key", label: "Dedup key", hint: "optional: an unfinished job with it is reused" },
  { name: "concurrency_key", label: "Concurrency key", hint: "optional, needs a limit" },
  { name: "concurrency_limit", label: "Concurrency limit", hint: "optional, 1 to 10,000", number: true },
];
const KEY_LIMIT = 200;
const ui = (id) => document.getElementById(id);

function mountFlowFields(form) {
  if (!form || form.querySelector("[data-testid='flow-fields']")) return;
  const box = document.createElement("details");
  box.className = "field field-wide flow-fields";
  box.dataset.testid = "flow-fields";
  const summary = document.createElement("summary");
  summary.id = "flow-fields-summary";
  summary.textContent = "Flow control (priority, dedup, concurrency)";
  box.append(summary);
  for (const field of FIELDS) {
    const wrap = document.createElement("div");
    wrap.className = "field";
    const label = document.createElement("label");
    label.htmlFor = `flow-${field.name}`;
    label.textContent = `${field.label} `;
    const hint = document.createElement("span");
    hint.className = "optional";
    hint.textContent = field.hint;
    label.append(hint);
    const input = document.createElement("input");
    input.id = `flow-${field.name}`;
    input.name = field.name;
    input.dataset.testid = `flow-${field.name}`;
    if (field.number) {
      input.type = "number";
      input.step = "1";
      input.inputMode = "numeric";
    } else {
      input.type = "text";
      input.maxLength = KEY_LIMIT;
      input.autocapitalize = "off";
    }
    wrap.append(label, input);
    box.append(wrap);
  }
  form.querySelector(".form-actions")?.before(box);
}

/** Puts the form's flow fields into `submission`; a problem as readForm returns one, or null. */
export function readFlowFields(submission, copies) {
  let given = false;
  for (const field of FIELDS) {
    const input = document.getElementById(`flow-${field.name}`);
    const raw = input ? input.value.trim() : "";
    if (!raw) continue;
    given = true;
    if (field.number) {
      const value = Number(raw);
      if (!Number.isInteger(value)) {
        return { error: `${field.label} must be a whole number.`, field: input };
      }
      submission[field.name] = value;
    } else {
      submission[field.name] = raw;
    }
  }
  if (given && copies > 1) {
    return { error: "Flow control fields go with one copy only.", field: ui("flow-priority") };
  }
  return null;
}

/** What a waiting job waits for, as one line; "" when it is not waiting. */
export function waitingText(job) {
  const waiting = job && job.waiting;
  if (!waiting) return "";
  return String(waiting.message ?? waiting.reason ?? "");
}

/** Adds a job's flow-control facts to its details with `fact(term, value)`. */
export function flowFacts(fact, job) {
  const waiting = waitingText(job);
  if (waiting) fact("Waiting", waiting);
  if (job.priority != null) fact("Priority", String(job.priority));
  if (job.concurrency_key) fact("Concurrency key", String(job.concurrency_key));
  if (job.dedup_key) fact("Dedup key", String(job.dedup_key));
}

mountFlowFields(document.getElementById("job-form"));
