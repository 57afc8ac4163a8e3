// The burn-down chart of a campaign: its remaining tasks at the end of each
// day from the start to today, the line that would finish on the deadline,
// and the line of the daily rate (rate_7d) from today to the date it gives
// (eta); drawn with uPlot (embedded in the binary, /assets/uplot/).
// Counts withheld from viewers (null) are gaps, never zeros.
import uPlot from '/assets/uplot/uPlot.esm.js';
import { Chart } from './chart.js';

const HEIGHT = 180;
const DAY = 86400;

export const COLORS = { remaining: '#ee7733', ideal: '#8b9bab', forecast: '#ee7733' };

// dayTs is a date's midnight as Unix seconds in UTC: the x axis is in days,
// drawn in UTC so that each tick is the date itself.
export const dayTs = (date) => Date.parse(`${date}T00:00:00Z`) / 1000;

const dateOf = (ts) => new Date(ts * 1000).toISOString().slice(0, 10);

// burndownSeries turns a campaign's answer into the chart's data:
// {xs, remaining, ideal, forecast}, one value or null per day from the
// start's day to the last day shown. A past day's remaining is the total
// less that day's done and the tasks removed by now (the answer gives the
// removed of now only); today's is the answer's remaining. The ideal line
// runs from the total at the start to 0 on the deadline; the forecast from
// today's remaining to 0 at eta, drawn within 90 days of today.
export function burndownSeries(c) {
  const days = c.days || [];
  if (days.length === 0) return null;
  const first = dayTs(days[0].date);
  const today = dayTs(days[days.length - 1].date);
  let last = today;
  const deadline = c.deadline ? dayTs(c.deadline) : null;
  if (deadline !== null && deadline > last) last = Math.min(deadline, today + 366 * DAY);
  const eta = c.eta ? dayTs(c.eta) : null;
  const etaShown = eta !== null && eta > today && eta <= today + 90 * DAY;
  if (etaShown && eta > last) last = eta;
  const xs = [];
  for (let x = first; x <= last; x += DAY) xs.push(x);
  const at = (x) => Math.round((x - first) / DAY);
  const remaining = xs.map(() => null);
  const counts = c.total !== null && c.removed !== null;
  days.forEach((d, i) => {
    if (i === days.length - 1) remaining[at(dayTs(d.date))] = c.remaining;
    else if (counts && d.done !== null) remaining[at(dayTs(d.date))] = Math.max(0, c.total - c.removed - d.done);
  });
  const ideal = xs.map(() => null);
  if (deadline !== null && c.total !== null && deadline > first) {
    ideal[0] = c.total;
    if (deadline <= last) ideal[at(deadline)] = 0;
    else ideal[xs.length - 1] = c.total * (1 - (last - first) / (deadline - first));
  }
  const forecast = xs.map(() => null);
  if (etaShown && c.remaining !== null) {
    forecast[at(today)] = c.remaining;
    forecast[at(eta)] = 0;
  }
  return { xs, remaining, ideal, forecast };
}

// Burndown draws the chart into el and writes what the cursor points at
// into readout.
export class Burndown extends Chart {
  constructor(el, readout) {
    super(el, readout, HEIGHT);
  }

  // draw shows data (burndownSeries) with the series' labels {remaining,
  // ideal, forecast}; lang is 'zh' or 'en'. It returns whether it drew
  // anything: every value withheld (a viewer's), it draws nothing.
  draw(data, labels, lang) {
    this.clear();
    if (!data || ![data.remaining, data.ideal, data.forecast].flat().some((v) => v !== null)) return false;
    const fmtCount = new Intl.NumberFormat(lang === 'zh' ? 'zh-CN' : 'en-US');
    const axis = {
      stroke: '#8b9bab',
      grid: { stroke: '#22313f', width: 1 },
      ticks: { stroke: '#2a3947', width: 1, size: 4 },
      font: '11px "Noto Sans CJK SC", system-ui, sans-serif',
    };
    const top = Math.max(1, ...[data.remaining, data.ideal, data.forecast].flat().filter((v) => v !== null));
    const one = data.xs.length === 1;
    const series = [
      { label: labels.remaining, stroke: COLORS.remaining, width: 2.5, fill: 'rgba(238,119,51,0.15)',
        points: { show: data.xs.length < 60, size: 6, fill: COLORS.remaining } },
      { label: labels.ideal, stroke: COLORS.ideal, width: 1.5, dash: [6, 4], spanGaps: true, points: { show: false } },
      { label: labels.forecast, stroke: COLORS.forecast, width: 1.5, dash: [3, 4], spanGaps: true, points: { show: false } },
    ];
    const opts = {
      width: this.width(),
      height: HEIGHT,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
      scales: {
        x: { time: true, range: () => (one ? [data.xs[0] - DAY, data.xs[0] + DAY] : [data.xs[0], data.xs[data.xs.length - 1]]) },
        y: { range: () => [0, top * 1.1] },
      },
      series: [{}, ...series],
      axes: [
        { ...axis, size: 30, space: 50, incrs: [DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 91 * DAY, 365 * DAY],
          values: (u, splits) => splits.map((ts) => {
            const [, m, d] = dateOf(ts).split('-').map(Number);
            return lang === 'zh' ? `${m}月${d}日` : `${m}/${d}`;
          }) },
        { ...axis, size: 48, values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? fmtCount.format(v) : '')) },
      ],
      legend: { show: false },
      cursor: { points: { size: 7 }, drag: { x: false, y: false } },
      hooks: { setCursor: [(u) => this.read(u, series, fmtCount)] },
    };
    this.plot = new uPlot(opts, [data.xs, data.remaining, data.ideal, data.forecast], this.el);
    return true;
  }

  // read writes the values at the cursor: the day and each line's count.
  read(u, series, fmtCount) {
    const i = u.cursor.idx;
    if (i === null || i === undefined) {
      this.readout.textContent = '';
      return;
    }
    const parts = series.map((s, k) => [s.label, u.data[k + 1][i]]).filter(([, v]) => v !== null && v !== undefined)
      .map(([l, v]) => `${l} ${fmtCount.format(Math.round(v))}`);
    this.readout.textContent = [dateOf(u.data[0][i]), ...parts].join(' · ');
  }
}
