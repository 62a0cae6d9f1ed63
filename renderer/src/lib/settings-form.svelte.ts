// A draft of AppSettings being edited (the wizard and the settings page share it), checked live:
// validateSettings for every field, checkPath for the vmail base, checkPort for listen/port. Each
// check is debounced and numbered, so a slow answer to an old draft never overwrites a newer one.
import type { AppSettings, FieldProblem, PathCheck, PortCheck, ValidationResult } from '../../../electron/shared/api';
import { api, errorText } from './api';
import { appState } from './app.svelte';

export type FieldName = keyof AppSettings | 'general';

/** Which fields each wizard step (1-based) edits; the review step owns everything. */
export const STEP_FIELDS: Record<number, FieldName[]> = {
  1: ['vmail', 'mail_home', 'mail_location'],
  2: ['password', 'auth_mechanisms', 'disable_plaintext_auth'],
  3: ['uid', 'gid', 'first_valid_uid'],
  4: ['listen', 'port'],
};

export const STEP_TITLES = ['Mail location', 'Credentials', 'Ownership', 'Network', 'Review'];

const DEBOUNCE_MS = 250;

export function isLoopback(listen: string): boolean {
  return listen === 'localhost' || listen === '::1' || /^127\./.test(listen);
}

export class SettingsForm {
  draft = $state<AppSettings>() as AppSettings;
  /** The settings as saved, to tell what changed. */
  saved = $state<AppSettings>() as AppSettings;
  validation = $state<ValidationResult | null>(null);
  pathCheck = $state<PathCheck | null>(null);
  portCheck = $state<PortCheck | null>(null);
  /** A check could not run at all (Roost not answering): shown as a general problem. */
  checkError = $state<string | null>(null);
  pending = $state(0);

  private seq = { validate: 0, path: 0, port: 0 };
  private timers: Record<'validate' | 'path' | 'port', ReturnType<typeof setTimeout> | undefined> = { validate: undefined, path: undefined, port: undefined };
  private lastKeys = { validate: '', path: '', port: '' };
  private inflight = new Set<Promise<unknown>>();

  constructor(settings: AppSettings) {
    this.draft = $state.snapshot(settings) as AppSettings;
    this.saved = $state.snapshot(settings) as AppSettings;
  }

  reset(settings: AppSettings): void {
    this.draft = $state.snapshot(settings) as AppSettings;
    this.saved = $state.snapshot(settings) as AppSettings;
  }

  get dirty(): boolean {
    return JSON.stringify(this.draft) !== JSON.stringify(this.saved);
  }

  /** Call inside an $effect: reads the whole draft (so the effect re-runs on any edit) and schedules checks. */
  track(): void {
    const d = this.draft;
    const all = JSON.stringify(d);
    if (all !== this.lastKeys.validate) { this.lastKeys.validate = all; this.schedule('validate'); }
    if (d.vmail !== this.lastKeys.path) { this.lastKeys.path = d.vmail; this.schedule('path'); }
    const portKey = `${d.listen}|${d.port}`;
    if (portKey !== this.lastKeys.port) { this.lastKeys.port = portKey; this.schedule('port'); }
  }

  private schedule(kind: 'validate' | 'path' | 'port'): void {
    clearTimeout(this.timers[kind]);
    this.timers[kind] = setTimeout(() => { this.timers[kind] = undefined; void this.run(kind); }, DEBOUNCE_MS);
  }

  /** Runs every pending check now and waits for all answers (before Next / Save). */
  async settle(): Promise<void> {
    for (const kind of ['validate', 'path', 'port'] as const) {
      if (this.timers[kind] !== undefined) {
        clearTimeout(this.timers[kind]);
        this.timers[kind] = undefined;
        void this.run(kind);
      }
    }
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }

  /** Forces fresh checks of everything (e.g. after the user created the folder). */
  async recheck(): Promise<void> {
    for (const kind of ['validate', 'path', 'port'] as const) void this.run(kind);
    await this.settle();
  }

