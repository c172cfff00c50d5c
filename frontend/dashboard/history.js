// Pure functions: the metrics' answers turned into the columns uPlot draws (x: unix seconds).

// The window's finishes by status and its percentiles, from the answer's series.
export function seriesColumns(metrics) {
  const series = metrics.series || [];
  const at = series.map((bucket) => Date.parse(bucket.at) / 1000);
  const column = (pick) => series.map((bucket) => pick(bucket));
  return {
    throughput: [
      at,
      column((b) => b.completed),
      column((b) => b.failed),
      column((b) => b.cancelled),
    ],
    latency: [
      at,
      column((b) => b.wait_s.p50),
      column((b) => b.wait_s.p95),
      column((b) => b.run_s.p50),
      column((b) => b.run_s.p95),
    ],
  };
}

// Depth has no history in the database: each poll adds a point, and points older than the
// window fall off.
export function addDepthPoint(points, metrics, windowS) {
  const at = Date.parse(metrics.at) / 1000;
  const depth = metrics.overall.depth;
  const next = [...points, { at, pending: depth.pending, scheduled: depth.scheduled, running: depth.running }];
  return next.filter((point) => point.at >= at - windowS);
}

export function depthColumns(points) {
  return [
    points.map((p) => p.at),
    points.map((p) => p.pending),
    points.map((p) => p.scheduled),
    points.map((p) => p.running),
  ];
}

export function formatSeconds(value) {
  if (value === null || value === undefined) return "–";
  return value < 1 ? `${Math.round(value * 1000)} ms` : `${value.toFixed(1)} s`;
}

export function formatRate(value) {
  return value === null || value === undefined ? "–" : `${(value * 100).toFixed(1)} %`;
}
