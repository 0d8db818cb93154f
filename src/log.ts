// Structured JSON logs, one object a line on stderr. Never pass message contents here.
import { writeSync } from "node:fs";

const LEVELS = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof LEVELS;
export type Logger = Record<Exclude<LogLevel, "silent">, (event: string, fields?: Record<string, unknown>) => void>;

export function createLogger(level: LogLevel, write: (line: string) => void = writeStderr): Logger {
  const at = (name: Exclude<LogLevel, "silent">) => (event: string, fields?: Record<string, unknown>) => {
    if (LEVELS[name] < LEVELS[level]) return;
    write(`${JSON.stringify({ time: new Date().toISOString(), level: name, event, ...fields })}\n`);
  };
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}

export const silentLogger = createLogger("silent");

/** Synchronous, so no line is lost at exit; and process.stderr would load Node's whole stream stack (~10 ms of start-up). */
function writeStderr(line: string) {
  writeSync(2, line);
}
