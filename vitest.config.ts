import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['hub/**/*.test.ts', 'device-sim/**/*.test.ts', 'dashboard/**/*.test.ts', 'bench/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
