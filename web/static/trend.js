// The trend chart: the legend's counts over time, one line per state of the
// scheme in its colour, drawn with uPlot (embedded in the binary, served at
// /assets/uplot/). Counts withheld from viewers (null) are gaps.
import uPlot from '/assets/uplot/uPlot.esm.js';
import { wallDate as wallDateMs } from './asof.js';
import { Chart } from './chart.js';

const HEIGHT = 170;

// TIME_INCRS are the steps between x ticks, in seconds: whole seconds at the
// least (the labels show no fractions), whole days for long spans.
const H = 3600;
const D = 86400;
const TIME_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, H, 2 * H, 3 * H, 6 * H, 12 * H,
  D, 2 * D, 3 * D, 7 * D, 14 * D, 30 * D, 91 * D, 182 * D, 365 * D];

// wallDate returns a Date whose local fields read the server's wall clock at
// Unix seconds ts, so that uPlot puts its ticks on the server's days.
const wallDate = (ts) => wallDateMs(ts * 1000);

const pad = (n) => String(n).padStart(2, '0');

// tickLabel formats an x tick for a span of span seconds: days for a long
// span, times of day for a short one.
function tickLabel(ts, span, lang) {
  const d = wallDate(ts);
  if (span > 2 * 86400) return lang === 'zh' ? `${d.getMonth() + 1}月${d.getDate()}日` : `${d.getMonth() + 1}/${d.getDate()}`;
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  return span < 600 ? `${hm}:${pad(d.getSeconds())}` : hm;
}

// pointLabel formats the instant under the cursor.
function pointLabel(ts) {
  const d = wallDate(ts);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// compact formats a count for the y axis: 12k, 1.2万.
function compact(v, lang) {
  if (v === 0) return '0';
  return new Intl.NumberFormat(lang === 'zh' ? 'zh-CN' : 'en-US', { notation: 'compact', maximumFractionDigits: 1 }).format(v);
}

// decades are the y ticks up to max: 0, 10, 100, … (the asinh scale spaces
// them evenly, with room below 10 for the smallest counts).
function decades(max) {
  const out = [0];
  for (let v = 10; v <= max; v *= 10) out.push(v);
  return out;
}

// Trend draws into a container and redraws with new data or size; what the
// cursor points at is written into readout (the chart has no legend of its
// own: the dashboard's legend above it names the colours).
export class Trend extends Chart {
  constructor(el, readout) {
    super(el, readout, HEIGHT);
  }

  // draw shows times (Unix seconds) and, per state, {label, color, values}
  // (one count or null per time); lang is 'zh' or 'en'.
  draw(times, states, lang) {
    this.clear();
    const span = times.length > 1 ? times[times.length - 1] - times[0] : 0;
    const fmtCount = new Intl.NumberFormat(lang === 'zh' ? 'zh-CN' : 'en-US');
    const axis = {
      stroke: '#8b9bab',
      grid: { stroke: '#22313f', width: 1 },
      ticks: { stroke: '#2a3947', width: 1, size: 4 },
      font: '11px "Noto Sans CJK SC", system-ui, sans-serif',
    };
    const top = Math.max(1, ...states.flatMap((s) => s.values.filter((v) => v !== null)));
    const opts = {
      width: this.width(),
      height: HEIGHT,
      tzDate: wallDate,
      scales: {
        // a single point (a history of a second) in a minute either side
        // (uPlot would show the day after it)
        x: { time: true, ...(times.length === 1 && { range: () => [times[0] - 60, times[0] + 60] }) },
        // counts run from a few isolated dwellings to thousands of residents:
        // an asinh scale shows both (linear near 0, logarithmic above)
        y: { distr: 4, asinh: 10, range: () => [0, top * 1.3] },
      },
      series: [
        {},
        ...states.map((s) => ({ label: s.label, stroke: s.color, width: 2, points: { show: times.length < 40, size: 5, fill: s.color } })),
      ],
      axes: [
        { ...axis, space: 60, incrs: TIME_INCRS, values: (u, splits) => splits.map((ts) => tickLabel(ts, span, lang)) },
        { ...axis, size: 44, splits: () => decades(top * 1.3), filter: (u, splits) => splits,
          values: (u, splits) => splits.map((v) => (v == null ? '' : compact(v, lang))) },
      ],
      legend: { show: false },
      cursor: { points: { size: 7 }, drag: { x: false, y: false } },
      hooks: { setCursor: [(u) => this.read(u, states, fmtCount)] },
    };
    this.plot = new uPlot(opts, [times, ...states.map((s) => s.values)], this.el);
  }

  // read writes the counts at the cursor: the instant and each state's count.
  read(u, states, fmtCount) {
    const i = u.cursor.idx;
    if (i === null || i === undefined) {
      this.readout.textContent = '';
      return;
    }
    const parts = states.map((s) => `${s.label} ${s.values[i] === null ? '—' : fmtCount.format(s.values[i])}`);
    this.readout.textContent = `${pointLabel(u.data[0][i])} · ${parts.join(' · ')}`;
  }
}
