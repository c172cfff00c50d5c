// The page's elements, found once by id, and the two ways the page writes to them. Every value
// that comes from a user or a job is put on the page as text (textContent, setAttribute), never
// parsed as HTML.

const $ = (id) => document.getElementById(id);

export const ui = {
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

/** Set an element's text, leaving it untouched (no layout, no mutation) when it is the same. */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

export function setTitle(el, text) {
  if (text) el.setAttribute("title", text);
  else el.removeAttribute("title");
}
