// A watchdog process the harness starts first. The harness tells it, one line at a time,
// which process groups it started (`+PGID`) and stopped (`-PGID`). When its stdin closes
// (the harness exited, crashed or was killed with SIGKILL) it kills every group still
// listed, so a benchmark never leaves servers running. It ignores SIGINT so that a
// Ctrl-C on the terminal does not take it down before it has done its job.

const groups = new Set();
let buffered = '';
process.on('SIGINT', () => {});
process.on('SIGHUP', () => {});
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  buffered += chunk;
  let nl;
  while ((nl = buffered.indexOf('\n')) !== -1) {
    const line = buffered.slice(0, nl).trim();
    buffered = buffered.slice(nl + 1);
    const pgid = Number(line.slice(1));
    if (!Number.isInteger(pgid) || pgid <= 1) continue;
    if (line[0] === '+') groups.add(pgid);
    else if (line[0] === '-') groups.delete(pgid);
  }
});

const alive = (pgid) => {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
};
const signal = (pgid, sig) => {
  try {
    process.kill(-pgid, sig);
  } catch {
    // already gone
  }
};

function reap() {
  for (const g of groups) signal(g, 'SIGTERM');
  const deadline = Date.now() + 3000;
  const tick = () => {
    for (const g of groups) if (!alive(g)) groups.delete(g);
    if (groups.size === 0 || Date.now() > deadline) {
      for (const g of groups) signal(g, 'SIGKILL');
      process.exit(0);
    }
    setTimeout(tick, 100);
  };
  tick();
}
process.stdin.on('end', reap);
process.stdin.on('error', reap);
