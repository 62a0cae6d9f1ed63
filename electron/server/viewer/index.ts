// The mailbox viewer's data layer (runs in the worker): see viewer.ts.
export { Viewer, ViewerError, searchKey, cidReferences, HOLD_MS, type ViewerOptions, type ViewerLog } from './viewer.js';
export { findUsers, type FoundUser } from './tree.js';
