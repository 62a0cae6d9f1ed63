// Page objects for the renderer's browser tests: what a user sees, by role and label, in one place,
// so a test reads as the steps a user takes and a markup change is fixed here once.
import type { Locator, Page } from 'playwright';

export const STEP_TITLES = ['Mail location', 'Credentials', 'Ownership', 'Network', 'Review'] as const;

class Base {
  constructor(readonly page: Page) {}

  heading(name: string): Locator {
    return this.page.getByRole('heading', { name, level: 1 });
  }

  button(name: string | RegExp): Locator {
    return this.page.getByRole('button', typeof name === 'string' ? { name, exact: true } : { name });
  }

  field(label: string, exact = false): Locator {
    return this.page.getByLabel(label, { exact });
  }

  /** The plain-words problem shown under a field (Field.svelte: id `<field>-err`). */
  fieldError(field: string): Locator {
    return this.page.locator(`#${field}-err`);
  }

  radio(name: string | RegExp): Locator {
    return this.page.getByRole('radio', { name });
  }

  checkbox(name: string): Locator {
    return this.page.getByRole('checkbox', { name, exact: true });
  }

  nav(name: 'Dashboard' | 'Settings' | 'Setup wizard'): Locator {
    return this.page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
  }

  alert(text: string | RegExp): Locator {
    return this.page.getByRole('alert').filter({ hasText: text });
  }
}

export class WizardPage extends Base {
  step(n: number): Locator {
    return this.heading(STEP_TITLES[n - 1]);
  }

  get next(): Locator {
    return this.button('Next');
  }

  /** "Fix this before going on:" with the list of problems of the step. */
  get blocked(): Locator {
    return this.alert(/Fix (this|these) before/);
  }

  get preview(): Locator {
    return this.page.getByTestId('mail-preview');
  }

  get doveconf(): Locator {
    return this.page.getByTestId('doveconf');
  }

  async goNext(toStep: number): Promise<void> {
    await this.next.click();
    await this.step(toStep).waitFor();
  }
}

export class DashboardPage extends Base {
  get state(): Locator {
    return this.page.getByTestId('server-state');
  }

  get port(): Locator {
    return this.page.getByTestId('conn-port');
  }

  get server(): Locator {
    return this.page.getByTestId('conn-server');
  }

  get sessions(): Locator {
    return this.page.getByRole('table', { name: 'Connected now' });
  }

  session(user: string): Locator {
    return this.sessions.getByRole('row').filter({ hasText: user });
  }

  get activity(): Locator {
    return this.page.getByRole('list', { name: 'Recent activity' });
  }

  activityItem(...texts: string[]): Locator {
    let item = this.activity.getByRole('listitem');
    for (const t of texts) item = item.filter({ hasText: t });
    return item;
  }

  get log(): Locator {
    return this.page.getByRole('log', { name: 'Server log' });
  }

  get logFilter(): Locator {
    return this.field('Filter the log');
  }
}

export class SettingsPage extends Base {
  get saved(): Locator {
    return this.page.getByRole('status').filter({ hasText: /Saved|Restart/ });
  }
}
