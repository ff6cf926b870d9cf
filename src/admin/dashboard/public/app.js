// The Brisk dashboard. Plain ES module, no framework, no build step.
//
// Data comes from one EventSource on /api/stream: a `history` event with the last minutes
// of per-second samples when it connects, then a `stats` event every second (a snapshot
// over 60 s for the tables, the last second's sample for the charts, and the alerts).
//
// Rendering rules, so that hundreds of targets stay cheap:
// - at most one render per animation frame, however many events arrived;
// - the DOM is built once per row and updated in place; a cell is written only when its
//   text changed, so an idle row costs no DOM write at all;
// - rows are only re-ordered when the order actually changed;
// - collapsed upstreams are not rendered, and an open one shows at most ROW_LIMIT targets
//   until asked for all;
// - everything from the gateway is set with textContent, never parsed as HTML.

import { LineChart } from './chart.js';
import { badge, el, setBadge, setData, setHidden, setText } from './dom.js';
import * as f from './format.js';
import { renderDiscovery } from './discovery.js';
import { renderServices } from './services.js';

const HISTORY_MS = 300_000;
const ROW_LIMIT = 100;
const OPEN_BY_DEFAULT_MAX = 50;
const MAX_ALERTS_SHOWN = 100;

const $ = (id) => document.getElementById(id);

const HEALTH = {
  healthy: ['ok', 'healthy'],
  unhealthy: ['bad', 'unhealthy'],
  ejected: ['bad', 'ejected'],
  warming: ['info', 'warming up'],
};
const BREAKER = { closed: ['ok', 'breaker closed'], open: ['bad', 'breaker open'], 'half-open': ['warn', 'breaker half-open'] };
const ALERT_STATE = { firing: ['bad', 'firing'], pending: ['warn', 'pending'], resolved: ['ok', 'resolved'] };
const SEVERITY = { critical: 'bad', error: 'bad', page: 'bad', warning: 'warn', warn: 'warn' };

const state = {
  snapshot: null,
  alerts: null,
  samples: [],
  focus: 'total',
  scheduled: false,
  filter: '',
  onlyUnhealthy: false,
};

// ---------------------------------------------------------------- connection

const conn = $('conn');
function setConn(kind, text) {
  setData(conn, 'state', kind);
  setText(conn, text);
}

let source = null;
let lastFrameAt = 0;
// An open stream that stopped delivering (a stuck gateway, a proxy holding it) must not look live.
setInterval(() => {
  if (source !== null && source.readyState === EventSource.OPEN && lastFrameAt > 0 && Date.now() - lastFrameAt > 5000) {
    setConn('connecting', `No update for ${Math.round((Date.now() - lastFrameAt) / 1000)} s`);
  }
}, 1000);

function connect() {
  source = new EventSource('/api/stream');
  source.addEventListener('open', () => setConn('live', 'Live'));
  source.addEventListener('error', () => {
    if (source.readyState === EventSource.CLOSED) {
      // The server refused the stream (too many dashboards open): the browser will not
      // retry by itself after a non-200 answer, so we do, slowly.
      setConn('down', 'Disconnected, retrying…');
      source.close();
      setTimeout(connect, 10_000);
    } else setConn('connecting', 'Reconnecting…');
  });
  source.addEventListener('history', (e) => {
    const { samples } = JSON.parse(e.data);
    state.samples = samples;
    schedule();
  });
  source.addEventListener('stats', (e) => {
    lastFrameAt = Date.now();
    const frame = JSON.parse(e.data);
    state.snapshot = frame.snapshot;
    state.alerts = frame.alerts;
    addSample(frame.sample);
    setConn('live', 'Live');
    schedule();
  });
}

function addSample(sample) {
  const samples = state.samples;
  if (samples.length > 0 && samples[samples.length - 1].at >= sample.at) return;
  samples.push(sample);
  const oldest = sample.at - HISTORY_MS - 1000;
  let drop = 0;
  while (drop < samples.length && samples[drop].at < oldest) drop++;
  if (drop > 0) samples.splice(0, drop);
}

