// Live updates over Supabase Realtime Broadcast from the database (the default), or over
// postgres_changes on public.job_results when the configuration says liveMode:
// "postgres_changes" (realtime.js's startRealtime; every change is checked against every
// subscriber's row level security, so it is the first thing to give out as watchers grow).
//
// Every change of a job is sent by the database, in the transaction that makes it, to private
// topics (supabase/schema/20_functions/70_broadcast_job_change.sql): jobs:user:<uid> for a
// signed-in user's jobs, jobs:public for the public demo's. The page joins its topic as a
// private channel with its token (Realtime asks the policies on realtime.messages whether it
// may), and on every (re)join asks Realtime to replay what it missed since the newest change it
// has seen. Each message is taken once (by its id), each event once (by its event_id), so a
// dropped socket or a restarted Realtime loses nothing and shows nothing twice.

export const BROADCAST = "broadcast";
export const POSTGRES_CHANGES = "postgres_changes";

// Realtime replays at most 25 messages a join; older gaps are covered by the list's reload.
const REPLAY_LIMIT = 25;
// A first join replays the last minute; a rejoin from a little before the newest change seen
// (a message's time is its transaction's start, which may precede an earlier commit).
const FIRST_REPLAY_MS = 60_000;
const REPLAY_MARGIN_MS = 2_000;
const REJOIN_AFTER_MS = [500, 1000, 2000, 5000, 10000];
// Enough to recognise a repeat from any replay; the oldest are forgotten first.
const REMEMBERED = 2_000;

/** Which live mode the configuration asks for (Broadcast unless it says postgres_changes). */
export function liveMode(config) {
  return config && config.liveMode === POSTGRES_CHANGES ? POSTGRES_CHANGES : BROADCAST;
}

/** The Broadcast topic of whoever the page is: a signed-in user's own, or the public demo's. */
export function jobsTopic(session) {
  return session && session.user && session.user.id ? `jobs:user:${session.user.id}` : "jobs:public";
}

class Remembered {
  constructor(size) {
    this.size = size;
    this.items = new Set();
  }
  // Whether `key` is new; remembers it.
  add(key) {
    if (key === undefined || key === null || this.items.has(key)) return false;
    this.items.add(key);
    if (this.items.size > this.size) this.items.delete(this.items.values().next().value);
    return true;
  }
}

/**
 * Follow the page's jobs over Broadcast. `page` is what the page lends:
 *   topic()                  the topic to join now (jobsTopic of the current session)
 *   setConnection(state, d)  "live" | "connecting" | "offline", with a detail
 *   liveUpdatesOn()          / liveUpdatesOff(reason): the list's fallback polling
 *   reload()                 read the list again (after a join: older gaps than a replay holds)
 *   applyJob(job)            a job's new public fields (the list merges by version)
 *   showEvent(event, job)    one of the job's events, new to this page
 * Returns { rejoin() } for when the topic changes (a sign-in or sign-out).
 */
export function startLive(client, page) {
  const messages = new Remembered(REMEMBERED);
  const events = new Remembered(REMEMBERED);
  let newestMs = null;
  let channel = null;
  let generation = 0;
  let failures = 0;

  const take = (message) => {
    const body = message && message.payload;
    if (!body || typeof body !== "object" || !body.job) return;
    if (!messages.add(body.id ?? (message.meta && message.meta.id))) return;
    const at = Date.parse(body.job.updated_at);
    if (!Number.isNaN(at) && (newestMs === null || at > newestMs)) newestMs = at;
    page.applyJob(body.job);
    const event = body.event;
    if (event && events.add(event.event_id)) page.showEvent(event, body.job);
  };

  const leave = () => {
    generation += 1; // callbacks of the channel being left are ignored from now on
    if (channel !== null) {
      const old = channel;
      channel = null;
      client.removeChannel(old);
    }
  };

  const join = () => {
    leave();
    const mine = generation;
    const since = newestMs === null ? Date.now() - FIRST_REPLAY_MS : newestMs - REPLAY_MARGIN_MS;
    page.setConnection("connecting");
    channel = client
      .channel(page.topic(), {
        config: { private: true, broadcast: { replay: { since, limit: REPLAY_LIMIT } } },
      })
      .on("broadcast", { event: "job" }, (message) => {
        if (mine === generation) take(message);
      })
      .subscribe((status, error) => {
        if (mine !== generation) return;
        if (status === "SUBSCRIBED") {
          failures = 0;
          page.setConnection("live");
          page.liveUpdatesOn();
          page.reload();
          return;
        }
        // CHANNEL_ERROR, TIMED_OUT or CLOSED: rejoin ourselves, with a replay from the newest
        // change seen (realtime-js's own rejoin would repeat the first join's replay).
        const detail = error ? String(error.message || error) : status;
        page.setConnection("offline", detail);
        page.liveUpdatesOff("the Realtime connection is down");
        leave();
        const wait = REJOIN_AFTER_MS[Math.min(failures++, REJOIN_AFTER_MS.length - 1)];
        setTimeout(() => {
          if (mine + 1 === generation && channel === null) join();
        }, wait);
      });
  };

  join();
  return {
    rejoin() {
      newestMs = null;
      join();
    },
  };
}
