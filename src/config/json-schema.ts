// The JSON Schema editors read for server.config.json, generated from the zod schema so the
// two can never disagree (a test checks the committed file is current).
import * as z from 'zod';
import { configSchema } from './schema.js';

export function configJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  return { ...schema, title: 'keycard server.config.json' };
}
