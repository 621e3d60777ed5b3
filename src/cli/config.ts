// Loading the config for a command: on any problem, every error goes to stderr (one line each,
// naming the key) and the caller exits with the usage status.
import { formatConfigErrors, loadConfig, type Config, type LoadOptions } from '../config/load.js';

export function loadForCommand(options: LoadOptions): Config | undefined {
  const loaded = loadConfig(options);
  if (loaded.ok) return loaded.config;
  process.stderr.write(formatConfigErrors(loaded.errors, options.file) + '\n');
  return undefined;
}
