/**
 * Reading the files named on the command line: a missing file, a directory or JSON that does
 * not parse each become a {@link CliError} that names the file (and, for JSON, the line and
 * column of the first error).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { CliError } from './errors.js';

/** A JSON file as read from disk. */
export interface JsonFile {
  /** The path as given on the command line. */
  file: string;
  /** The text of the file. */
  text: string;
  /** The parsed JSON value. */
  json: unknown;
}

/** Where a JSON syntax error is, 1-based. */
export interface JsonErrorLocation {
  /** Offset from the start of the text, 0-based. */
  offset: number;
  /** Line, 1-based. */
  line: number;
  /** Column, 1-based, counted in UTF-16 code units. */
  column: number;
}

/** Turns a 0-based offset into a line and column. */
function locate(text: string, offset: number): JsonErrorLocation {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line += 1;
      lineStart = i + 1;
    }
  }
  return { offset, line, column: offset - lineStart + 1 };
}

/**
 * Where `JSON.parse` stopped, from its error message: V8 says `at position N` (and, from
 * Node 22, `(line L column C)`); an unexpected end of input is at the end of the text.
 */
export function jsonErrorLocation(text: string, message: string): JsonErrorLocation | undefined {
  const lc = /\(line (\d+) column (\d+)\)/.exec(message);
  const pos = /at position (\d+)/.exec(message);
  if (pos) return locate(text, Number(pos[1]));
  if (lc) return { offset: -1, line: Number(lc[1]), column: Number(lc[2]) };
  if (/end of (JSON )?input|Unexpected end/i.test(message)) return locate(text, text.length);
  return undefined;
}

/**
 * Parses JSON text, throwing a {@link CliError} `INVALID_JSON` that names the file, the line
 * and the column, and shows the line with a caret under the column.
 */
export function parseJsonText(text: string, file: string): unknown {
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  try {
    return JSON.parse(body);
  } catch (e) {
    const raw = e instanceof Error ? e.message : String(e);
    const reason = raw.replace(/\s*\(line \d+ column \d+\)/, '').replace(/ in JSON at position \d+/, '');
    const at = jsonErrorLocation(body, raw);
    if (!at) throw new CliError('INVALID_JSON', `${file}: not valid JSON: ${reason}`, { cause: e, details: { file } });
    const lineText = body.split(/\r?\n/)[at.line - 1] ?? '';
    const shown = lineText.length > 120 ? `${lineText.slice(0, 117)}...` : lineText;
    const caret = at.column - 1 <= shown.length ? `\n  ${' '.repeat(Math.max(0, at.column - 1))}^` : '';
    throw new CliError('INVALID_JSON', `${file}:${at.line}:${at.column}: not valid JSON: ${reason}\n  ${shown}${caret}`, {
      cause: e,
      details: { file, line: at.line, column: at.column },
    });
  }
}

/** Reads a text file, throwing `FILE_NOT_FOUND` or `FILE_UNREADABLE` naming it. */
export function readTextFile(file: string, cwd: string = process.cwd()): string {
  try {
    return readFileSync(resolve(cwd, file), 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'ENOENT') throw new CliError('FILE_NOT_FOUND', `${file}: no such file`, { cause: e, details: { file } });
    if (code === 'EISDIR') throw new CliError('FILE_UNREADABLE', `${file}: is a directory, not a file`, { cause: e, details: { file } });
    const why = e instanceof Error ? e.message : String(e);
    throw new CliError('FILE_UNREADABLE', `${file}: cannot be read (${why})`, { cause: e, details: { file } });
  }
}

/** Reads and parses a JSON file; see {@link readTextFile} and {@link parseJsonText} for the errors. */
export function readJsonFile(file: string, cwd: string = process.cwd()): JsonFile {
  const text = readTextFile(file, cwd);
  return { file, text, json: parseJsonText(text, file) };
}
