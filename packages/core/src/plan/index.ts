export * from './schema.js';
export * from './validate.js';
export * from './compile.js';
export * from './template.js';
export * from './graph.js';