  private async run(kind: 'validate' | 'path' | 'port'): Promise<void> {
    const n = ++this.seq[kind];
    const snapshot = $state.snapshot(this.draft) as AppSettings;
    this.pending++;
    const work = (async () => {
      try {
        if (kind === 'validate') {
          const result = await api().call('validateSettings', { settings: snapshot });
          if (n === this.seq.validate) this.validation = result;
        } else if (kind === 'path') {
          const result = snapshot.vmail.trim() ? await api().call('checkPath', { path: snapshot.vmail.trim() }) : null;
          if (n === this.seq.path) this.pathCheck = result;
        } else {
          const port = Number(snapshot.port);
          const result = Number.isInteger(port) && port > 0 && port < 65536
            ? await api().call('checkPort', { listen: snapshot.listen, port })
            : null;
          if (n === this.seq.port) this.portCheck = result;
        }
        if (n === this.seq[kind]) this.checkError = null;
      } catch (e) {
        if (n === this.seq[kind]) this.checkError = `Could not check the settings: ${errorText(e)}`;
      } finally {
        this.pending--;
      }
    })();
    this.inflight.add(work);
    await work;
    this.inflight.delete(work);
  }

  /** Is the port check's "in use" just our own running server on the same address? */
  private portUsedByUs(check: PortCheck): boolean {
    const st = appState.status;
    return check.status === 'in-use' && !!st && (st.state === 'running' || st.state === 'starting') && st.port === check.port
      && this.saved.port === check.port && this.saved.listen === check.listen;
  }

  errorsFor(field: FieldName): string[] {
    const out = (this.validation?.errors ?? []).filter((p) => p.field === field).map((p) => p.message);
    if (field === 'vmail' && this.pathCheck?.problem && this.pathCheck.path === this.draft.vmail.trim()) out.push(this.pathCheck.problem);
    if (field === 'port' && this.portCheck && this.portCheck.status !== 'free' && !this.portUsedByUs(this.portCheck)
      && this.portCheck.port === Number(this.draft.port) && this.portCheck.listen === this.draft.listen) {
      // A bad address is the listen field's problem, not the port's.
      if (this.portCheck.status !== 'bad-address') out.push(this.portCheck.message);
    }
    if (field === 'listen' && this.portCheck?.status === 'bad-address' && this.portCheck.listen === this.draft.listen) out.push(this.portCheck.message);
    if (field === 'general' && this.checkError) out.push(this.checkError);
    return [...new Set(out)];
  }

  warningsFor(field: FieldName): string[] {
    return (this.validation?.warnings ?? []).filter((p) => p.field === field).map((p) => p.message);
  }

  /** Headless: a command-line flag / env / config file sets this field for the current run. */
  overrideNotes(field: FieldName): string[] {
    return (appState.info?.overrides ?? []).filter((o) => o.field === field).map((o) =>
      `For this run, ${o.source} sets this to ${o.value}. What you save here applies when Roost is started without it.`);
  }

  /** Problems that block the given fields (all fields when omitted). */
  problems(fields?: FieldName[]): FieldProblem[] {
    const names: FieldName[] = fields ?? [...new Set([...Object.values(STEP_FIELDS).flat(), 'general' as const,
      ...(this.validation?.errors ?? []).map((p) => p.field)])];
    return names.flatMap((f) => this.errorsFor(f).map((message) => ({ field: f, message })));
  }

  /** Field names mentioned by the server that belong to no wizard step (shown in Review). */
  otherProblems(): FieldProblem[] {
    const known = new Set<FieldName>(Object.values(STEP_FIELDS).flat());
    return (this.validation?.errors ?? []).filter((p) => !known.has(p.field));
  }

  /** Merge field problems from a refused save into the validation shown. */
  applyProblems(problems: FieldProblem[]): void {
    this.validation = { ok: false, errors: problems, warnings: this.validation?.warnings ?? [], preview: this.validation?.preview };
  }
}

/** Human names of fields, for "fix these first" lists. */
export const FIELD_LABELS: Record<FieldName, string> = {
  vmail: 'Vmail base folder',
  mail_home: 'mail_home',
  mail_location: 'mail_location',
  password: 'Password',
  auth_mechanisms: 'Login mechanisms',
  disable_plaintext_auth: 'Plaintext passwords',
  uid: 'Mail owner user',
  gid: 'Mail owner group',
  first_valid_uid: 'first_valid_uid',
  listen: 'Listen address',
  port: 'Port',
  startWithRoost: 'Start with Roost',
  notifications: 'Notifications',
  general: 'General',
};
