/**
 * @dripline/cli — the `dripline` command line (`validate`, `lint`, `graph`, `simulate`,
 * `schema`) and the functions behind it, for use from programs: run the CLI with your own
 * streams ({@link runCli}), render a plan as SVG or HTML ({@link renderPlanSvg},
 * {@link renderPlanHtml}), format validation issues ({@link formatIssues}), dry-run a plan
 * in chunks with progress ({@link simulatePlan}).
 * @packageDocumentation
 */
export { runCli } from './program.js';
export type { CliIo, OutputStream } from './io.js';
export { CliError, ExitCode, isCliError, type CliErrorCode, type CliErrorOptions, type ExitCodeValue } from './errors.js';
export {
  checkPlan,
  formatIssues,
  formatValue,
  locateIssues,
  parsePath,
  valueAtPath,
  type FormatIssuesOptions,
  type LocatedIssue,
  type PlanCheck,
} from './issues.js';
export { jsonErrorLocation, parseJsonText, readJsonFile, readTextFile, type JsonErrorLocation, type JsonFile } from './json-file.js';
export {
  GRAPH_FORMATS,
  graphFormatFromFileName,
  renderPlanGraph,
  renderPlanHtml,
  renderPlanSvg,
  type GraphFormat,
  type RenderGraphOptions,
} from './render.js';
export {
  ISO_INSTANT,
  parseEventsFile,
  parseInstant,
  type EventsFileContext,
  type EventsFileEntry,
  type EventsFileIssue,
  type MessageReaction,
  type ParsedEvents,
} from './events-file.js';
export {
  DEFAULT_REACTION_DELAY,
  checkZones,
  parseReactionRules,
  simulatePlan,
  simulatedContact,
  type ReactionRule,
  type SimulatePlanOptions,
  type SimulatePlanResult,
  type SimulateProgress,
} from './simulation.js';
export { formatLocal, formatSummary, formatTimeline, formatUtc } from './timeline-format.js';
export { version } from './version.js';
