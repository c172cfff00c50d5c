// The operators' dashboard: polls GET /stats every 2 s, draws the charts, lists the failures
// and retries them. Its own modules only; the jobs page's app.js is not loaded.
import { ApiError, makeApi } from "./api.js";
import { makeCharts } from "./charts.js";
import { FAILURES_WINDOW_S, renderFailures } from "./failures.js";
import {
  addDepthPoint, depthColumns, formatRate, formatSeconds, seriesColumns,
} from "./history.js";

const POLL_MS = 2000;
const FAILURES_EVERY = 5; // polls: the failures list every 10 s
const WINDOW_S = 300;
const KEY_STORAGE = "supajobs.operatorKey";

const $ = (id) => document.getElementById(id);

function setState(state, label) {
  const element = $("poll-state");
  element.dataset.state = state;
  element.querySelector(".connection-label").textContent = label;
}

function showProblem(message) {
  const banner = $("problem");
  banner.textContent = message || "";
  banner.hidden = !message;
}

function showTiles(overall, wakeUps) {
  $("tile-pending").textContent = String(overall.depth.pending + overall.depth.scheduled);
  $("tile-running").textContent = String(overall.depth.running);
  $("tile-oldest").textContent = formatSeconds(overall.oldest_waiting_s);
  $("tile-rate").textContent = String(overall.finishes_per_min);
  $("tile-failures").textContent = formatRate(overall.failure_rate);
  $("tile-wakeups").textContent = String(wakeUps.sent);
}

function start(functionsUrl, key) {
  const api = makeApi(functionsUrl, key);
  const charts = makeCharts(document, WINDOW_S);
  let depth = [];
  let polls = 0;
  let listed = null; // the failures list shown: its filter and its count
  let timer = null;

  async function refreshFailures() {
    const since = new Date(Date.now() - FAILURES_WINDOW_S * 1000).toISOString();
    const answer = await api.failures({ since });
    renderFailures($("failures-body"), answer);
    // Exactly what the list counted: ended in [since, the list's time), that many jobs.
    listed = { since, until: answer.at, expect: answer.jobs };
    $("retry-shown").disabled = answer.jobs === 0;
    $("failures-note").textContent = answer.jobs
      ? `${answer.jobs} failed jobs in ${answer.groups.length} groups, as of ${new Date(answer.at).toLocaleTimeString()}`
      : "No failed jobs in the last 24 hours.";
  }

  async function poll() {
    try {
      const metrics = await api.stats(WINDOW_S);
      const { throughput, latency } = seriesColumns(metrics);
      depth = addDepthPoint(depth, metrics, WINDOW_S);
      charts.show({ at: Date.parse(metrics.at) / 1000, throughputColumns: throughput, depthColumns: depthColumns(depth), latencyColumns: latency });
      showTiles(metrics.overall, metrics.wake_ups);
      if (polls % FAILURES_EVERY === 0) await refreshFailures();
      polls += 1;
      document.body.dataset.polls = String(polls);
      setState("live", "Live");
      showProblem("");
    } catch (error) {
      setState("offline", "Not connected");
      showProblem(error instanceof ApiError ? `${error.message} (${error.status || "no answer"})` : String(error));
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
        sessionStorage.removeItem(KEY_STORAGE);
        return; // a wrong key: stop until another is given
      }
    }
    timer = setTimeout(poll, POLL_MS);
  }

  $("retry-shown").addEventListener("click", async () => {
    if (!listed) return;
    const button = $("retry-shown");
    button.disabled = true;
    try {
      const answer = await api.retry(listed);
      $("failures-note").textContent = `Retried ${answer.retried} jobs.`;
      document.body.dataset.retried = String(answer.retried);
      await refreshFailures();
    } catch (error) {
      $("failures-note").textContent = error.code === "jobs_changed"
        ? `${error.message}. The list was refreshed; look again before retrying.`
        : `Nothing was retried: ${error.message}`;
      await refreshFailures().catch(() => {});
    } finally {
      button.disabled = !listed || listed.expect === 0;
    }
  });

  setState("connecting", "Connecting…");
  poll();
  return () => clearTimeout(timer);
}

function main() {
  const config = window.JOBS_CONFIG || {};
  if (!config.functionsUrl) {
    showProblem("config.js names no functionsUrl: the dashboard does not know where the jobs API is.");
    return;
  }
  let stop = null;
  const connect = (key) => {
    if (stop) stop();
    sessionStorage.setItem(KEY_STORAGE, key);
    stop = start(config.functionsUrl, key);
  };
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("key").value.trim();
    if (key) connect(key);
  });
  const kept = sessionStorage.getItem(KEY_STORAGE);
  if (kept) connect(kept);
}

main();
