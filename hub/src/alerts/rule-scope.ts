// Which devices a rule watches. An entry without `*` is a device id; an entry with `*` is a glob over
// the whole string, matched against the id and the device's name, so "greenhouse-*" follows devices
// renamed into (or out of) the greenhouse without editing the rule.

export type ScopeTest = (deviceId: string, name: string | null) => boolean;

const everyDevice: ScopeTest = () => true;

function globToRegExp(pattern: string): RegExp {
  const body = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`, 's');
}

/** Compiled once per rule change; the test itself allocates nothing. */
export function compileScope(devices: readonly string[] | '*'): ScopeTest {
  if (devices === '*') return everyDevice;
  const ids = new Set<string>();
  const patterns: RegExp[] = [];
  for (const entry of devices) {
    if (entry === '*') return everyDevice;
    if (entry.includes('*')) patterns.push(globToRegExp(entry));
    else ids.add(entry);
  }
  return (deviceId, name) => {
    if (ids.has(deviceId)) return true;
    for (const pattern of patterns) {
      if (pattern.test(deviceId) || (name !== null && pattern.test(name))) return true;
    }
    return false;
  };
}
