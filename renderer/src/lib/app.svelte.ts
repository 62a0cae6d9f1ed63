// App-wide state: what Roost told us at boot, the saved settings, the server status, the event link
// and page-level banners. One instance (appState); pages read it, the event stream updates it.
import type { ApiEvent, AppInfo, AppSettings, ServerStatus } from '../../../electron/shared/api';
import { api, errorText, type LinkState } from './api';

export interface Banner {
  id: number;
  kind: 'error' | 'info';
  text: string;
}

let bannerIds = 0;

class AppState {
  info = $state<AppInfo | null>(null);
  settings = $state<AppSettings | null>(null);
  status = $state<ServerStatus | null>(null);
  link = $state<LinkState>('open');
  /** True once the event link has been open at least once (so the first attempt shows no alarm). */
  everConnected = $state(false);
  banners = $state<Banner[]>([]);
  /** The settings the running server was started with differ from the saved ones. */
  restartNeeded = $state(false);
  /** Boot failed: shown instead of the pages, with a retry. */
  bootError = $state<string | null>(null);

  private listeners = new Set<(event: ApiEvent) => void>();

  async boot(): Promise<void> {
    this.bootError = null;
    const transport = api();
    this.link = transport.linkState();
    if (this.link === 'open') this.everConnected = true;
    transport.onLinkState((state) => {
      const wasLost = this.link !== 'open';
      this.link = state;
      if (state === 'open') {
        this.everConnected = true;
        // Events were missed while the link was down: catch up.
        if (wasLost) void this.refresh();
      }
    });
    transport.onEvent((event) => this.onEvent(event));
    try {
      const [info, settings] = await Promise.all([transport.call('appInfo', undefined), transport.call('getSettings', undefined)]);
      this.info = info;
      this.settings = settings;
      const dash = await transport.call('dashboard', undefined);
      this.status = dash.status;
    } catch (e) {
      this.bootError = errorText(e);
    }
  }

  /** Re-read what may have changed while events were not arriving. */
  async refresh(): Promise<void> {
    try {
      const transport = api();
      const [settings, dash] = await Promise.all([transport.call('getSettings', undefined), transport.call('dashboard', undefined)]);
      this.settings = settings;
      this.status = dash.status;
      for (const l of this.listeners) l({ type: 'status', status: dash.status });
    } catch {
      // The banner for the lost link is already showing; the next reconnect tries again.
    }
  }

  /** Everything else that wants events subscribes here, so one transport subscription feeds all. */
  subscribe(listener: (event: ApiEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private onEvent(event: ApiEvent): void {
    if (event.type === 'status') this.status = event.status;
    else if (event.type === 'settings') this.settings = event.settings;
    // Electron main (tray item, notification click) asks for a route; only our own hash routes.
    else if (event.type === 'navigate' && /^#\/[\w/%.@+!~*'()-]*$/.test(event.hash)) location.hash = event.hash;
    for (const l of this.listeners) l(event);
  }

  showBanner(kind: Banner['kind'], text: string): void {
    // The same message twice in a row is one banner.
    if (this.banners.some((b) => b.text === text)) return;
    this.banners = [...this.banners, { id: ++bannerIds, kind, text }];
  }

  dismissBanner(id: number): void {
    this.banners = this.banners.filter((b) => b.id !== id);
  }

  /** Runs an API action; a failure becomes an error banner and `undefined`. */
  async attempt<T>(action: () => Promise<T>, what: string): Promise<T | undefined> {
    try {
      return await action();
    } catch (e) {
      this.showBanner('error', `${what}: ${errorText(e)}`);
      return undefined;
    }
  }
}

export const appState = new AppState();
