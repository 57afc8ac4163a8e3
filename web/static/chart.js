// chart.js: what the dashboard's uPlot charts (trend, burn-down) share: a
// container whose width they follow, a readout of what the cursor points
// at, and clearing.

// Chart is a uPlot chart of a fixed height in el; subclasses set this.plot.
export class Chart {
  constructor(el, readout, height) {
    this.el = el;
    this.readout = readout;
    this.height = height;
    this.plot = null;
    new ResizeObserver(() => this.resize()).observe(el);
  }

  width() { return Math.max(200, Math.floor(this.el.clientWidth)); }

  // resize follows the container, except while it is hidden (width 0)
  resize() {
    if (this.plot && this.el.clientWidth > 0 && this.plot.width !== this.width()) this.plot.setSize({ width: this.width(), height: this.height });
  }

  clear() {
    if (this.plot) this.plot.destroy();
    this.plot = null;
    this.readout.textContent = '';
  }
}
