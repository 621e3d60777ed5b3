// Writes server.config.schema.json from the zod schema in src/config/schema.ts (via dist/).
import { writeFileSync } from 'node:fs';
import { configJsonSchema } from '../dist/config/json-schema.js';

writeFileSync(new URL('../server.config.schema.json', import.meta.url), JSON.stringify(configJsonSchema(), null, 2) + '\n');
