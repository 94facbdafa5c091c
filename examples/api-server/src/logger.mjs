// A small structured logger that fits core's `Logger` port (debug/info/warn/error with
// fields). One line per entry: time, level, message, then the fields as JSON. Core and the
// adapters never put message bodies or full phone numbers in fields; neither does this app.

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

/**
 * @param {{ level?: string, write?: (line: string) => void }} [options]
 * @returns {import('@dripline/core').Logger}
 */
export function createLogger(options = {}) {
  const min = LEVELS[options.level ?? 'info'] ?? LEVELS.info;
  const write = options.write ?? ((line) => process.stderr.write(line + '\n'));
  const log = (level) => (message, fields) => {
    if (LEVELS[level] < min) return;
    let extra = '';
    if (fields && Object.keys(fields).length) {
      try {
        extra = ' ' + JSON.stringify(fields);
      } catch {
        extra = ' [unserialisable fields]';
      }
    }
    write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${message}${extra}`);
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/** A logger that drops everything (tests). */
export const silentLogger = createLogger({ level: 'silent' });
