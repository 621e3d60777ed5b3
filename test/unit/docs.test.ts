// Files derived from the source must be regenerated (`npm run docs`) whenever the source changes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderReasonsDoc } from '../../src/docs.js';
import { configJsonSchema } from '../../src/config/json-schema.js';

const read = (rel: string) => readFileSync(new URL(`../../${rel}`, import.meta.url), 'utf8');

describe('generated files are current', () => {
  it('docs/reasons.md matches src/reasons.ts', () => {
    expect(read('docs/reasons.md')).toBe(renderReasonsDoc());
  });

  it('server.config.schema.json matches the zod schema', () => {
    expect(read('server.config.schema.json')).toBe(JSON.stringify(configJsonSchema(), null, 2) + '\n');
  });

  it('server.config.json points editors at the schema', () => {
    expect(JSON.parse(read('server.config.json')).$schema).toBe('./server.config.schema.json');
  });
});
