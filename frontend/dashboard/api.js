// The jobs API's operators' routes, with the operator's key as the bearer token.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function makeApi(functionsUrl, key) {
  const base = functionsUrl.replace(/\/+$/, "");
  async function call(method, path, { params, body } = {}) {
    const query = params ? `?${new URLSearchParams(params)}` : "";
    let response;
    try {
      response = await fetch(`${base}${path}${query}`, {
        method,
        headers: {
          Authorization: `Bearer ${key}`,
          ...(body ? { "Content-Type": "application/json" } : {}),
        },
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch {
      throw new ApiError(0, "unreachable", `the jobs API at ${base} did not answer`);
    }
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = answer.error || {};
      throw new ApiError(response.status, error.code || "error", error.message || response.statusText);
    }
    return answer;
  }
  return {
    stats: (windowS) => call("GET", "/stats", { params: { window: String(windowS) } }),
    failures: (filter) => call("GET", "/failures", { params: filter }),
    retry: (filter) => call("POST", "/jobs/retry", { body: filter }),
  };
}
