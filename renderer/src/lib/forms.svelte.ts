// The wizard keeps one draft across its steps (and across visits to other pages), created from the
// saved settings the first time it is needed.
import type { AppSettings } from '../../../electron/shared/api';
import { SettingsForm } from './settings-form.svelte';

let wizard: SettingsForm | null = null;

export function wizardForm(settings: AppSettings): SettingsForm {
  if (!wizard) wizard = new SettingsForm(settings);
  // Nothing edited since: follow what was saved meanwhile (e.g. on the settings page).
  else if (!wizard.dirty) wizard.reset(settings);
  return wizard;
}
