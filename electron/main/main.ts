// Electron's entry point (package.json "main": out/main.cjs, bundled by build/build.mjs).
// Everything lives in roost-main.ts so tests can drive it with a fake `electron` module.
import { startRoostMain } from './roost-main.js';

startRoostMain();
