// Trades the operator token for the session cookie; the token is not kept by the page.
import { ApiError, type Api } from './api.ts';
import { h, setText } from './dom.ts';

export function loginView(api: Api, onLoggedIn: () => void, notice?: string): HTMLElement {
  const token = h('input', {
    type: 'password', name: 'token', required: true, autocomplete: 'current-password', spellcheck: 'false',
    placeholder: 'operator token', 'data-testid': 'login-token', 'aria-label': 'operator token',
  });
  const error = h('p', { class: 'error-text', role: 'alert', 'data-testid': 'login-error', hidden: !notice }, notice ?? '');
  const submit = h('button', { type: 'submit', class: 'button primary', 'data-testid': 'login-submit' }, 'Sign in');
  const form = h('form', {
    class: 'card login', 'data-testid': 'login-form',
    onsubmit: async (e: Event) => {
      e.preventDefault();
      submit.disabled = true;
      error.hidden = true;
      try {
        if (await api.login(token.value.trim())) {
          token.value = '';
          return onLoggedIn();
        }
        setText(error, 'That token is not right.');
      } catch (err) {
        setText(error, err instanceof ApiError && err.status === 429 ? 'Too many wrong tokens from this address: wait a minute, then try again.' : 'The hub is not reachable.');
      } finally {
        submit.disabled = false;
      }
      error.hidden = false;
      token.select();
    },
  },
  h('h1', null, 'Sign in'),
  h('p', { class: 'muted' }, 'Enter the operator token. The hub prints it on first start and keeps it in its data directory (admin-token).'),
  // Lets password managers file the token under a name; the hub has a single operator.
  h('input', { type: 'text', name: 'username', autocomplete: 'username', value: 'operator', hidden: true, tabindex: '-1' }),
  h('label', { class: 'field' }, h('span', null, 'Operator token'), token),
  error,
  submit);
  queueMicrotask(() => token.focus());
  return h('div', { class: 'login-page' }, form);
}