function schedule() {
  if (state.scheduled) return;
  state.scheduled = true;
  requestAnimationFrame(() => {
    state.scheduled = false;
    performance.mark('brisk-render-start');
    render();
    performance.measure('brisk-render', 'brisk-render-start');
    // Keep the performance buffer from growing for as long as the tab stays open.
    if (performance.getEntriesByName('brisk-render').length > 600) performance.clearMeasures('brisk-render');
    performance.clearMarks('brisk-render-start');
  });
}

// ---------------------------------------------------------------- rendering

function render() {
  const s = state.snapshot;
  if (s === null) return;
  renderHeader(s);
  renderCards(s);
  renderAlerts(state.alerts);
  renderFocusOptions(s);
  renderCharts();
  renderRoutes(s);
  renderUpstreams(s);
  renderServices(s.services ?? []);
  renderDiscovery(s.discovery ?? []);
  renderErrors(s.recentErrors);
  renderProcess(s);
}

function renderHeader(s) {
  setText($('config-version'), String(s.configVersion));
  setText($('uptime'), f.duration(s.process.uptimeS));
  setText($('updated'), f.clock(s.at));
}

function setCardStatus(id, status) {
  setData($(id), 'status', status);
}

function renderCards(s) {
  const t = s.total;
  setText($('c-rps'), f.rate(t.rps));
  setText($('c-err'), f.percent(t.errorRatio));
  setText($('c-err-sub'), `${f.count(t.errors)} of ${f.count(t.requests)} requests, 5xx`);
  setData($('c-err').parentElement, 'status', t.errorRatio >= 0.05 ? 'bad' : t.errorRatio >= 0.01 ? 'warn' : 'ok');
  setText($('c-p95'), f.ms(t.p95Ms));
  setText($('c-lat-sub'), `p50 ${f.ms(t.p50Ms)} · p99 ${f.ms(t.p99Ms)}`);
  setText($('c-conn'), f.count(s.process.openConnections));

  let healthy = 0;
  let total = 0;
  let emptyUpstreams = 0;
  const panics = [];
  for (const u of s.upstreams) {
    healthy += u.healthyTargets;
    total += u.totalTargets;
    if (u.totalTargets > 0 && u.healthyTargets === 0) emptyUpstreams++;
    if (u.panic) panics.push(u.name);
  }
  setText($('c-targets'), `${f.count(healthy)} / ${f.count(total)}`);
  setText($('c-targets-sub'), emptyUpstreams > 0 ? `healthy · ${emptyUpstreams} upstream${emptyUpstreams > 1 ? 's' : ''} with none` : 'healthy');
  setData($('c-targets').parentElement, 'status', emptyUpstreams > 0 ? 'bad' : healthy < total ? 'warn' : 'ok');

  setText($('c-shed'), s.shedLevel > 0 ? `level ${s.shedLevel}` : 'off');
  setText($('c-panic'), panics.length === 0 ? 'no upstream in panic mode' : `panic mode: ${panics.slice(0, 3).join(', ')}${panics.length > 3 ? ` +${panics.length - 3}` : ''}`);
  setCardStatus('card-shed', panics.length > 0 ? 'bad' : s.shedLevel > 0 ? 'warn' : 'ok');

  const alerts = state.alerts;
  if (alerts === null) {
    setText($('c-alerts'), '–');
    setText($('c-alerts-sub'), 'alerting is not running');
    setCardStatus('card-alerts', 'ok');
  } else {
    const firing = alerts.filter((a) => a.state === 'firing' && !a.silenced).length;
    const pending = alerts.filter((a) => a.state === 'pending').length;
    setText($('c-alerts'), String(firing));
    setText($('c-alerts-sub'), `firing · ${pending} pending`);
    setCardStatus('card-alerts', firing > 0 ? 'bad' : pending > 0 ? 'warn' : 'ok');
  }
}

