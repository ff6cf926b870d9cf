// A small time-series line chart on a canvas. Written by hand because the page must load
// nothing from outside and needs no build step; it draws at most a few hundred points per
// series, so a plain canvas path per series is fast enough and keeps the DOM out of it.

const PAD = { left: 48, right: 10, top: 8, bottom: 20 };

/** Colours come from the stylesheet, so light and dark schemes stay in one place. */
const palette = { grid: '', text: '', s1: '', s2: '', s3: '' };
function readPalette() {
  const css = getComputedStyle(document.documentElement);
  for (const key of Object.keys(palette)) palette[key] = css.getPropertyValue(`--${key === 'text' ? 'muted' : key}`).trim() || '#888';
}
const scheme = matchMedia('(prefers-color-scheme: dark)');
const charts = new Set();
scheme.addEventListener('change', () => {
  readPalette();
  for (const chart of charts) chart.draw();
});

/** The smallest of 1, 2, 2.5, 5 × 10^n that is at least `v`. */
function niceCeil(v) {
  if (!(v > 0)) return 1;
  const exp = Math.floor(Math.log10(v));
  const base = 10 ** exp;
  for (const m of [1, 2, 2.5, 5, 10]) if (m * base >= v * 0.999999) return m * base;
  return 10 * base;
}

export class LineChart {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {{ series: { label: string, color: 's1'|'s2'|'s3' }[], format: (v: number) => string, axisFormat?: (v: number) => string, minMax?: number, windowMs?: number, legend: HTMLElement, describe: string }} options
   */
  constructor(canvas, options) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.options = options;
    this.windowMs = options.windowMs ?? 300_000;
    this.times = [];
    this.values = options.series.map(() => []);
    this.now = Date.now();
    this.width = 0;
    this.height = 0;
    this.hoverX = null;
    if (palette.grid === '') readPalette();
    charts.add(this);

    // Legend: one key per series, the number in it updated in place.
    this.legendValues = options.series.map((s) => {
      const key = document.createElement('span');
      key.className = `key ${s.color}`;
      key.append(document.createTextNode(s.label));
      const value = document.createElement('b');
      value.textContent = '–';
      key.append(value);
      options.legend.append(key);
      return value;
    });
    this.legendTime = document.createElement('span');
    options.legend.append(this.legendTime);

    // Sizes come from the observer, so drawing never forces a layout.
    new ResizeObserver((entries) => {
      const box = entries[0].contentRect;
      this.width = box.width;
      this.height = box.height;
      this.draw();
    }).observe(canvas);
    canvas.addEventListener('pointermove', (e) => {
      this.hoverX = e.offsetX;
      this.draw();
    });
    canvas.addEventListener('pointerleave', () => {
      this.hoverX = null;
      this.draw();
    });
  }

  /**
   * @param {number[]} times epoch ms, ascending
   * @param {(number|null)[][]} values one array per series, aligned with `times`
   * @param {number} now the right edge
   */
  setData(times, values, now) {
    this.times = times;
    this.values = values;
    this.now = now;
  }

  draw() {
    const { ctx, width, height } = this;
    if (width === 0 || height === 0) return;
    const dpr = window.devicePixelRatio || 1;
    const pw = Math.round(width * dpr);
    const ph = Math.round(height * dpr);
    if (this.canvas.width !== pw || this.canvas.height !== ph) {
      this.canvas.width = pw;
      this.canvas.height = ph;
    }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);

    const { times, values, now, windowMs } = this;
    const { format, series } = this.options;
    const start = now - windowMs;
    let max = 0;
    for (const line of values) for (let i = 0; i < line.length; i++) if (times[i] >= start && line[i] !== null && line[i] > max) max = line[i];
    // Four grid steps of a round size, so every label is a round number.
    const top = niceCeil(Math.max(max, this.options.minMax ?? 0) / 4) * 4;
    const plotW = width - PAD.left - PAD.right;
    const plotH = height - PAD.top - PAD.bottom;
    const x = (t) => PAD.left + ((t - start) / windowMs) * plotW;
    const y = (v) => PAD.top + plotH - (v / top) * plotH;

    ctx.font = '11px system-ui, sans-serif';
    ctx.lineWidth = 1;
    ctx.strokeStyle = palette.grid;
    ctx.fillStyle = palette.text;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let i = 0; i <= 4; i++) {
      const v = (top * i) / 4;
      const yy = Math.round(y(v)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(PAD.left, yy);
      ctx.lineTo(width - PAD.right, yy);
      ctx.stroke();
      ctx.fillText((this.options.axisFormat ?? format)(v), PAD.left - 6, yy);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    const minutes = Math.round(windowMs / 60_000);
    // Narrow charts (phones) get short labels, and every other one when even those crowd.
    const perMinute = plotW / minutes;
    const short = perMinute < 60;
    const every = perMinute < 34 ? 2 : 1;
    for (let m = minutes; m >= 0; m--) {
      if (m % every !== 0) continue;
      const xx = x(now - m * 60_000);
      ctx.fillText(m === 0 ? 'now' : short ? `−${m}m` : `−${m} min`, Math.min(Math.max(xx, PAD.left + 16), width - PAD.right - 12), height - PAD.bottom + 5);
    }

    ctx.lineWidth = 1.6;
    ctx.lineJoin = 'round';
    series.forEach((s, k) => {
      const line = values[k] ?? [];
      ctx.strokeStyle = palette[s.color];
      ctx.beginPath();
      let pen = false;
      for (let i = 0; i < line.length; i++) {
        const t = times[i];
        const v = line[i];
        // A missing second (no data, or the page was disconnected) breaks the line instead of bridging it.
        if (t < start || v === null || (i > 0 && t - times[i - 1] > 2500)) {
          pen = false;
          if (v === null || t < start) continue;
        }
        if (pen) ctx.lineTo(x(t), y(v));
        else ctx.moveTo(x(t), y(v));
        pen = true;
      }
      ctx.stroke();
    });

    // The legend shows the newest values, or those under the pointer.
    let index = times.length - 1;
    if (this.hoverX !== null && times.length > 0) {
      const t = start + ((this.hoverX - PAD.left) / plotW) * windowMs;
      index = nearest(times, t);
      const xx = Math.round(x(times[index])) + 0.5;
      ctx.strokeStyle = palette.text;
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(xx, PAD.top);
      ctx.lineTo(xx, PAD.top + plotH);
      ctx.stroke();
    }
    const parts = [];
    series.forEach((s, k) => {
      const v = index >= 0 ? (values[k]?.[index] ?? null) : null;
      const text = v === null ? '–' : format(v);
      if (this.legendValues[k].textContent !== text) this.legendValues[k].textContent = text;
      parts.push(`${s.label} ${text}`);
    });
    const when = this.hoverX !== null && index >= 0 ? new Date(times[index]).toLocaleTimeString() : '';
    if (this.legendTime.textContent !== when) this.legendTime.textContent = when;
    this.canvas.setAttribute('aria-label', `${this.options.describe}, ${this.hoverX !== null ? `at ${when}` : 'now'}: ${parts.join(', ')}`);
  }
}

function nearest(times, t) {
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid] < t) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(times[lo - 1] - t) < Math.abs(times[lo] - t)) return lo - 1;
  return lo;
}
