import { describe, expect, it } from 'vitest';
import { compileScope } from './rule-scope.ts';

describe('compileScope', () => {
  it('"*" takes every device, named or not', () => {
    const scope = compileScope('*');
    expect(scope('a', null)).toBe(true);
    expect(scope('b', 'kitchen')).toBe(true);
  });

  it('an entry "*" in a list also takes every device', () => {
    expect(compileScope(['x', '*'])('anything', null)).toBe(true);
  });

  it('plain entries are ids, matched exactly and never against names', () => {
    const scope = compileScope(['dev-1', 'dev-2']);
    expect(scope('dev-1', null)).toBe(true);
    expect(scope('dev-2', 'whatever')).toBe(true);
    expect(scope('dev-10', null)).toBe(false);
    expect(scope('dev-3', 'dev-1')).toBe(false);
  });

  it('patterns match the whole id', () => {
    const scope = compileScope(['gh-*']);
    expect(scope('gh-1', null)).toBe(true);
    expect(scope('gh-', null)).toBe(true);
    expect(scope('xgh-1', null)).toBe(false);
  });

  it('patterns match the whole name', () => {
    const scope = compileScope(['*greenhouse*']);
    expect(scope('a1', 'North greenhouse 2')).toBe(true);
    expect(scope('a1', 'barn')).toBe(false);
    expect(scope('a1', null)).toBe(false);
  });

  it('a star may sit anywhere, and several may appear', () => {
    const scope = compileScope(['s*-t*-*9']);
    expect(scope('s1-t22-x9', null)).toBe(true);
    expect(scope('s1-t22-x8', null)).toBe(false);
  });

  it('regular-expression characters in a pattern are literal', () => {
    const scope = compileScope(['a.b*', '(x)+*']);
    expect(scope('a.bc', null)).toBe(true);
    expect(scope('aXbc', null)).toBe(false);
    expect(scope('(x)+1', null)).toBe(true);
    expect(scope('xx1', null)).toBe(false);
  });

  it('a name with a line break still matches as a whole', () => {
    expect(compileScope(['a*b'])('id', 'a\nb')).toBe(true);
  });
});
