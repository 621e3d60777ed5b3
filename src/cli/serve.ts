// `keycard serve`: load the config, bind, drop privileges, print the contract line
// `listening on http://HOST:PORT` as the first line of stdout, and handle signals.
import { loadConfig, formatConfigErrors, type Config, type LoadOptions } from '../config/load.js';
import { createKeycardServer } from '../server.js';
import { dropPrivileges } from '../sys/users.js';
import { EXIT } from './args.js';

function listenError(err: NodeJS.ErrnoException, host: string, port: number): string {
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `cannot listen on ${where}: the port is already in use`;
    case 'EACCES':
      return `cannot listen on ${where}: permission denied (ports below 1024 need root)`;
    case 'EADDRNOTAVAIL':
      return `cannot listen on ${where}: no such local address`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot listen on ${where}: unknown host`;
    default:
      return `cannot listen on ${where}: ${err.message}`;
  }
}

export async function serve(load: LoadOptions): Promise<number> {
  const loaded = loadConfig(load);
  if (!loaded.ok) {
    process.stderr.write(formatConfigErrors(loaded.errors, load.file) + '\n');
    return EXIT.USAGE;
  }
  const config = loaded.config;
  const ks = createKeycardServer(config);
  let bound: { url: string };
  try {
    bound = await ks.listen();
  } catch (err) {
    process.stderr.write(`keycard: ${listenError(err as NodeJS.ErrnoException, config.data.host, config.data.port)}\n`);
    return EXIT.FAILURE;
  }
  if (config.data.user !== undefined) {
    try {
      dropPrivileges(config.data.user, config.data.group);
    } catch (err) {
      process.stderr.write(`keycard: ${(err as Error).message}\n`);
      ks.server.close();
      return EXIT.FAILURE;
    }
  } else if (process.getuid?.() === 0) {
    process.stderr.write('keycard: warning: running as root without "user": root bypasses file permissions, so no file or directory will be refused for its mode bits. Set "user" (e.g. "www-data") to see what that user would see.\n');
  }
  process.stdout.write(`listening on ${bound.url}\n`);

  let stopping = false;
  const stop = (): void => {
    if (stopping) process.exit(EXIT.OK); // a second signal: at once
    stopping = true;
    ks.close().then(() => process.exit(EXIT.OK));
    setTimeout(() => process.exit(EXIT.OK), 10_000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', () => {
    // Reload: a bad new config is logged and the running one kept. The listen address, user and
    // group stay as they were (they need a restart).
    const next = loadConfig(load);
    if (!next.ok) {
      process.stderr.write(`keycard: reload rejected, keeping the running config:\n${formatConfigErrors(next.errors, load.file)}\n`);
      return;
    }
    ks.handler.setConfig(next.config as Config);
    process.stderr.write('keycard: config reloaded\n');
  });
  return new Promise<number>(() => {});
}
