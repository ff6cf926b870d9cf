// The discovery panel: one row per upstream whose targets a provider finds (a watched
// file, DNS, Redis, etcd, Kubernetes): what it reads, how many targets it found, how old
// that view is, whether it came from the snapshot on disk, and the provider's problem.
// Rows are kept by upstream and updated in place, like the other tables.

import { badge, el, setBadge, setHidden, setText } from './dom.js';
import * as f from './format.js';

/** upstream → { tr, cells, age, problem } */
const rows = new Map();
/** Staleness past this is shown as a warning (the default alert fires after 2 minutes). */
const STALE_S = 60;

function row() {
  const tr = el('tr');
  const name = el('th', 'mono');
  name.scope = 'row';
  const age = badge();
  const ageCell = el('td', 'num');
  ageCell.append(age);
  const problem = badge();
  const problemCell = el('td', 'wrap');
  problemCell.append(problem);
  const cells = [name, el('td', 'mono'), el('td', 'num'), ageCell, el('td'), el('td', 'num'), problemCell];
  tr.append(...cells);
  return { tr, cells, age, problem };
}

/** Renders `discovery` (the snapshot's list) into #discovery; hides the panel when no upstream has discovery. */
export function renderDiscovery(discovery) {
  const panel = document.getElementById('discovery-panel');
  setHidden(panel, discovery.length === 0);
  if (discovery.length === 0) return;
  setText(document.getElementById('discovery-count'), String(discovery.length));
  const tbody = document.getElementById('discovery').tBodies[0];
  const wanted = [];
  for (const d of discovery) {
    let r = rows.get(d.upstream);
    if (r === undefined) rows.set(d.upstream, (r = row()));
    wanted.push(r.tr);
    const [name, what, targets, , from, updates] = r.cells;
    setText(name, d.upstream);
    setText(what, d.identity);
    setText(targets, f.count(d.targets));
    setBadge(r.age, d.problem !== null || d.stalenessS > STALE_S ? 'warn' : 'ok', f.duration(d.stalenessS));
    setText(from, d.from === 'snapshot' ? 'snapshot on disk' : d.from === 'none' ? 'nothing yet' : 'provider');
    setText(updates, `${f.count(d.updates.applied)} / ${f.count(d.updates.failed)} / ${f.count(d.updates.refused)}`);
    if (d.problem === null) setHidden(r.problem, true);
    else setBadge(r.problem, 'warn', `${d.problem.code}: ${d.problem.message}`);
  }
  for (const [key, r] of rows) {
    if (wanted.includes(r.tr)) continue;
    r.tr.remove();
    rows.delete(key);
  }
  const current = [...tbody.children];
  if (current.length !== wanted.length || current.some((tr, k) => tr !== wanted[k])) tbody.replaceChildren(...wanted);
}
