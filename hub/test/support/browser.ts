// Helpers for the dashboard's browser tests (playwright-core driving Debian's Chromium).
import type { Page } from 'playwright-core';

/**
 * Waits until the element with `data-testid=id` has text matching `text` (a string matches the whole
 * text exactly), and answers its text.
 */
export async function waitForTestIdText(page: Page, id: string, text: string | RegExp, timeout: number): Promise<string> {
  const [source, flags] = text instanceof RegExp ? [text.source, text.flags] : [`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, ''];
  await page.waitForFunction(
    ([testId, pattern, patternFlags]) => new RegExp(pattern, patternFlags).test(document.querySelector(`[data-testid="${testId}"]`)?.textContent ?? ''),
    [id, source, flags] as const,
    { timeout },
  );
  return (await page.getByTestId(id).textContent()) ?? '';
}
