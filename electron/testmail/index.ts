// "Send a test message" (main/service process; never imports electron, never runs in the worker):
// localDrop writes a generated message into a user's maildir the Postfix way; sendViaRelay sends one
// through an SMTP relay and waits for Roost's `delivered` event, explaining any failure.
export {
  localDrop, deliverToMaildir, ensureMaildir, buildTestMessage, maildirHostname, newToken, rfc5322Date, DEFAULT_TEST_FROM,
  type LocalDropOptions, type LocalDropResult,
} from './local-drop.js';
export {
  sendViaRelay, waitForDeliveredEvent, parseQueueId, findInMaildir,
  type RelayOptions, type RelayResult, type RelaySuccess, type DeliveryMatch, type DeliveredEvent,
} from './relay.js';
export { explainSendError, explainDeliveryTimeout, type RelayFailure } from './explain.js';
