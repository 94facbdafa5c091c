import { it } from 'vitest';
import { planJsonSchema } from '../src/index.js';
it('scratch', () => {
  const s = planJsonSchema() as any;
  console.log(Object.keys(s), s.$schema, s.required, s.additionalProperties);
  console.log(JSON.stringify(s.properties.nodes).slice(0, 1500));
  let acc = 0; console.log([0.1, 0.2, 0.4].map((w) => (acc += w / 0.7000000000000001)));
  acc = 0; const ws=[0.1,0.2,0.4]; const tot = ws.reduce((a,b)=>a+b,0); console.log(tot, ws.map((w) => (acc += w / tot)));
});
