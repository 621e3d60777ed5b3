// Regenerates the files derived from the source: docs/reasons.md from src/reasons.ts and
// server.config.schema.json from the zod schema. A test fails when either is out of date.
import { writeFileSync } from 'node:fs';
import { renderReasonsDoc } from '../dist/docs.js';
import { configJsonSchema } from '../dist/config/json-schema.js';

writeFileSync(new URL('../docs/reasons.md', import.meta.url), renderReasonsDoc());
writeFileSync(new URL('../server.config.schema.json', import.meta.url), JSON.stringify(configJsonSchema(), null, 2) + '\n');
