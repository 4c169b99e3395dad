// Small DOM helpers: element creation, dialogs, notices, and formatting of times and sizes.

/**
 * h('button', {class: 'x', onclick: fn, 'aria-label': 'Send'}, 'text', child, ...): an element.
 * Attributes starting with "on" become listeners; `dataset` an object of data-*; null children skipped.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'class') el.className = v;
    else if (k === 'value') el.value = v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/**
 * Makes `children` (elements) the children of `parent`, in this order, with the fewest DOM changes:
 * elements already in place stay untouched. Replacing them all would make the browser restyle and lay
 * out every one again (a long conversation, once per frame while messages stream in), and an element
 * moved or replaced between a press and its release loses the click.
 */
export function reconcileChildren(parent, children) {
  const keep = new Set(children);
  for (const el of [...parent.children]) if (!keep.has(el)) el.remove();
  let at = parent.firstElementChild;
  for (const c of children) {
    if (c === at) at = at.nextElementSibling;
    else parent.insertBefore(c, at);
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A live region: polite messages for status, assertive (role=alert) for errors. */
export function notify(text, kind = 'error') {
  const region = document.getElementById('notices');
  const item = h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': 'notice' },
    h('span', { class: 'notice-text' }, text),
    h('button', { class: 'icon', 'aria-label': 'Dismiss', onclick: () => item.remove() }, '×'));
  region.append(item);
  setTimeout(() => item.remove(), kind === 'error' ? 12000 : 4000);
  return item;
}

/**
 * A modal dialog (native <dialog>: focus moves in, Escape closes, focus returns). `build(close)`
 * returns the content; resolves with the value passed to close().
 */
export function modal(title, build) {
  return new Promise((resolve) => {
    const opener = document.activeElement;
    const dlg = h('dialog', { class: 'modal', 'aria-label': title });
    let result;
    const close = (value) => {
      result = value;
      dlg.close();
    };
    dlg.addEventListener('close', () => {
      dlg.remove();
      if (opener && opener.focus) opener.focus();
      resolve(result);
    });
    dlg.append(h('h2', {}, title), build(close));
    document.body.append(dlg);
    dlg.showModal();
    const first = dlg.querySelector('input, select, textarea, button:not(.icon)');
    if (first) first.focus();
  });
}

/** Asks a yes/no question in a modal; resolves true for yes. */
export function confirmDialog(title, text, yes = 'OK') {
  return modal(title, (close) => h('div', {},
    h('p', {}, text),
    h('div', { class: 'row end' },
      h('button', { type: 'button', onclick: () => close(false) }, 'Cancel'),
      h('button', { type: 'button', class: 'primary', onclick: () => close(true) }, yes)))).then((v) => v === true);
}

/** A form in a modal: fields [{name, label, type, value, required}]; resolves with values or undefined. */
export function formDialog(title, fields, submitLabel = 'OK') {
  return modal(title, (close) => {
    const form = h('form', { class: 'stack', onsubmit: (e) => {
      e.preventDefault();
      const out = {};
      for (const f of fields) out[f.name] = form.elements[f.name].value;
      close(out);
    } });
    for (const f of fields) {
      const id = `f-${f.name}-${Math.random().toString(36).slice(2, 8)}`;
      const input = f.type === 'select'
        ? h('select', { id, name: f.name }, f.options.map((o) => h('option', { value: o, selected: o === f.value }, o)))
        : h('input', { id, name: f.name, type: f.type || 'text', value: f.value || '', required: f.required,
                       autocomplete: 'off', placeholder: f.placeholder });
      form.append(h('label', { for: id }, f.label), input);
      if (f.hint) form.append(h('small', { class: 'hint' }, f.hint));
    }
    form.append(h('div', { class: 'row end' },
      h('button', { type: 'button', onclick: () => close(undefined) }, 'Cancel'),
      h('button', { type: 'submit', class: 'primary' }, submitLabel)));
    return form;
  });
}

export function formatTime(ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const now = new Date();
  const time = d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  if (d.toDateString() === now.toDateString()) return time;
  return `${d.toLocaleDateString([], { day: 'numeric', month: 'short' })} ${time}`;
}

export function formatLastSeen(p) {
  if (!p || p.visible === false) return '';
  if (p.online) return 'online';
  if (!p.lastSeen) return 'offline';
  const ago = Date.now() - p.lastSeen;
  if (ago < 60000) return 'last seen just now';
  if (ago < 3600000) return `last seen ${Math.floor(ago / 60000)} min ago`;
  return `last seen ${formatTime(p.lastSeen)}`;
}

export function formatSize(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

export function formatDuration(ms) {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}
