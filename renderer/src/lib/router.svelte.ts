// A small hash router: #/wizard/<step>, #/dashboard, #/settings, #/viewer[/<user>[/<mailbox>[/<uid>]]],
// #/sendtest. The hash keeps working from file:// in Electron (no server to answer deep links) and
// needs no router library. Viewer parts are URI-encoded (a mailbox name may hold '/').
export type Route =
  | { page: 'wizard'; step: number }
  | { page: 'dashboard' }
  | { page: 'settings' }
  | { page: 'viewer'; user?: string; mailbox?: string; uid?: number }
  | { page: 'sendtest' };

export const WIZARD_STEPS = 5;

export function parseHash(hash: string): Route | null {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  switch (parts[0]) {
    case 'wizard': {
      const n = Number(parts[1] ?? '1');
      return { page: 'wizard', step: Number.isInteger(n) && n >= 1 && n <= WIZARD_STEPS ? n : 1 };
    }
    case 'dashboard': return { page: 'dashboard' };
    case 'settings': return { page: 'settings' };
    case 'sendtest': return { page: 'sendtest' };
    case 'viewer': {
      const dec = (s: string | undefined): string | undefined => {
        if (s === undefined) return undefined;
        try { return decodeURIComponent(s); } catch { return undefined; }
      };
      const user = dec(parts[1]);
      const mailbox = user ? dec(parts[2]) : undefined;
      const n = Number(parts[3]);
      const uid = mailbox && Number.isInteger(n) && n > 0 ? n : undefined;
      return { page: 'viewer', ...(user ? { user } : {}), ...(mailbox ? { mailbox } : {}), ...(uid ? { uid } : {}) };
    }
    default: return null;
  }
}

export function routeHash(route: Route): string {
  if (route.page === 'wizard') return `#/wizard/${route.step}`;
  if (route.page === 'viewer') {
    const parts = ['#/viewer'];
    if (route.user) {
      parts.push(encodeURIComponent(route.user));
      if (route.mailbox) {
        parts.push(encodeURIComponent(route.mailbox));
        if (route.uid) parts.push(String(route.uid));
      }
    }
    return parts.join('/');
  }
  return `#/${route.page}`;
}

class Router {
  /** null until the app knows where to start (first run -> wizard). */
  current = $state<Route | null>(parseHash(location.hash));

  constructor() {
    addEventListener('hashchange', () => {
      this.current = parseHash(location.hash) ?? this.current;
    });
  }

  go(route: Route): void {
    const hash = routeHash(route);
    if (location.hash !== hash) location.hash = hash; // hashchange updates current
    this.current = route;
  }
}

export const router = new Router();
