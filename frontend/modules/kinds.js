// Kinds of task (GET /kinds): the selector's options, and the payload hint written from the
// chosen kind's description, payload schema and time limit. Without an answer the selector
// keeps the built-in kinds index.html was written with.

import { api } from "./api.js";
import { setText, ui } from "./ui.js";

let kinds = new Map(); // kind -> its spec, as GET /kinds gives it
// The kind a job runs when it names none, as GET /kinds says (the API puts it in).
let defaultKind = null;

/** The spec of a kind (of the default kind for ""), or null when GET /kinds did not say. */
export function kindSpec(kind) {
  return kinds.get(kind || defaultKind) ?? null;
}

function schemaHint(kind) {
  const spec = kindSpec(kind);
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

/** The payload hint for the kind chosen in the selector (kept as written when unknown). */
export function showKindHint() {
  const hint = schemaHint(ui.kind.value);
  if (hint) setText(ui.payloadHint, hint);
}

export async function loadKinds(config) {
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
