/** Endpoint labels from route templates: a URL string gives the label its parsed URL gives. */
import { describe, expect, it } from 'vitest';
import { compileRoutes, routeLabeller, routeOf } from '../../src/outbound/routes.js';

const routes = compileRoutes(['/repos/{owner}/{repo}', '/v1/*', '/']);

describe('routeOf', () => {
  it.each([
    ['http://h/repos/a/b', '/repos/{owner}/{repo}'],
    ['https://h:8/repos/a/b?x=1', '/repos/{owner}/{repo}'],
    ['http://h?x=/repos/a/b', '/'],
    ['http://h', '/'],
    ['http://h/repos/a/b#frag', '/repos/{owner}/{repo}'],
    ['http://h/repos/a/../b/c', '/repos/{owner}/{repo}'],
    ['http://h/repos/%2e%2e/b/c', '*'],
    ['http://h\\x/repos/a/b', '*'],
    ['http://h/v1/chat/completions', '/v1/*'],
    ['http://h/repos/a b/c', '/repos/{owner}/{repo}'],
    ['http://u:p@h/repos/x/y', '/repos/{owner}/{repo}'],
    ['HTTP://h/repos/a/b', '/repos/{owner}/{repo}'],
    ['http://h/repos/%41/b', '/repos/{owner}/{repo}'],
    ['http://h/v1%2Fchat', '*'],
  ])('%s is labelled %s, as its parsed URL is', (url, label) => {
    expect(routeOf(routes, url)).toBe(label);
    expect(routeOf(routes, new URL(url))).toBe(label);
    if (!url.includes('@')) expect(routeOf(routes, new Request(url))).toBe(label); // a Request refuses credentials in its URL
  });

  it('matches an encoded literal segment by its decoded text', () => {
    expect(routeOf(compileRoutes(['/caf\u00e9/{id}']), 'http://h/caf%C3%A9/1')).toBe('/caf\u00e9/{id}');
  });
});

describe('routeLabeller', () => {
  it('labels a sequence of calls as routeOf labels each (the same URL again, another URL, a URL object, back again)', () => {
    const label = routeLabeller(routes);
    const inputs: (string | URL)[] = ['http://h/repos/a/b', 'http://h/repos/a/b', 'http://h/v1/x', new URL('http://h/'), 'http://h/v1/x', 'http://h/repos/a/b', `http://h/${'v1'}/y`, 'http://h/zzz/1/2'];
    expect(inputs.map((input) => label(input))).toEqual(inputs.map((input) => routeOf(routes, input)));
    expect(inputs.map((input) => label(input))).toEqual(['/repos/{owner}/{repo}', '/repos/{owner}/{repo}', '/v1/*', '/', '/v1/*', '/repos/{owner}/{repo}', '/v1/*', '*']);
  });
});
