// The services panel: the programs Brisk runs (the supervisor), one header row per
// service (ready/desired, scaling, restarts by reason, its problem) and one row per
// instance (state, pid, port, uptime, memory, CPU, requests in flight, restarts and why).
// Rows are kept by key and updated in place, like the other tables.

import { badge, el, setBadge, setHidden, setText } from './dom.js';
import * as f from './format.js';

const STATE = { ready: ['ok', 'ready'], starting: ['info', 'starting'], unhealthy: ['bad', 'unhealthy'], draining: ['warn', 'draining'], stopping: ['idle', 'stopping'] };
const COLUMNS = 10;

/** key → { tr, cells, badge } */
const rows = new Map();

function serviceRow() {
  const tr = el('tr', 'service-head');
  const name = el('th');
  name.scope = 'row';
  const status = badge();
  const scaling = el('span', 'muted');
  const summary = el('td', 'wrap');
  summary.colSpan = COLUMNS - 1;
  const problem = badge();
  const text = el('span');
  name.append(el('span', 'mono'), ' ');
  summary.append(status, ' ', scaling, ' ', text, ' ', problem);
  tr.append(name, summary);
  return { tr, name: name.firstChild, status, scaling, text, problem };
}

function instanceRow() {
  const tr = el('tr');
  const state = badge();
  const stateCell = el('td');
  stateCell.append(state);
  const cells = [el('td', 'mono'), stateCell, el('td', 'num mono'), el('td', 'num mono'), el('td', 'num'), el('td', 'num'), el('td', 'num'), el('td', 'num'), el('td', 'num'), el('td', 'wrap')];
  tr.append(...cells);
  return { tr, cells, state };
}

function restartsText(restarts) {
  const parts = Object.entries(restarts).filter(([, n]) => n > 0).map(([reason, n]) => `${reason} ${n}`);
  return parts.length === 0 ? 'no restarts' : `restarts: ${parts.join(', ')}`;
}

function ago(at) {
  return `${f.duration(Math.max(0, (Date.now() - at) / 1000))} ago`;
}

/** Renders `services` (the snapshot's list) into #services; hides the panel when there are none. */
export function renderServices(services) {
  const panel = document.getElementById('services-panel');
  setHidden(panel, services.length === 0);
  if (services.length === 0) return;
  setText(document.getElementById('services-count'), `${services.length} · ${services.reduce((n, s) => n + s.instances.length, 0)} instances`);
  const tbody = document.getElementById('services').tBodies[0];
  const wanted = [];
  for (const s of services) {
    const key = `s:${s.name}`;
    let r = rows.get(key);
    if (r === undefined) rows.set(key, (r = serviceRow()));
    wanted.push(r.tr);
    setText(r.name, s.name);
    const short = s.ready < s.desired;
    setBadge(r.status, s.problem !== null ? 'bad' : short ? 'warn' : 'ok', `${s.ready}/${s.desired} ready`);
    setText(r.scaling, `${s.min}..${s.max}, scaling ${s.scaling}${s.rollout === null ? '' : `, rolling restart ${s.rollout.done}/${s.rollout.total}`}`);
    const last = s.lastScale === null ? '' : ` · last scaled ${s.lastScale.from} → ${s.lastScale.to} ${ago(s.lastScale.at)} (${s.lastScale.reason})`;
    setText(r.text, `· ${restartsText(s.restarts)}${last}`);
    if (s.problem === null) setHidden(r.problem, true);
    else setBadge(r.problem, 'bad', `${s.problem.code}: ${s.problem.message}`);
    for (const i of s.instances) {
      const ikey = `i:${s.name}:${i.id}`;
      let ir = rows.get(ikey);
      if (ir === undefined) rows.set(ikey, (ir = instanceRow()));
      wanted.push(ir.tr);
      const [id, , pid, port, uptime, rss, cpu, inFlight, restarts, last] = ir.cells;
      setText(id, `#${i.id}`);
      const [status, label] = STATE[i.state] ?? ['idle', i.state];
      setBadge(ir.state, status, label);
      setText(pid, i.pid === null ? f.DASH : String(i.pid));
      setText(port, String(i.port));
      setText(uptime, f.duration(i.uptimeS));
      setText(rss, i.rssBytes === null ? f.DASH : f.bytes(i.rssBytes));
      setText(cpu, i.cpuPercent === null ? f.DASH : `${i.cpuPercent.toFixed(1)}%`);
      setText(inFlight, f.count(i.inFlight));
      setText(restarts, f.count(i.restarts));
      setText(last, i.lastRestart === null ? f.DASH : `${i.lastRestart.reason}: ${i.lastRestart.detail} (replaced #${i.lastRestart.replaced}, ${ago(i.lastRestart.at)})`);
    }
  }
  const keep = new Set(wanted);
  for (const [key, r] of rows) {
    if (keep.has(r.tr)) continue;
    r.tr.remove();
    rows.delete(key);
  }
  // Re-order only when the order changed.
  const current = [...tbody.children];
  if (current.length !== wanted.length || current.some((tr, k) => tr !== wanted[k])) tbody.replaceChildren(...wanted);
}
