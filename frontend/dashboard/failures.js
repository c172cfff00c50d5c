// The failures table: failed jobs grouped by kind and error. "Retry all shown" (main.js)
// retries exactly the jobs the table counted: the API refuses, and retries none, if the set
// changed since (until = the list's time, expect = its count).

export const FAILURES_WINDOW_S = 24 * 3600;

export function renderFailures(body, answer) {
  const rows = answer.groups.map((group) => {
    const row = document.createElement("tr");
    row.dataset.kind = group.kind;
    row.dataset.jobs = String(group.jobs);
    for (const [text, className] of [
      [String(group.jobs), ""],
      [group.kind, ""],
      [group.error || "(no error text)", "error"],
      [new Date(group.last_at).toLocaleString(), ""],
    ]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      if (className) cell.className = className;
      row.append(cell);
    }
    return row;
  });
  body.replaceChildren(...rows);
}
