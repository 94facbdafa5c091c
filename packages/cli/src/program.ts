/**
 * The `dripline` command line as a function: {@link runCli} parses arguments with commander,
 * runs one command and returns the exit code, writing to the streams it is given. The binary
 * (`bin.ts`) is a three-line wrapper around it.
 */
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { isDriplineError, isValidDuration, planJsonSchema, type Plan, type PlanInput } from '@dripline/core';
import { CliError, ExitCode, isCliError } from './errors.js';
import { parseEventsFile, parseInstant, type ParsedEvents } from './events-file.js';
import type { CliIo, OutputStream } from './io.js';
import { checkPlan, formatIssues, plural, type LocatedIssue, type PlanCheck } from './issues.js';
import { readJsonFile, type JsonFile } from './json-file.js';
import { createProgressBar, type ProgressReporter } from './progress.js';
import { GRAPH_FORMATS, graphFormatFromFileName, renderPlanGraph, type GraphFormat } from './render.js';
import { checkZones, parseReactionRules, simulatePlan } from './simulation.js';
import { formatSummary, formatTimeline, formatUtc } from './timeline-format.js';
import { version } from './version.js';

/** Exit code of an error that is a bug in dripline rather than in its input (`EX_SOFTWARE`). */
const EXIT_BUG = 70;

function line(stream: OutputStream, text = ''): void {
  stream.write(`${text}\n`);
}

/** A file's check, or the I/O error that stopped it, for reports. */
interface FileReport {
  file: string;
  check?: PlanCheck;
  error?: CliError;
}

function issueJson(i: LocatedIssue) {
  return { code: i.code, path: i.path, message: i.message, severity: i.severity, ...(i.found ? { value: i.value } : {}) };
}

function reportJson(reports: FileReport[]) {
  const files = reports.map((r) =>
    r.error
      ? { file: r.file, ok: false, error: { code: r.error.code, message: r.error.message, ...r.error.details } }
      : { file: r.file, ok: r.check!.ok, errors: r.check!.errors.map(issueJson), warnings: r.check!.warnings.map(issueJson) },
  );
  const errors = reports.reduce((n, r) => n + (r.check?.errors.length ?? 0), 0);
  const warnings = reports.reduce((n, r) => n + (r.check?.warnings.length ?? 0), 0);
  return { errors, warnings, files };
}

function readPlan(file: string, io: CliIo): { source: JsonFile; check: PlanCheck } {
  const source = readJsonFile(file, io.cwd);
  return { source, check: checkPlan(source.json) };
}

/** A plan whose shape is good enough to draw even though validation failed (`graph --force`). */
function drawable(json: unknown): json is PlanInput {
  if (json === null || typeof json !== 'object') return false;
  const p = json as { nodes?: unknown; startNodeId?: unknown };
  return (
    Array.isArray(p.nodes) &&
    p.nodes.every((n) => n !== null && typeof n === 'object' && typeof (n as { id?: unknown }).id === 'string' && typeof (n as { action?: unknown }).action === 'string')
  );
}

function positiveInt(what: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.replace(/_/g, '')) || Number(value.replace(/_/g, '')) < 1)
      throw new InvalidArgumentError(`${what} must be a whole number of at least 1, got ${JSON.stringify(value)}.`);
    return Number(value.replace(/_/g, ''));
  };
}

function integer(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError(`must be an integer, got ${JSON.stringify(value)}.`);
  return Number(value);
}

/** Options of `dripline simulate`, as commander parses them. */
interface SimulateFlags {
  contacts: number;
  events?: string;
  start?: string;
  until: string;
  zones?: string;
  seed: number;
  respond?: string;
  show: string;
  contact?: string;
  json?: boolean;
  progress?: boolean;
  chunkSize: number;
}

