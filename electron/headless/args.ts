// Command-line parsing for the headless CLI. Produces raw settings (with the flag that set each one,
// for error messages) and the CLI's own options.
import path from 'node:path';
import { parseOverride, type RawSettings } from '../shared/settings.js';

export type CliCommand = 'serve' | 'doveconf' | 'help' | 'version';

export interface CliArgs {
  command: CliCommand;
  /** Settings given as flags (--vmail, --listen, --port, --password, -o). */
  raw: RawSettings;
  config?: string;
  dataDir?: string;
  /** doveconf -P */
  showPassword: boolean;
  /** --ui-port N: port of the web interface (0 = any free port); undefined = the default (8143, or any free one if taken). */
  uiPort?: number;
  /** --no-ui: no web interface. */
  noUi: boolean;
}

/** The web interface's default port; when it is taken, any free port is used instead (and Roost says so). */
export const DEFAULT_UI_PORT = 8143;

/** A usage error: printed as one line, exit status 2. */
export class CliUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliUsageError';
  }
}

export const USAGE = `Usage: roost [serve] [options]
       roost doveconf [-P] [options]

Roost serves a vmail tree of maildirs (the layout Postfix's virtual delivery and Dovecot use) over IMAP.

Commands:
  serve (default)     run the IMAP server until Ctrl+C / SIGTERM
  doveconf            print the effective settings that differ from Dovecot's defaults, like doveconf -n

Options:
  --vmail DIR         vmail base directory; mail for alice@example.org is in DIR/example.org/alice/maildir
                      (default: <data dir>/vmail)
  --listen ADDRESS    address to listen on (default 127.0.0.1; * = all IPv4, :: = all IPv4 and IPv6)
  --port N            IMAP port (default 1143; 0 = any free port)
  --password PW       the password every user logs in with (passdb static). Other users on this machine
                      can see command lines: prefer ROOST_PASSWORD=PW or a config file. Without any, a
                      password is generated on first start and stored in <data dir>/password (mode 0600)
  --config FILE       read settings from FILE: Dovecot syntax (key = value, passdb { }, userdb { },
                      service imap-login { inet_listener imap { port = N } }), or JSON if FILE ends in .json
  -o KEY=VALUE        set any setting by its Dovecot name, e.g. -o disable_plaintext_auth=no (repeatable)
  --data-dir DIR      where Roost keeps the generated password and its log (default: ~/.local/share/roost,
                      $XDG_DATA_HOME/roost; macOS ~/Library/Application Support/Roost; Windows %APPDATA%\\Roost)
  --ui-port N         port of the web interface on 127.0.0.1 (default 8143, or a free one if that is
                      taken; 0 = any free port). Roost prints its address with a secret token:
                      web ui: http://127.0.0.1:N/?token=...
  --no-ui             do not start the web interface
  -P, --show-password doveconf: print the password instead of masking it
  -h, --help          show this help
  -V, --version       show the version

Order of precedence: flags, then ROOST_PASSWORD, then --config FILE, then the saved settings
(<data dir>/settings.json and <data dir>/password, written by the web interface or the desktop app),
then defaults. Flags override the saved settings for this run only; the web interface shows which.
Exit status: 0 after a clean stop, 1 when the server cannot run (e.g. port in use), 2 for bad flags or settings.`;

const VALUE_FLAGS = new Set(['--vmail', '--listen', '--port', '--password', '--config', '--data-dir', '-o', '--ui-port']);
const KNOWN_FLAGS = [...VALUE_FLAGS, '--show-password', '-P', '--help', '-h', '--version', '-V', '--no-ui'];

export function parseArgs(argv: readonly string[]): CliArgs {
  const out: CliArgs = { command: 'serve', raw: {}, showPassword: false, noUi: false };
  let commandSeen = false;
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline: string | undefined;
    if (arg.startsWith('--') && arg.includes('=')) {
      inline = arg.slice(arg.indexOf('=') + 1);
      arg = arg.slice(0, arg.indexOf('='));
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (commandSeen || (arg !== 'serve' && arg !== 'doveconf')) {
        throw new CliUsageError(`unexpected argument '${arg}'${commandSeen ? '' : ' (commands: serve, doveconf)'}`);
      }
      out.command = arg;
      commandSeen = true;
      continue;
    }
    if (arg === '-h' || arg === '--help') { out.command = 'help'; return out; }
    if (arg === '-V' || arg === '--version') { out.command = 'version'; return out; }
    if (arg === '-P' || arg === '--show-password') { out.showPassword = true; continue; }
    if (arg === '--no-ui') { out.noUi = true; continue; }
    if (!VALUE_FLAGS.has(arg)) {
      const close = KNOWN_FLAGS.find((f) => f.startsWith(arg) || arg.startsWith(f));
      throw new CliUsageError(`unknown option ${arg}${close ? ` (did you mean ${close}?)` : ''}`);
    }
    let value = inline;
    if (value === undefined) {
      // "--port --vmail x" forgot the port; a value that merely starts with '-' is fine (--password -x).
      if (i + 1 >= argv.length || KNOWN_FLAGS.includes(argv[i + 1].split('=')[0])) throw new CliUsageError(`${arg} needs a value`);
      value = argv[++i];
    }
    const source = { kind: 'flag' as const, flag: arg };
    switch (arg) {
      // Relative directories are relative to where the command was typed.
      case '--vmail': out.raw.vmail = { value: value ? path.resolve(value) : value, source }; break;
      case '--listen': out.raw.listen = { value, source }; break;
      case '--port': out.raw.port = { value, source }; break;
      case '--password': out.raw['passdb.password'] = { value, source }; break;
      case '--config': out.config = path.resolve(value); break;
      case '--data-dir': out.dataDir = path.resolve(value); break;
      case '-o': parseOverride(value, { kind: 'flag', flag: '-o' }, out.raw); break;
      case '--ui-port':
        if (!/^\d+$/.test(value) || Number(value) > 65535) throw new CliUsageError(`--ui-port: Invalid port number ${value} (use 0-65535)`);
        out.uiPort = Number(value);
        break;
    }
  }
  return out;
}
