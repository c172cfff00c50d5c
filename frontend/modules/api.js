// The jobs API (the submit function): one fetch wrapper that sends the signed-in user's token,
// reads the JSON answer, and turns a refusal into an ApiError with the API's own message.

import { accessToken } from "./account.js";

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

/** The parsed JSON body of `path` under the configured functions URL; throws ApiError. */
export async function api(config, path, init) {
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
