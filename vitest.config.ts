import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    // tests/e2e/*.test.ts are vitest files that drive real processes (and browsers through the
    // `playwright` library); a Playwright-runner spec would be named *.spec.ts and is not run here.
    exclude: ['**/node_modules/**', 'tests/e2e/**/*.spec.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default'],
  },
});
