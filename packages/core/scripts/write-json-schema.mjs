// Writes the plan's JSON Schema next to the build so editors can use it:
// "$schema": "node_modules/@dripline/core/dist/plan.schema.json".
import { writeFileSync } from 'node:fs';
import { planJsonSchema } from '../dist/index.js';

writeFileSync(new URL('../dist/plan.schema.json', import.meta.url), JSON.stringify(planJsonSchema(), null, 2) + '\n');
