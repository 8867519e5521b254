// The operator presents the admin token as `Authorization: Bearer …` (scripts) or in the
// `hub_token` cookie the dashboard's login sets (browsers cannot put headers on a WebSocket).
import { tokenMatches } from './tokens.ts';

export const SESSION_COOKIE = 'hub_token';

export function cookieValue(cookieHeader: string | undefined, name: string): string | undefined {
  for (const part of cookieHeader?.split(';') ?? []) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim());
  }
  return undefined;
}

export function operatorToken(headers: { authorization?: string; cookie?: string }): string | undefined {
  const bearer = headers.authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
  return bearer ?? cookieValue(headers.cookie, SESSION_COOKIE);
}

export function isOperator(headers: { authorization?: string; cookie?: string }, adminTokenHash: string): boolean {
  const token = operatorToken(headers);
  return token !== undefined && tokenMatches(token, adminTokenHash);
}
