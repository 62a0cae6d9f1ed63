// A small hash router: #/wizard/<step>, #/dashboard, #/settings. The hash keeps working from
// file:// in Electron (no server to answer deep links) and needs no router library.
export type Route =
  | { page: 'wizard'; step: number }
  | { page: 'dashboard' }
  | { page: 'settings' };

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
    default: return null;
  }
}

export function routeHash(route: Route): string {
  return route.page === 'wizard' ? `#/wizard/${route.step}` : `#/${route.page}`;
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
