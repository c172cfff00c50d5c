// The three charts, drawn with uPlot and given new data on every poll.
import uPlot from "../vendor/uplot/uPlot.esm.js";

const COLOURS = {
  completed: "#12b76a",
  failed: "#f04438",
  cancelled: "#98a2b3",
  pending: "#98a2b3",
  scheduled: "#f79009",
  running: "#2563eb",
};

function line(label, stroke, dash) {
  // Buckets without a finished job have no percentiles: the line goes on across them.
  return { label, stroke, width: 2, spanGaps: true, ...(dash ? { dash } : {}) };
}

function chart(element, series, span) {
  const width = Math.max(300, element.clientWidth || 600);
  // The x axis is always the whole window, ending now, however few points there are.
  const x = { time: true, range: (_, min, max) => (span.end ? [span.end - span.s, span.end] : [min, max]) };
  return new uPlot(
    { width, height: 200, series: [{}, ...series], scales: { x } },
    [[], ...series.map(() => [])],
    element,
  );
}

export function makeCharts(root, windowS) {
  const span = { s: windowS, end: null };
  const throughput = chart(root.querySelector("#chart-throughput"), [
    line("completed", COLOURS.completed),
    line("failed", COLOURS.failed),
    line("cancelled", COLOURS.cancelled),
  ], span);
  const depth = chart(root.querySelector("#chart-depth"), [
    line("waiting", COLOURS.pending),
    line("scheduled", COLOURS.scheduled),
    line("running", COLOURS.running),
  ], span);
  const latency = chart(root.querySelector("#chart-latency"), [
    line("wait p50", "#7a5af8"),
    line("wait p95", "#7a5af8", [6, 4]),
    line("run p50", "#0ba5ec"),
    line("run p95", "#0ba5ec", [6, 4]),
  ], span);
  return {
    show({ at, throughputColumns, depthColumns, latencyColumns }) {
      span.end = at;
      throughput.setData(throughputColumns);
      depth.setData(depthColumns);
      latency.setData(latencyColumns);
    },
  };
}
