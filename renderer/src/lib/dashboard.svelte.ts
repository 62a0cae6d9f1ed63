// The dashboard's live data: loaded once from `dashboard` + `logTail`, then kept current by events
// (sessions come and go, activity and log lines are prepended/appended) without polling.
import type { ActivityEntry, ApiEvent, ConnectionInfo, SessionInfo } from '../../../electron/shared/api';
import type { LogRecord, ServerEvent } from '../../../electron/shared/events';
import { api, errorText } from './api';
import { appState } from './app.svelte';
import { bytes } from './format';

const MAX_ACTIVITY = 100;
const MAX_LOG = 1000;

export class DashboardData {
  sessions = $state<SessionInfo[]>([]);
  activity = $state<ActivityEntry[]>([]);
  connection = $state<ConnectionInfo | null>(null);
  log = $state<LogRecord[]>([]);
  loading = $state(true);
  loadError = $state<string | null>(null);

  private unsubscribe: (() => void) | null = null;

  /** Subscribe first, then load, so nothing that happens in between is lost for good. */
  async open(): Promise<void> {
    this.unsubscribe ??= appState.subscribe((event) => this.onEvent(event));
    await this.load();
  }

  close(): void {
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  async load(): Promise<void> {
    this.loadError = null;
    try {
      const [dash, log] = await Promise.all([api().call('dashboard', undefined), api().call('logTail', { limit: 300 })]);
      this.sessions = dash.sessions;
      this.activity = dash.activity;
      this.connection = dash.connection;
      appState.status = dash.status;
      this.log = log;
    } catch (e) {
      this.loadError = errorText(e);
    } finally {
      this.loading = false;
    }
  }

  private onEvent(event: ApiEvent): void {
    switch (event.type) {
      case 'server': this.onServerEvent(event.event); break;
      case 'settings':
        // Port/password may have changed: the connection card must say the new ones.
        void api().call('dashboard', undefined).then((d) => { this.connection = d.connection; }, () => undefined);
        break;
      case 'status':
        if (event.status.state === 'stopped' || event.status.state === 'failed' || event.status.state === 'crashed') this.sessions = [];
        else if (event.status.state === 'running') {
          void api().call('dashboard', undefined).then((d) => { this.connection = d.connection; this.sessions = d.sessions; }, () => undefined);
        }
        break;
    }
  }

  private onServerEvent(e: ServerEvent): void {
    switch (e.type) {
      case 'connection-opened':
        if (!this.sessions.some((s) => s.id === e.session)) this.sessions = [...this.sessions, { id: e.session, remote: e.remote, since: e.time, mailbox: null }];
        break;
      case 'connection-closed':
        this.sessions = this.sessions.filter((s) => s.id !== e.session);
        break;
      case 'login':
        this.patchSession(e.session, { user: e.user }, e.remote, e.time);
        this.addActivity({ kind: 'login', time: e.time, user: e.user, remote: e.remote, text: `${e.user} logged in from ${e.remote} (${e.method})` });
        break;
      case 'login-failed':
        this.addActivity({
          kind: 'login-failed', time: e.time, user: e.user, remote: e.remote,
          text: `${e.user ?? 'someone'} could not log in from ${e.remote}: ${e.reason}`,
        });
        break;
      case 'mailbox-selected':
        this.patchSession(e.session, { mailbox: e.mailbox, user: e.user });
        break;
      case 'delivered':
        this.addActivity({
          kind: 'delivered', time: e.noticedAt, user: e.user,
          text: `${e.mailbox}: "${e.subject}" from ${e.from} (${bytes(e.size)})`,
        });
        break;
      case 'log':
        this.log = this.log.length >= MAX_LOG ? [...this.log.slice(-MAX_LOG + 1), e.record] : [...this.log, e.record];
        break;
    }
  }

  private patchSession(id: string, patch: Partial<SessionInfo>, remote?: string, time?: number): void {
    if (!this.sessions.some((s) => s.id === id)) {
      // The connection-opened event was missed (page opened mid-session): add it now.
      this.sessions = [...this.sessions, { id, remote: remote ?? '', since: time ?? Date.now(), mailbox: null, ...patch }];
      return;
    }
    this.sessions = this.sessions.map((s) => (s.id === id ? { ...s, ...patch } : s));
  }

  private addActivity(entry: ActivityEntry): void {
    this.activity = [entry, ...this.activity].slice(0, MAX_ACTIVITY);
  }
}
