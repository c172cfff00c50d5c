// Realtime, and an honest account of the connection. Live updates come over the database's
// private Broadcast (live.js) unless the configuration says liveMode: "postgres_changes"
// (then postgres_changes on public.job_results, below).
// the badge follows the channel's status, and without live updates a banner says so and the
// list is read through the API every REFRESH_MS instead, so a finished job never shows as
// pending for longer than that.

import { currentSession, supabaseClient } from "./account.js";
import { showLiveEvent } from "./detail.js";
import { apply, loadJobs, removeJob } from "./jobs.js";
import { BROADCAST, jobsTopic, liveMode, startLive } from "./live.js";
import { setText, setTitle, ui } from "./ui.js";

export const REFRESH_MS = 3000;
const RESUBSCRIBE_AFTER_MS = [1000, 2000, 5000, 10000];

const CONNECTION_TEXT = {
  live: "Live",
  connecting: "Connecting…",
  offline: "Offline — reconnecting",
};

/** The badge at the top: "live", "connecting" or "offline", with the reason as its title. */
export function setConnection(state, detail) {
  ui.connection.dataset.state = state;
  setText(ui.connection.querySelector(".connection-label"), CONNECTION_TEXT[state]);
  setTitle(ui.connection, detail || "");
}

// Without Realtime, the list is read again every REFRESH_MS, and the page says so.
let refreshTimer = null;

function liveUpdatesOff(config, reason) {
  setText(
    ui.liveOff,
    `Live updates are off (${reason}); the list refreshes every ${REFRESH_MS / 1000} s.`,
  );
  ui.liveOff.hidden = false;
  if (refreshTimer === null) {
    loadJobs(config);
    refreshTimer = setInterval(() => loadJobs(config), REFRESH_MS);
  }
}

function liveUpdatesOn() {
  ui.liveOff.hidden = true;
  if (refreshTimer !== null) {
    clearInterval(refreshTimer);
    refreshTimer = null;
  }
}

function onChange(change) {
  if (change.eventType === "DELETE") {
    removeJob(change.old && change.old.job_id);
    return;
  }
  apply([change.new]);
}

// The Broadcast follower (live.js), when that is the live mode.
let live = null;

/** Signed in or out: Broadcast moves to the new identity's topic (postgres_changes needs
 * nothing, supabase-js hands Realtime the new token). */
export function identityChanged() {
  if (live) live.rejoin();
}

export function startRealtime(config) {
  if (!window.supabase || typeof window.supabase.createClient !== "function") {
    setConnection("offline", "supabase.js did not load");
    liveUpdatesOff(config, "supabase.js could not be loaded");
    return;
  }
  const client = supabaseClient(config);
  if (!client) {
    setConnection("offline", "the Supabase URL was refused");
    liveUpdatesOff(config, "the Supabase URL was refused");
    return;
  }
  if (liveMode(config) === BROADCAST) {
    // The default: the database's Broadcast to the page's own private topic, with replay.
    let joined = false;
    live = startLive(client, {
      topic: () => jobsTopic(currentSession()),
      setConnection: (state, detail) => {
        joined = state === "live";
        setConnection(state, detail);
      },
      liveUpdatesOn,
      liveUpdatesOff: (reason) => liveUpdatesOff(config, reason),
      reload: () => loadJobs(config),
      applyJob: (job) => apply([job]),
      showEvent: showLiveEvent,
    });
    // As below: not joined within REFRESH_MS counts as down.
    setTimeout(() => {
      if (!joined) liveUpdatesOff(config, "Realtime did not answer");
    }, REFRESH_MS);
    return;
  }
  let channel = null;
  let closedAttempts = 0;
  let joins = 0;
  let subscribed = false;
  // A Realtime that never answers (a dead port, a proxy that swallows WebSockets) may give no
  // error for a long time: not joined within REFRESH_MS counts as down.
  const watch = () =>
    setTimeout(() => {
      if (!subscribed) liveUpdatesOff(config, "Realtime did not answer");
    }, REFRESH_MS);

  const subscribe = () => {
    const mine = client
      .channel(`jobs-page-${++joins}`) // a new topic: realtime-js reuses a channel by topic
      .on("postgres_changes", { event: "*", schema: "public", table: "job_results" }, onChange)
      .subscribe((status, error) => {
        if (mine !== channel) return; // a channel this page already gave up
        if (status === "SUBSCRIBED") {
          closedAttempts = 0;
          subscribed = true;
          setConnection("live");
          liveUpdatesOn();
          // Realtime does not replay what happened while this channel was not joined, so after
          // every join (the first one included) the list is read again.
          loadJobs(config);
        } else if (status === "CHANNEL_ERROR" || status === "TIMED_OUT") {
          // realtime-js rejoins by itself, with backoff.
          subscribed = false;
          setConnection("offline", error ? String(error.message || error) : status);
          liveUpdatesOff(config, "the Realtime connection is down");
        } else if (status === "CLOSED") {
          // The server closed the channel; this one will not come back by itself.
          subscribed = false;
          setConnection("offline", "the channel was closed");
          liveUpdatesOff(config, "the Realtime channel was closed");
          channel = null;
          client.removeChannel(mine);
          const wait = RESUBSCRIBE_AFTER_MS[Math.min(closedAttempts++, RESUBSCRIBE_AFTER_MS.length - 1)];
          setTimeout(() => {
            if (channel === null) {
              setConnection("connecting");
              channel = subscribe();
              watch();
            }
          }, wait);
        }
      });
    return mine;
  };
  setConnection("connecting");
  channel = subscribe();
  watch();
}