async function simulateCommand(file: string, flags: SimulateFlags, io: CliIo): Promise<number> {
  const { check } = readPlan(file, io);
  if (!check.ok) {
    line(io.stderr, `${file}: not a valid plan, so it cannot be simulated`);
    line(io.stderr, formatIssues(check.errors));
    line(io.stderr, `✖ ${plural(check.errors.length, 'error')} in ${file}`);
    return ExitCode.Invalid;
  }
  const plan = check.plan!;
  let start: number;
  if (flags.start === undefined) start = Math.floor(Date.now() / 60_000) * 60_000;
  else {
    const t = parseInstant(flags.start);
    if (t === undefined)
      throw new CliError('INVALID_OPTION', `--start: ${JSON.stringify(flags.start)} is not an ISO-8601 instant with a zone (e.g. "2026-03-02T16:00:00Z")`, {
        details: { option: 'start', value: flags.start },
      });
    start = t;
  }
  let until: number | string;
  if (isValidDuration(flags.until)) until = flags.until;
  else {
    const t = parseInstant(flags.until);
    if (t === undefined)
      throw new CliError('INVALID_OPTION', `--until: ${JSON.stringify(flags.until)} is neither an ISO-8601 duration ("P14D") nor an instant with a zone`, {
        details: { option: 'until', value: flags.until },
      });
    if (t <= start) throw new CliError('INVALID_OPTION', `--until: ${flags.until} is not after --start ${new Date(start).toISOString()}`, { details: { option: 'until', value: flags.until } });
    until = t;
  }
  const zones = flags.zones ? flags.zones.split(',').map((z) => z.trim()).filter(Boolean) : [];
  checkZones(zones);
  const reactions = flags.respond ? parseReactionRules(flags.respond, plan) : [];
  let events: ParsedEvents | undefined;
  if (flags.events) {
    const source = readJsonFile(flags.events, io.cwd);
    events = parseEventsFile(source.json, { file: flags.events, contacts: flags.contacts, plan, start });
  }

  // Whose timeline to show: --contact, else the contacts the events file names, then contact-1...
  const n = flags.contacts;
  let timelineOf: Set<string> | 'all';
  if (flags.contact) {
    const ids = flags.contact.split(',').map((s) => s.trim()).filter(Boolean);
    const unknown = ids.filter((id) => !/^contact-([1-9]\d*)$/.test(id) || Number(id.slice(8)) > n);
    if (unknown.length)
      throw new CliError('INVALID_OPTION', `--contact: ${unknown.map((u) => JSON.stringify(u)).join(', ')} not among the ${n} simulated contacts (contact-1 … contact-${n})`, {
        details: { option: 'contact', value: unknown },
      });
    timelineOf = new Set(ids);
  } else if (flags.show === 'all') timelineOf = 'all';
  else {
    const show = Number(flags.show);
    if (!/^\d+$/.test(flags.show)) throw new CliError('INVALID_OPTION', `--show: ${JSON.stringify(flags.show)} is not a number or "all"`, { details: { option: 'show', value: flags.show } });
    const ids = new Set<string>();
    for (const e of [...(events?.reactions ?? []), ...(events?.fixed ?? [])]) if (ids.size < show) ids.add(e.contactId);
    for (let i = 1; i <= n && ids.size < show; i++) ids.add(`contact-${i}`);
    timelineOf = show >= n ? 'all' : ids;
  }

  const wantProgress = flags.progress ?? (io.stderr.isTTY === true && n > flags.chunkSize);
  let bar: ProgressReporter | undefined;
  if (wantProgress) bar = createProgressBar(io.stderr, n);
  let result;
  try {
    result = await simulatePlan(plan, {
      contacts: n,
      start,
      until,
      zones,
      reactions,
      seed: flags.seed,
      timelineOf,
      chunkSize: flags.chunkSize,
      ...(events ? { events } : {}),
      ...(bar ? { onProgress: (p) => bar!.update(p) } : {}),
    });
  } finally {
    bar?.stop();
  }
  const { summary, timelines, contacts } = result;
  const zoneOf = (id: string) => contacts.find((c) => c.id === id)?.timezone ?? plan.timezone;

  if (flags.json) {
    const out = {
      plan: { ...(plan.id ? { id: plan.id } : {}), ...(plan.name ? { name: plan.name } : {}), file },
      options: {
        contacts: n,
        start: new Date(start).toISOString(),
        until: typeof until === 'number' ? new Date(until).toISOString() : until,
        zones,
        seed: flags.seed,
        reactions,
        events: (events?.fixed.length ?? 0) + (events?.reactions.length ?? 0),
      },
      summary,
      timelines: Object.fromEntries([...timelines].map(([id, entries]) => [id, { timezone: zoneOf(id), entries }])),
    };
    line(io.stdout, JSON.stringify(out, null, 2));
    return ExitCode.Ok;
  }

  const evCount = (events?.fixed.length ?? 0) + (events?.reactions.length ?? 0);
  line(
    io.stdout,
    `Simulated ${plan.name ? `"${plan.name}"` : file}: ${plural(n, 'contact')}, ${formatUtc(start)} + ${typeof until === 'string' ? until : `until ${formatUtc(until)}`}` +
      `${zones.length ? ` in ${plural(zones.length, 'zone')}` : ` in ${plan.timezone}`}` +
      `${evCount ? `, ${plural(evCount, 'event')} from ${flags.events}` : ''}${reactions.length ? `, ${plural(reactions.length, 'reaction rule')} (seed ${flags.seed})` : ''}`,
  );
  line(io.stdout);
  const shownIds = [...timelines.keys()].sort((a, b) => Number(a.slice(8)) - Number(b.slice(8)));
  line(io.stdout, `Timeline (${shownIds.length} of ${plural(n, 'contact')}, local time of each contact)${shownIds.length < n ? '; --show N, --show all or --contact id to see others' : ''}`);
  for (const id of shownIds) {
    line(io.stdout, `${id} · ${zoneOf(id)}`);
    for (const l of formatTimeline(timelines.get(id)!, zoneOf(id))) line(io.stdout, l);
  }
  line(io.stdout);
  for (const l of formatSummary(summary, plan)) line(io.stdout, l);
  return ExitCode.Ok;
}

