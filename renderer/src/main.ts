// Renderer entry: global styles and the App shell. In `vite` dev mode only, VITE_ROOST_MOCK=1 installs a
// fake window.roost (renderer/dev/) so the UI can be worked on without the app; the production build
// drops that branch (import.meta.env.DEV is false there), so the mock never ships.
import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';

async function start(): Promise<void> {
  if (import.meta.env.DEV && import.meta.env.VITE_ROOST_MOCK) {
    const { installMockBridge } = await import('../dev/mock-bridge');
    installMockBridge();
  }
  const target = document.getElementById('app');
  if (!target) throw new Error('index.html has no #app element');
  mount(App, { target });
}

start().catch((e: unknown) => {
  // Last resort: the app itself could not start. Say so instead of leaving a blank window.
  const p = document.createElement('p');
  p.textContent = `Roost's window could not start: ${e instanceof Error ? e.message : String(e)}`;
  p.setAttribute('role', 'alert');
  document.body.append(p);
});
