import { describeLiveBusContract } from './live-bus-contract.ts';
import { createLocalLiveBus } from './live-bus.ts';

describeLiveBusContract('local', async () => ({ bus: createLocalLiveBus(), cleanup: async () => undefined }));
