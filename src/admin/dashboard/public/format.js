// Number formatting for the dashboard. Every function returns plain text; the page only
// ever sets it with textContent.

export const DASH = '–';

export function rate(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return DASH;
  if (v === 0) return '0';
  if (v < 10) return v.toFixed(2);
  if (v < 100) return v.toFixed(1);
  if (v < 10_000) return Math.round(v).toString();
  return `${(v / 1000).toFixed(1)}k`;
}

export function percent(ratio) {
  if (ratio === null || ratio === undefined || !Number.isFinite(ratio)) return DASH;
  const p = ratio * 100;
  if (p === 0) return '0%';
  if (p < 0.1) return '<0.1%';
  if (p < 10) return `${p.toFixed(1)}%`;
  return `${Math.round(p)}%`;
}

export function ms(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return DASH;
  if (v < 1) return `${v.toFixed(2)} ms`;
  if (v < 10) return `${v.toFixed(1)} ms`;
  if (v < 1000) return `${Math.round(v)} ms`;
  return `${(v / 1000).toFixed(v < 10_000 ? 2 : 1)} s`;
}

/** Short form of a plain number for chart axes: 0.25, 2.5, 250, 2.5k. */
export function axis(v) {
  if (v === 0) return '0';
  if (v >= 1000) return `${+(v / 1000).toPrecision(3)}k`;
  return `${+v.toPrecision(3)}`;
}

/** A ratio as a percentage for chart axes: 0.0025 → 0.25%. */
export function percentAxis(ratio) {
  return ratio === 0 ? '0%' : `${+(ratio * 100).toPrecision(3)}%`;
}

/** Short form for chart axes. */
export function msAxis(v) {
  if (v === 0) return '0';
  if (v < 1000) return `${+v.toPrecision(3)}ms`;
  return `${+(v / 1000).toPrecision(3)}s`;
}

export function bytes(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return DASH;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return DASH;
  const s = Math.floor(seconds);
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

export function count(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return DASH;
  return Math.round(v).toLocaleString('en');
}

/** "12 s ago", "3 min ago" from an epoch-ms instant. */
export function ago(at, now = Date.now()) {
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

export function clock(at) {
  return new Date(at).toLocaleTimeString([], { hour12: false });
}
