// Alerts as the REST API, /ws/live and webhooks show them (wire.ts): ISO dates, the rule's name.
import type { AlertView, WebhookDelivery } from '../http/wire.ts';
import type { AlertEvent, AlertRecord } from './alert-store.ts';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export function alertView(alert: AlertRecord, ruleName: string): AlertView {
  return {
    id: alert.id,
    ruleId: alert.ruleId,
    ruleName,
    deviceId: alert.deviceId,
    channel: alert.channel,
    severity: alert.severity,
    state: alert.state,
    value: alert.value,
    pendingAt: iso(alert.pendingAt),
    firedAt: iso(alert.firedAt),
    resolvedAt: iso(alert.resolvedAt),
    acknowledgedAt: iso(alert.acknowledgedAt),
    silencedUntil: iso(alert.silencedUntil),
    updatedAt: iso(alert.updatedAt)!,
  };
}

/**
 * Webhooks hear of an alert firing and of a fired alert resolving; pending and cancelled are shown
 * live only. A silenced alert's transitions are not delivered.
 */
export function isDelivered(event: AlertEvent, alert: AlertRecord): boolean {
  if (alert.silencedUntil !== null && alert.silencedUntil > event.at) return false;
  return event.to === 'firing' || (event.to === 'resolved' && event.from === 'firing');
}

/** The exact body queued in the outbox for an event (built once, so every retry signs the same bytes). */
export function webhookBody(event: AlertEvent, alert: AlertRecord, ruleName: string): string {
  const delivery: WebhookDelivery = {
    idempotencyKey: event.idempotencyKey,
    event: event.to as 'firing' | 'resolved',
    alert: alertView(alert, ruleName),
  };
  return JSON.stringify(delivery);
}