function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command();
  program
    .name('dripline')
    .description('Validate, lint, draw and dry-run dripline campaign plans.')
    .version(version, '-V, --version', 'print the version')
    .helpOption('-h, --help', 'show help')
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    })
    .addHelpText(
      'after',
      `
Exit codes: 0 ok · 1 the plan has errors (or warnings under lint --strict) · 2 usage or I/O error.

Examples:
  dripline validate plan.json
  dripline lint plans/*.json --strict
  dripline graph plan.json --format svg -o plan.svg
  dripline simulate plan.json --contacts 1000 --start 2026-03-02T16:00:00Z --events events.json`,
    );

  program
    .command('validate')
    .description('validate a plan: print each error with its code, JSON path and bad value')
    .argument('<plan.json>', 'the plan file')
    .option('--json', 'print the report as JSON')
    .action((file: string, flags: { json?: boolean }) => {
      const { check } = readPlan(file, io);
      if (flags.json) line(io.stdout, JSON.stringify(reportJson([{ file, check }]), null, 2));
      else if (check.ok) {
        const plan = check.plan!;
        const warn = check.warnings.length ? ` (${plural(check.warnings.length, 'warning')}: run dripline lint ${file} to see them)` : '';
        line(io.stdout, `✔ ${file}: valid plan${plan.name ? ` "${plan.name}"` : ''}, ${plural(plan.nodes.length, 'node')}${warn}`);
      } else {
        line(io.stdout, file);
        line(io.stdout, formatIssues(check.errors));
        line(io.stdout, `✖ ${plural(check.errors.length, 'error')} in ${file}`);
      }
      setExit(check.ok ? ExitCode.Ok : ExitCode.Invalid);
    });

  program
    .command('lint')
    .description('validate plans and print their warnings too (unreachable nodes, undeclared variables...)')
    .argument('<plan.json...>', 'one or more plan files')
    .option('--strict', 'fail (exit 1) on warnings as well as errors')
    .option('--json', 'print the report as JSON')
    .action((files: string[], flags: { strict?: boolean; json?: boolean }) => {
      const reports: FileReport[] = files.map((file) => {
        try {
          return { file, check: readPlan(file, io).check };
        } catch (e) {
          if (isCliError(e)) return { file, error: e };
          throw e;
        }
      });
      const summary = reportJson(reports);
      if (flags.json) line(io.stdout, JSON.stringify({ ...summary, strict: Boolean(flags.strict) }, null, 2));
      else {
        for (const r of reports) {
          if (r.error) {
            line(io.stderr, `✖ ${r.error.message}`);
            continue;
          }
          const c = r.check!;
          const issues = [...c.errors, ...c.warnings];
          if (!issues.length) {
            line(io.stdout, `✔ ${r.file}`);
            continue;
          }
          line(io.stdout, r.file);
          line(io.stdout, formatIssues(issues));
        }
        const unreadable = reports.filter((r) => r.error).length;
        const failed = summary.errors > 0 || unreadable > 0 || (flags.strict && summary.warnings > 0);
        line(
          io.stdout,
          `${failed ? '✖' : '✔'} ${plural(files.length, 'file')}: ${plural(summary.errors, 'error')}, ${plural(summary.warnings, 'warning')}` +
            `${unreadable ? `, ${unreadable} unreadable` : ''}${flags.strict && summary.warnings > 0 ? ' (warnings fail under --strict)' : ''}`,
        );
      }
      if (reports.some((r) => r.error)) setExit(ExitCode.Usage);
      else if (summary.errors > 0 || (flags.strict && summary.warnings > 0)) setExit(ExitCode.Invalid);
      else setExit(ExitCode.Ok);
    });

  program
    .command('graph')
    .description('draw a plan as Mermaid, Graphviz DOT, SVG or a self-contained HTML page')
    .argument('<plan.json>', 'the plan file')
    .addOption(new Option('-f, --format <format>', 'output format (default: from the -o file name, else mermaid)').choices(GRAPH_FORMATS))
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .addOption(new Option('--direction <dir>', 'Mermaid flowchart direction').choices(['TD', 'LR']))
    .option('--force', 'draw a plan even if it has errors (as long as it has a list of nodes)')
    .action(async (file: string, flags: { format?: GraphFormat; output?: string; direction?: 'TD' | 'LR'; force?: boolean }) => {
      const { source, check } = readPlan(file, io);
      let plan: Plan | PlanInput;
      if (check.ok) plan = check.plan!;
      else if (flags.force && drawable(source.json)) {
        line(io.stderr, `${file}: drawing despite ${plural(check.errors.length, 'error')} (--force)`);
        line(io.stderr, formatIssues(check.errors));
        plan = source.json;
      } else {
        line(io.stderr, file);
        line(io.stderr, formatIssues(check.errors));
        throw new CliError(
          'INVALID_PLAN',
          `${file} is not a valid plan (${plural(check.errors.length, 'error')})${flags.force ? ' and has no list of nodes to draw' : '; fix it, or pass --force to draw it anyway'}`,
          { details: { file, issues: check.errors } },
        );
      }
      const format = flags.format ?? (flags.output ? graphFormatFromFileName(flags.output) : undefined) ?? 'mermaid';
      let text: string;
      try {
        text = await renderPlanGraph(plan, format, flags.direction ? { direction: flags.direction } : {});
      } catch (e) {
        // Only a plan drawn despite its errors can be too malformed to draw (a `transitions` that is no list...).
        if (check.ok) throw e;
        throw new CliError('INVALID_PLAN', `${file} is too malformed to draw, even with --force: fix the errors above`, { cause: e, details: { file, issues: check.errors } });
      }
      const out = text.endsWith('\n') ? text : `${text}\n`;
      if (flags.output) {
        try {
          writeFileSync(resolve(io.cwd, flags.output), out);
        } catch (e) {
          throw new CliError('FILE_UNREADABLE', `${flags.output}: cannot be written (${e instanceof Error ? e.message : String(e)})`, { cause: e, details: { file: flags.output } });
        }
        line(io.stderr, `wrote ${flags.output} (${format})`);
      } else io.stdout.write(out);
      setExit(ExitCode.Ok);
    });

  program
    .command('simulate')
    .description('dry-run a plan over generated contacts with a virtual clock; print timelines and a summary')
    .argument('<plan.json>', 'the plan file')
    .requiredOption('-n, --contacts <n>', 'how many contacts to simulate (contact-1 … contact-N)', positiveInt('--contacts'))
    .option('--events <file>', 'events to inject: a JSON array of {contact, event, at | after, node?} (see the README)')
    .option('--start <iso>', 'campaign start, an ISO-8601 instant with a zone (default: now)')
    .option('--until <iso|duration>', 'end of the run: an instant, or a duration after --start', 'P30D')
    .option('--zones <a,b,c>', 'IANA time zones given to the contacts in turn (default: the plan\'s zone)')
    .option('--respond <rules>', 'seeded reactions to every message: [node:]event=share[@delay], comma-separated, e.g. "opened=0.4@PT2H"')
    .option('--seed <n>', 'seed of the --respond draws', integer, 1)
    .option('--show <n|all>', 'how many contacts\' timelines to print', '3')
    .option('--contact <ids>', 'print the timelines of these contacts (comma-separated ids)')
    .option('--json', 'print the summary and timelines as JSON')
    .option('--progress', 'show a progress bar on stderr even when it is not a terminal')
    .option('--no-progress', 'never show a progress bar')
    .option('--chunk-size <n>', 'contacts per simulation chunk (progress is reported per chunk)', positiveInt('--chunk-size'), 1000)
    .action(async (file: string, flags: SimulateFlags) => setExit(await simulateCommand(file, flags, io)));

  program
    .command('schema')
    .description('print the JSON Schema of plans (for editors and other tools)')
    .action(() => {
      line(io.stdout, JSON.stringify(planJsonSchema(), null, 2));
      setExit(ExitCode.Ok);
    });

  return program;
}

