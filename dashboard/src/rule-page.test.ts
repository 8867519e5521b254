import { describe, expect, it } from 'vitest';
import { newRuleHref, parseRuleRoute } from './rule-page.ts';

describe('rule routes', () => {
  it('reads the list, a new rule with its prefill, and a rule by id', () => {
    expect(parseRuleRoute('#/rules')).toEqual({ edit: null });
    expect(parseRuleRoute('#/rules/new')).toEqual({ edit: 'new', device: undefined, channel: undefined });
    expect(parseRuleRoute('#/rules/12')).toEqual({ edit: 12 });
    expect(parseRuleRoute('#/rules/x')).toEqual({ edit: null });
    expect(parseRuleRoute('#/alerts')).toBeNull();
  });

  it('carries a device and channel with any characters through the link', () => {
    const href = newRuleHref('gh 1&2', 'temp/°C');
    expect(parseRuleRoute(href)).toEqual({ edit: 'new', device: 'gh 1&2', channel: 'temp/°C' });
    expect(newRuleHref()).toBe('#/rules/new');
  });
});
