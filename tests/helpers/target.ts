// Which IMAP server interop tests run against. Default: Roost. `TARGET=dovecot` runs the same
// tests against Debian's Dovecot instead, which is how the harness itself is proven (every
// interop test must pass against the real Dovecot). `TARGET=roost,dovecot` runs both.
import { dovecotUnavailableReason, startDovecot } from './dovecot.js';
import { startRoost } from './roost.js';

export type TargetKind = 'roost' | 'dovecot';

export interface TargetServer {
  kind: TargetKind;
  host: string;
  port: number;
  stop(): Promise<void>;
  /** Server-side log or events, for failure messages. */
  diagnostics(): Promise<string>;
}

export function targetKinds(): TargetKind[] {
  const raw = (process.env.TARGET ?? 'roost').toLowerCase();
  const kinds = raw.split(',').map((s) => s.trim()).filter(Boolean);
  for (const k of kinds) if (k !== 'roost' && k !== 'dovecot') throw new Error(`TARGET: unknown server "${k}" (roost|dovecot)`);
  return kinds as TargetKind[];
}

/** Why a target cannot run here, or undefined. */
export function targetUnavailableReason(kind: TargetKind): string | undefined {
  return kind === 'dovecot' ? dovecotUnavailableReason() : undefined;
}

export async function startTarget(kind: TargetKind, opts: { vmail: string; password: string }): Promise<TargetServer> {
  if (kind === 'dovecot') {
    const d = await startDovecot(opts);
    return { kind, host: d.host, port: d.port, stop: d.stop, diagnostics: d.readLog };
  }
  const r = await startRoost(opts);
  return {
    kind,
    host: r.host,
    port: r.port,
    stop: r.stop,
    diagnostics: async () => r.events.map((e) => JSON.stringify(e)).join('\n'),
  };
}