/**
 * Runs the `dripline` command line with `argv` (the arguments after the program name, like
 * `process.argv.slice(2)`) and resolves to the exit code; it never calls `process.exit`.
 * Results go to `io.stdout`, diagnostics and progress to `io.stderr`; relative paths are
 * resolved from `io.cwd`. Each part of `io` defaults to the process's own.
 *
 * @returns {@link ExitCode.Ok} (0), {@link ExitCode.Invalid} (1: the plan has errors, or
 * warnings under `lint --strict`), {@link ExitCode.Usage} (2: bad arguments, unreadable
 * file, invalid JSON or events file), or 70 for an unexpected internal error.
 *
 * @example
 * ```ts
 * const out: string[] = [];
 * const code = await runCli(['validate', 'plan.json'], { stdout: { write: (s) => out.push(s) } });
 * ```
 */
export async function runCli(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const full: CliIo = { stdout: io.stdout ?? process.stdout, stderr: io.stderr ?? process.stderr, cwd: io.cwd ?? process.cwd() };
  let exit: number = ExitCode.Ok;
  const program = buildProgram(full, (code) => void (exit = code));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exit;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    if (isCliError(e)) {
      line(full.stderr, `dripline: ${e.message}`);
      return e.exitCode;
    }
    if (isDriplineError(e)) {
      line(full.stderr, `dripline: ${e.message} [${e.code}]`);
      return ExitCode.Usage;
    }
    line(full.stderr, `dripline: unexpected error (a bug; please report it): ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return EXIT_BUG;
  }
}
