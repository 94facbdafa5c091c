/**
 * `schedule/`: durations, time zones, local times, quiet hours and send times. Pure: time is
 * passed in as epoch milliseconds; luxon supplies the time-zone rules, cached per zone.
 *
 * @packageDocumentation
 */
export { parseDuration, isValidDuration, type Duration } from './duration.js';
export { isValidTimeZone, localParts, type LocalParts } from './zone.js';
export { parseLocalTime, nextLocalTime } from './local-time.js';
export {
  compileQuietHours,
  quietHoursCoverWholeDay,
  isQuiet,
  applyQuietHours,
  type Weekday,
  type QuietHours,
  type CompiledQuietHours,
  type QuietHoursInput,
} from './quiet-hours.js';
export {
  addDuration,
  computeSendTime,
  explainSendTime,
  type SendTimeInput,
  type SendTimeExplained,
} from './send-time.js';
