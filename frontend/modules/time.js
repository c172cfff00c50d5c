// Time: Postgres timestamps keep microseconds, which Date drops; updated_at ordering needs them.
// Pure functions, no page state.

const STAMP = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}(?::?\d{2})?)?$/i;

/** Microseconds since the epoch for an ISO-8601 / Postgres timestamp, or null. */
export function micros(text) {
  if (typeof text !== "string") return null;
  const m = STAMP.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac = "", zone = "Z"] = m;
  let offsetMin = 0;
  if (zone.toUpperCase() !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || 0));
  }
  const ms = Date.UTC(+y, +mo - 1, +d, +h, +mi, +s) - offsetMin * 60_000;
  return ms * 1000 + Number((frac + "000000").slice(0, 6));
}

export const millis = (text) => {
  const us = micros(text);
  return us === null ? null : us / 1000;
};

const clockFormat = new Intl.DateTimeFormat(undefined, {
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});
const dayFormat = new Intl.DateTimeFormat(undefined, { month: "short", day: "numeric" });

export function formatMoment(text) {
  const ms = millis(text);
  if (ms === null) return "—";
  const date = new Date(ms);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? clockFormat.format(date) : `${dayFormat.format(date)}, ${clockFormat.format(date)}`;
}

export function formatDuration(ms, precise) {
  const seconds = Math.max(0, ms) / 1000;
  if (seconds < 60) {
    return precise && seconds < 10 ? `${seconds.toFixed(1)} s` : `${Math.floor(seconds)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${String(Math.floor(seconds % 60)).padStart(2, "0")} s`;
  return `${Math.floor(minutes / 60)} h ${String(minutes % 60).padStart(2, "0")} min`;
}
