// Writes LogRecords (from the worker and the supervisor) the way Dovecot's log file looks, through
// electron-log: a file in the data directory, rotated at maxSize (the previous file is kept as
// roost.old.log), and optionally stdout (the headless CLI). The file is created 0600: it names users and
// client addresses. This is the only writer of log files; the worker never touches them.
import fs from 'node:fs';
import path from 'node:path';
import log from 'electron-log/node';
import type { LogLevel, LogRecord } from '../shared/events.js';
import { formatLogLine } from '../server/log.js';

export interface LogWriterOptions {
  /** Log file path, e.g. <data dir>/logs/roost.log. Omit for no file. */
  file?: string;
  /** Also write each line to stdout (or give a function that receives each line). */
  console?: boolean | ((line: string) => void);
  /** Rotate the file when it grows beyond this many bytes (default 5 MiB). */
  maxSize?: number;
  /** Lowest level written (default 'info'). */
  level?: LogLevel;
}

export interface LogWriter {
  write(record: LogRecord): void;
  readonly file?: string;
}

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
let instances = 0;

export function createLogWriter(options: LogWriterOptions): LogWriter {
  const minLevel = options.level ?? 'info';
  const logger = log.create({ logId: `roost-${++instances}` });
  logger.transports.console.level = false;
  if (options.file) {
    fs.mkdirSync(path.dirname(options.file), { recursive: true, mode: 0o700 });
    const file = options.file;
    logger.transports.file.setAppName('roost');
    logger.transports.file.resolvePathFn = () => file;
    logger.transports.file.maxSize = options.maxSize ?? 5 * 1024 * 1024;
    logger.transports.file.writeOptions = { flag: 'a', mode: 0o600, encoding: 'utf8' };
    // The line is complete already (Dovecot's timestamp and prefixes); no electron-log decoration.
    logger.transports.file.format = ({ data }) => data;
    logger.transports.file.level = 'debug';
  } else {
    logger.transports.file.level = false;
  }
  const toConsole = options.console === true ? (line: string) => { process.stdout.write(line + '\n'); } : options.console || undefined;
  return {
    file: options.file,
    write(record: LogRecord): void {
      if (ORDER[record.level] < ORDER[minLevel]) return;
      const line = formatLogLine(record);
      if (options.file) logger[record.level](line);
      toConsole?.(line);
    },
  };
}
