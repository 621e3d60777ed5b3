// `keycard check`: validate the config and print the effective settings. Exit 0 or 2.
import type { LoadOptions } from '../config/load.js';
import { loadForCommand } from './config.js';
import { EXIT } from './args.js';
import { formatScan, scanHtaccess } from '../htaccess/scan.js';
import { loadTls, TlsError } from '../tls.js';

export function check(load: LoadOptions): number {
  const config = loadForCommand(load);
  if (!config) return EXIT.USAGE;
  const warnings: string[] = [];
  if (config.data.explainErrors) warnings.push('explainErrors is on: error pages and the Keycard-Reason header tell clients why they were refused (information leak; for teaching and previews)');
  if (config.data.symlinks === 'follow') warnings.push('symlinks is "follow": a link can serve files outside the root');
  if (config.data.user === undefined && process.getuid?.() === 0) warnings.push('no "user" while running as root: root bypasses file permissions');
  // The certificate and key are read and matched as `serve` would, so a bad pair fails here.
  if (config.data.tls !== undefined) {
    try {
      const tls = loadTls(config.data.tls);
      warnings.push(...tls.warnings);
    } catch (err) {
      if (!(err instanceof TlsError)) throw err;
      process.stderr.write(`keycard: ${err.message}\n`);
      return EXIT.USAGE;
    }
  }
  const { $schema: _schema, ...settings } = config.data;
  process.stdout.write(`config: ${config.file ?? '(defaults)'}\nroot: ${config.root}\n${JSON.stringify(settings, null, 2)}\n`);
  for (const w of warnings) process.stderr.write(`keycard: warning: ${w}\n`);
  if (config.data.htaccess) {
    const issues = scanHtaccess(config.root);
    if (issues.length) process.stdout.write(`.htaccess:\n${formatScan(issues)}\n`);
  }
  return EXIT.OK;
}
