import { createLocalPresence } from './local-presence.ts';
import { presenceContract } from './presence-contract.ts';

presenceContract('single-node', async (live) => ({ presence: createLocalPresence({ live }), close: async () => {} }));