// ---- alerts

let alertsSignature = '';
function renderAlerts(alerts) {
  const list = $('alerts-list');
  const empty = $('alerts-empty');
  if (alerts === null) {
    setText(empty, 'Alerting is not running in this gateway.');
    setHidden(empty, false);
    if (list.childElementCount > 0) list.replaceChildren();
    alertsSignature = '';
    return;
  }
  const order = { firing: 0, pending: 1, resolved: 2 };
  const sorted = [...alerts].sort((a, b) => order[a.state] - order[b.state] || b.since - a.since).slice(0, MAX_ALERTS_SHOWN);
  setHidden(empty, sorted.length > 0);
  setText(empty, 'No alerts: nothing is firing or pending.');
  // Alerts are few: the list is rebuilt when anything in it changed (the "ago" times included).
  const now = Date.now();
  const signature = JSON.stringify(sorted) + Math.floor(now / 1000);
  if (signature === alertsSignature) return;
  alertsSignature = signature;
  list.replaceChildren(
    ...sorted.map((a) => {
      const li = el('li');
      li.dataset.state = a.state;
      const [stateStatus, stateText] = ALERT_STATE[a.state] ?? ['idle', String(a.state)];
      const st = badge();
      setBadge(st, stateStatus, stateText);
      const sev = badge();
      setBadge(sev, SEVERITY[String(a.severity).toLowerCase()] ?? 'info', String(a.severity));
      li.append(st, sev, el('span', 'rule', String(a.rule)), el('span', 'msg', String(a.message)));
      const labels = Object.entries(a.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(' ');
      if (labels !== '') li.append(el('span', 'labels mono', labels));
      if (a.silenced) {
        const silenced = badge();
        setBadge(silenced, 'idle', 'silenced');
        li.append(silenced);
      }
      li.append(el('span', 'when', `${a.state} since ${f.clock(a.since)} (${f.ago(a.since, now)})`));
      return li;
    }),
  );
}

// ---- charts

const select = $('focus');
let focusSignature = '';
function renderFocusOptions(s) {
  const signature = s.routes.map((r) => r.name).join('\u0000') + '\u0001' + s.upstreams.map((u) => u.name).join('\u0000');
  if (signature === focusSignature) return;
  focusSignature = signature;
  const total = el('option', '', 'The whole gateway');
  total.value = 'total';
  const routes = el('optgroup');
  routes.label = 'Routes';
  for (const r of s.routes) {
    const o = el('option', '', `route ${r.name}`);
    o.value = `r:${r.name}`;
    routes.append(o);
  }
  const upstreams = el('optgroup');
  upstreams.label = 'Upstreams';
  for (const u of s.upstreams) {
    const o = el('option', '', `upstream ${u.name}`);
    o.value = `u:${u.name}`;
    upstreams.append(o);
  }
  select.replaceChildren(total, routes, upstreams);
  const still = [...select.options].some((o) => o.value === state.focus);
  if (!still) state.focus = 'total';
  select.value = state.focus;
}
select.addEventListener('change', () => {
  state.focus = select.value;
  renderCharts();
});

function focusOn(key) {
  state.focus = key;
  select.value = key;
  renderCharts();
  $('traffic-title').scrollIntoView({ block: 'start', behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth' });
}

const rateChart = new LineChart($('chart-rate'), {
  series: [
    { label: 'requests/s', color: 's1' },
    { label: 'errors/s', color: 's3' },
  ],
  format: f.rate,
  axisFormat: f.axis,
  minMax: 1,
  legend: $('legend-rate'),
  describe: 'Requests per second',
});
const errorChart = new LineChart($('chart-errors'), {
  series: [{ label: '5xx', color: 's3' }],
  format: f.percent,
  axisFormat: f.percentAxis,
  minMax: 0.01,
  legend: $('legend-errors'),
  describe: 'Error ratio',
});
const latencyChart = new LineChart($('chart-latency'), {
  series: [
    { label: 'p50', color: 's1' },
    { label: 'p95', color: 's2' },
    { label: 'p99', color: 's3' },
  ],
  format: f.msAxis,
  minMax: 1,
  legend: $('legend-latency'),
  describe: 'Latency',
});

function renderCharts() {
  const key = state.focus;
  const kind = key[0];
  const name = key.slice(2);
  const samples = state.samples;
  const n = samples.length;
  const times = new Array(n);
  const req = new Array(n);
  const err = new Array(n);
  const ratio = new Array(n);
  const p50 = new Array(n);
  const p95 = new Array(n);
  const p99 = new Array(n);
  for (let i = 0; i < n; i++) {
    const s = samples[i];
    const p = key === 'total' ? s.total : kind === 'r' ? s.routes[name] : s.upstreams[name];
    times[i] = s.at;
    if (p === undefined) {
      req[i] = err[i] = ratio[i] = p50[i] = p95[i] = p99[i] = null;
      continue;
    }
    req[i] = p[0];
    err[i] = p[1];
    ratio[i] = p[0] > 0 ? p[1] / p[0] : 0;
    p50[i] = p[2];
    p95[i] = p[3];
    p99[i] = p[4];
  }
  const now = n > 0 ? samples[n - 1].at : Date.now();
  rateChart.setData(times, [req, err], now);
  errorChart.setData(times, [ratio], now);
  latencyChart.setData(times, [p50, p95, p99], now);
  rateChart.draw();
  errorChart.draw();
  latencyChart.draw();
}

// ---- routes

const routeRows = new Map();
let routeOrder = '';
function routeRow(name) {
  const tr = el('tr');
  const nameCell = el('td', 'wrap');
  const nameButton = el('button', 'linkish');
  nameButton.type = 'button';
  nameButton.title = 'Show this route in the charts';
  nameButton.addEventListener('click', () => focusOn(`r:${name}`));
  nameCell.append(nameButton);
  const upCell = el('td');
  const upButton = el('button', 'linkish');
  upButton.type = 'button';
  upButton.title = 'Show this upstream in the charts';
  upCell.append(upButton);
  const cells = {};
  for (const key of ['rps', 'err', 'p50', 'p95', 'p99', 'cache', 'limited', 'shed']) cells[key] = el('td', 'num');
  tr.append(nameCell, upCell, ...Object.values(cells));
  tr.dataset.route = name;
  const row = { tr, nameButton, upButton, cells, upstream: '' };
  upButton.addEventListener('click', () => focusOn(`u:${row.upstream}`));
  return row;
}

function renderRoutes(s) {
  const tbody = $('routes').tBodies[0];
  const seen = new Set();
  for (const r of s.routes) {
    seen.add(r.name);
    let row = routeRows.get(r.name);
    if (row === undefined) {
      row = routeRow(r.name);
      routeRows.set(r.name, row);
    }
    row.upstream = r.upstream;
    setText(row.nameButton, r.name);
    setText(row.upButton, r.upstream);
    const w = r.window;
    setText(row.cells.rps, f.rate(w.rps));
    setText(row.cells.err, w.requests === 0 ? f.DASH : f.percent(w.errorRatio));
    row.cells.err.classList.toggle('bad-text', w.errorRatio >= 0.05);
    setText(row.cells.p50, f.ms(w.p50Ms));
    setText(row.cells.p95, f.ms(w.p95Ms));
    setText(row.cells.p99, f.ms(w.p99Ms));
    if (r.cache === null) setText(row.cells.cache, f.DASH);
    else {
      setText(row.cells.cache, f.percent(r.cache.hitRatio));
      const title = `hits ${r.cache.hits}, misses ${r.cache.misses}, stale ${r.cache.stale}, revalidated ${r.cache.revalidated}`;
      if (row.cells.cache.title !== title) row.cells.cache.title = title;
    }
    setText(row.cells.limited, f.count(r.rateLimited));
    setText(row.cells.shed, f.count(r.shed));
  }
  for (const name of routeRows.keys()) if (!seen.has(name)) routeRows.delete(name);
  const order = s.routes.map((r) => r.name).join('\u0000');
  if (order !== routeOrder) {
    routeOrder = order;
    tbody.replaceChildren(...s.routes.map((r) => routeRows.get(r.name).tr));
  }
  setText($('routes-count'), `${s.routes.length}`);
}

// ---- upstreams and targets

const groups = new Map();
let groupOrder = '';
const container = $('upstreams');

function createGroup(name, totalTargets, onlyOne) {
  const root = el('div', 'upstream');
  root.dataset.upstream = name;
  const head = el('button', 'uhead');
  head.type = 'button';
  const chev = el('span', 'chev', '▸');
  chev.setAttribute('aria-hidden', 'true');
  const title = el('span', 'uname');
  const health = badge();
  const breaker = badge();
  breaker.hidden = true;
  const panic = badge();
  panic.hidden = true;
  const stats = {};
  const statNodes = [];
  for (const [key, label] of [
    ['rps', 'req/s'],
    ['err', 'errors'],
    ['p95', 'p95'],
    ['retries', 'retries'],
    ['ejections', 'ejections'],
  ]) {
    const span = el('span', 'stat');
    const b = el('b');
    span.append(b, document.createTextNode(` ${label}`));
    stats[key] = b;
    statNodes.push(span);
  }
  head.append(chev, title, health, breaker, panic, ...statNodes);

  const body = el('div', 'ubody');
  const wrap = el('div', 'scroll');
  const table = el('table', 'grid targets');
  const thead = el('thead');
  const hr = el('tr');
  for (const [label, cls] of [
    ['Target', ''],
    ['Health', ''],
    ['Reason', ''],
    ['In flight', 'num'],
    ['Latency (EWMA)', 'num'],
    ['Req/s', 'num'],
    ['Errors', 'num'],
    ['p95', 'num'],
  ]) {
    const th = el('th', cls, label);
    th.scope = 'col';
    hr.append(th);
  }
  thead.append(hr);
  const tbody = el('tbody');
  table.append(thead, tbody);
  wrap.append(table);
  const more = el('button', 'more');
  more.type = 'button';
  more.hidden = true;
  const none = el('p', 'empty');
  none.hidden = true;
  body.append(wrap, none, more);
  root.append(head, body);

  const group = { name, root, head, title, health, breaker, panic, stats, tbody, more, none, rows: new Map(), order: '', open: totalTargets <= OPEN_BY_DEFAULT_MAX || onlyOne, showAll: false, touched: false };
  head.addEventListener('click', () => {
    group.open = !group.open;
    group.touched = true;
    schedule();
  });
  more.addEventListener('click', () => {
    group.showAll = !group.showAll;
    schedule();
  });
  return group;
}

function targetRow() {
  const tr = el('tr');
  const cells = {
    origin: el('td', 'mono'),
    health: el('td'),
    reason: el('td', 'wrap'),
    inFlight: el('td', 'num'),
    latency: el('td', 'num'),
    rps: el('td', 'num'),
    err: el('td', 'num'),
    p95: el('td', 'num'),
  };
  const health = badge();
  cells.health.append(health);
  tr.append(...Object.values(cells));
  return { tr, cells, health };
}

function renderUpstreams(s) {
  // Targets arrive as one flat list; group them once.
  const byUpstream = new Map();
  for (const t of s.targets) {
    let list = byUpstream.get(t.upstream);
    if (list === undefined) byUpstream.set(t.upstream, (list = []));
    list.push(t);
  }
  const seen = new Set();
  const onlyOne = s.upstreams.length === 1;
  for (const u of s.upstreams) {
    seen.add(u.name);
    let g = groups.get(u.name);
    if (g === undefined) {
      g = createGroup(u.name, u.totalTargets, onlyOne);
      groups.set(u.name, g);
    }
    renderGroup(g, u, byUpstream.get(u.name) ?? []);
  }
  for (const name of groups.keys()) if (!seen.has(name)) groups.delete(name);
  const order = s.upstreams.map((u) => u.name).join('\u0000');
  if (order !== groupOrder) {
    groupOrder = order;
    container.replaceChildren(...s.upstreams.map((u) => groups.get(u.name).root));
  }
  setText($('upstreams-count'), `${s.upstreams.length} upstreams · ${s.targets.length} targets`);
}

function renderGroup(g, u, targets) {
  const unhealthy = u.totalTargets - u.healthyTargets;
  // A group nobody opened or closed by hand opens by itself when one of its targets is in trouble.
  if (!g.touched && unhealthy > 0) g.open = true;
  setText(g.title, u.name);
  setBadge(g.health, u.healthyTargets === 0 && u.totalTargets > 0 ? 'bad' : unhealthy > 0 ? 'warn' : 'ok', `${u.healthyTargets}/${u.totalTargets} healthy`);
  if (u.breaker === null) {
    if (!g.breaker.hidden) g.breaker.hidden = true;
  } else {
    const [status, text] = BREAKER[u.breaker] ?? ['idle', `breaker ${u.breaker}`];
    setBadge(g.breaker, status, text);
  }
  if (u.panic) setBadge(g.panic, 'bad', 'panic mode');
  else if (!g.panic.hidden) g.panic.hidden = true;
  const w = u.window;
  setText(g.stats.rps, f.rate(w.rps));
  setText(g.stats.err, w.requests === 0 ? f.DASH : f.percent(w.errorRatio));
  setText(g.stats.p95, f.ms(w.p95Ms));
  setText(g.stats.retries, f.count(u.retries));
  setText(g.stats.ejections, f.count(u.ejections));

  const open = g.open;
  setData(g.root, 'open', String(open));
  const expanded = String(open);
  if (g.head.getAttribute('aria-expanded') !== expanded) g.head.setAttribute('aria-expanded', expanded);
  if (!open) return;

  // Targets that need attention first, then in config order.
  const filter = state.filter;
  const list = [];
  for (const t of targets) if (t.health !== 'healthy') list.push(t);
  if (!state.onlyUnhealthy) for (const t of targets) if (t.health === 'healthy') list.push(t);
  const matching = filter === '' ? list : list.filter((t) => t.origin.toLowerCase().includes(filter) || (t.reason ?? '').toLowerCase().includes(filter));
  const shown = g.showAll ? matching : matching.slice(0, ROW_LIMIT);

  const live = new Set();
  for (const t of targets) live.add(t.origin);
  for (const origin of g.rows.keys()) if (!live.has(origin)) g.rows.delete(origin);

  for (const t of shown) {
    let row = g.rows.get(t.origin);
    if (row === undefined) {
      row = targetRow();
      row.tr.dataset.target = t.origin;
      g.rows.set(t.origin, row);
    }
    const c = row.cells;
    setText(c.origin, t.origin);
    const [status, text] = HEALTH[t.health] ?? ['idle', String(t.health)];
    setBadge(row.health, status, text);
    setData(row.tr, 'health', t.health);
    setText(c.reason, t.reason ?? '');
    setText(c.inFlight, f.count(t.inFlight));
    setText(c.latency, f.ms(t.latencyMs));
    setText(c.rps, f.rate(t.window.rps));
    setText(c.err, t.window.requests === 0 ? f.DASH : f.percent(t.window.errorRatio));
    setText(c.p95, f.ms(t.window.p95Ms));
  }
  const order = shown.map((t) => t.origin).join('\u0000');
  if (order !== g.order) {
    g.order = order;
    g.tbody.replaceChildren(...shown.map((t) => g.rows.get(t.origin).tr));
  }
  const hiddenCount = matching.length - shown.length;
  setHidden(g.more, !(hiddenCount > 0 || (g.showAll && matching.length > ROW_LIMIT)));
  setText(g.more, g.showAll ? `Show the first ${ROW_LIMIT} only` : `Show all ${matching.length} targets (${hiddenCount} more)`);
  setHidden(g.none, shown.length > 0);
  setText(g.none, state.onlyUnhealthy || filter !== '' ? 'No target matches the filter.' : 'No targets.');
}

$('target-filter').addEventListener('input', (e) => {
  state.filter = e.target.value.trim().toLowerCase();
  schedule();
});
$('only-unhealthy').addEventListener('change', (e) => {
  state.onlyUnhealthy = e.target.checked;
  schedule();
});
$('expand-all').addEventListener('click', () => {
  for (const g of groups.values()) {
    g.open = true;
    g.touched = true;
  }
  schedule();
});
$('collapse-all').addEventListener('click', () => {
  for (const g of groups.values()) {
    g.open = false;
    g.touched = true;
  }
  schedule();
});

// ---- recent errors

const errorRows = [];
/** The newest few: the panel is a glance, not a log (the access log has them all). */
const MAX_ERROR_ROWS = 12;
function renderErrors(all) {
  const errors = all.length > MAX_ERROR_ROWS ? all.slice(0, MAX_ERROR_ROWS) : all;
  const tbody = $('errors').tBodies[0];
  setHidden($('errors-empty'), errors.length > 0);
  setHidden($('errors'), errors.length === 0);
  while (errorRows.length < errors.length) {
    const tr = el('tr');
    const cells = [el('td'), el('td', 'num'), el('td', 'mono'), el('td'), el('td', 'wrap'), el('td', 'wrap mono'), el('td', 'mono')];
    tr.append(...cells);
    tbody.append(tr);
    errorRows.push({ tr, cells });
  }
  for (let i = 0; i < errorRows.length; i++) {
    const row = errorRows[i];
    const e = errors[i];
    if (e === undefined) {
      if (!row.tr.hidden) row.tr.hidden = true;
      continue;
    }
    if (row.tr.hidden) row.tr.hidden = false;
    const [time, status, code, method, route, where, id] = row.cells;
    setText(time, f.clock(e.at));
    setText(status, String(e.status));
    setText(code, e.code ?? f.DASH);
    setText(method, e.method);
    setText(route, e.route ?? f.DASH);
    setText(where, [e.upstream, e.target].filter((x) => x !== null && x !== undefined).join(' · ') || f.DASH);
    setText(id, e.requestId ?? f.DASH);
  }
}

// ---- process and host

function setMeter(id, value) {
  const m = $(id);
  if (m.value !== value) m.value = value;
}

function renderProcess(s) {
  const p = s.process;
  const h = s.host;
  setMeter('g-cpu', Math.min(100, p.cpuPercent));
  setText($('v-cpu'), `${Math.round(p.cpuPercent)}%`);
  setMeter('g-hcpu', h.cpuPercent);
  setText($('v-hcpu'), `${Math.round(h.cpuPercent)}%`);
  setMeter('g-mem', h.memoryUsedRatio);
  setText($('v-mem'), f.percent(h.memoryUsedRatio));
  setMeter('g-disk', h.diskUsedRatio);
  setText($('v-disk'), f.percent(h.diskUsedRatio));
  setText($('v-lag'), f.ms(p.eventLoopLagMs));
  setText($('v-rss'), f.bytes(p.rssBytes));
  setText($('v-heap'), f.bytes(p.heapUsedBytes));
  setText($('v-conns'), f.count(p.openConnections));
  setText($('v-load'), h.load1.toFixed(2));
  setText($('v-net'), `${f.bytes(h.netRxBytesPerS)}/s · ${f.bytes(h.netTxBytesPerS)}/s`);
}

connect();
