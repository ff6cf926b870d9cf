// Shared by the small server processes the harness starts (upstream, floor, peers).

/** `--name value` from argv, else the environment variable, else the default. */
export function argValue(name, envName, def) {
  const i = process.argv.indexOf(`--${name}`);
  if (i !== -1 && i + 1 < process.argv.length) return process.argv[i + 1];
  const v = process.env[envName];
  return v === undefined || v === '' ? def : v;
}

/**
 * Exit cleanly on SIGTERM/SIGINT, and exit when the harness that started us is gone
 * (our parent pid changes), so that no benchmark server outlives a crashed harness.
 */
export function watchParent(close) {
  let closing = false;
  const stop = () => {
    if (closing) return;
    closing = true;
    setTimeout(() => process.exit(0), 1000).unref();
    close();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const ppid = process.ppid;
  if (ppid > 1) {
    setInterval(() => {
      if (process.ppid !== ppid) stop();
    }, 1000).unref();
  }
}
