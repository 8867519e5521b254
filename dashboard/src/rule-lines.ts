// Which rules watch a device, and the levels their thresholds draw on its charts. The device
// patterns are the hub's own (rule-scope.ts, pure and tiny), so a chart shows a line exactly when
// the hub would evaluate that rule for that device.
import { compileScope } from '../../hub/src/alerts/rule-scope.ts';
import type { RuleView } from './api.ts';
import { ruleKind } from './alert-format.ts';
import { formatValue } from './format.ts';

export interface ThresholdLine {
  value: number;
  kind: 'above' | 'below' | 'clear';
  severity: RuleView['severity'];
  ruleId: number;
  /** "High temperature: above 30" */
  label: string;
}

/** The enabled rules whose device list takes this device. */
export function rulesFor(rules: readonly RuleView[], deviceId: string, name: string | null): RuleView[] {
  return rules.filter((rule) => rule.enabled && compileScope(rule.devices)(deviceId, name));
}

/** The levels of the threshold rules on one channel, lowest first. */
export function thresholdLines(rules: readonly RuleView[], channel: string): ThresholdLine[] {
  const lines: ThresholdLine[] = [];
  for (const rule of rules) {
    if (rule.channel !== channel || ruleKind(rule) !== 'threshold') continue;
    const add = (kind: ThresholdLine['kind'], value: number | null) => {
      if (value !== null) lines.push({ value, kind, severity: rule.severity, ruleId: rule.id, label: `${rule.name}: ${kind} ${formatValue(value)}` });
    };
    add('above', rule.above);
    add('below', rule.below);
    add('clear', rule.clear);
  }
  return lines.sort((a, b) => a.value - b.value);
}

/** Lines per channel for one device. */
export function linesByChannel(rules: readonly RuleView[], deviceId: string, name: string | null): Map<string, ThresholdLine[]> {
  const applying = rulesFor(rules, deviceId, name);
  const map = new Map<string, ThresholdLine[]>();
  for (const channel of new Set(applying.map((r) => r.channel).filter((c): c is string => c !== null))) {
    const lines = thresholdLines(applying, channel);
    if (lines.length) map.set(channel, lines);
  }
  return map;
}
