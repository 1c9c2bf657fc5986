// Accessibility checks of one page of the console, for e2e.mjs: which
// controls have no accessible name (as Chromium itself computes it, the
// name a screen reader announces), and which cannot be reached with Tab.

/** Controls: what a keyboard or screen-reader user operates. */
const CONTROLS = [
  'a[href]',
  'button',
  'input:not([type="hidden"])',
  'select',
  'textarea',
  'summary',
  '[role="button"]',
  '[role="link"]',
  '[role="switch"]',
  '[role="checkbox"]',
  '[role="tab"]',
  '[role="menuitem"]',
  '[tabindex]:not([tabindex="-1"])',
].join(', ');

/**
 * Marks every visible, enabled control of the page with `data-e2e-control`
 * and returns a short description of each (in document order).
 */
async function markControls(page) {
  return page.evaluate((selector) => {
    for (const old of document.querySelectorAll('[data-e2e-control]')) delete old.dataset.e2eControl;
    const controls = [...document.querySelectorAll(selector)].filter(
      (el) => el.checkVisibility({ checkVisibilityCSS: true }) && !el.disabled && !el.closest('[inert]'),
    );
    return controls.map((el, i) => {
      el.dataset.e2eControl = String(i);
      const testid = el.dataset.testid ? `[data-testid=${el.dataset.testid}]` : '';
      const text = (el.textContent ?? '').trim().replace(/\s+/g, ' ').slice(0, 40);
      return `<${el.localName}${el.type && el.localName === 'input' ? ` type=${el.type}` : ''}${testid}>${text ? ` "${text}"` : ''}`;
    });
  }, CONTROLS);
}

/**
 * Each marked control's accessible name as Chromium's accessibility tree
 * has it: `missing` lists the controls without one (with their role, e.g.
 * `<button> (role button)`), `named` the others as `role "name"`.
 */
async function unnamed(page, descriptions) {
  const cdp = await page.context().newCDPSession(page);
  try {
    const missing = [];
    const named = [];
    for (const [index, description] of descriptions.entries()) {
      // A reference to the element itself (node ids of the DOM domain go
      // stale when the page redraws some other part of itself).
      const { result } = await cdp.send('Runtime.evaluate', { expression: `document.querySelector('[data-e2e-control="${index}"]')` });
      if (!result.objectId) continue; // redrawn meanwhile
      const { nodes } = await cdp.send('Accessibility.getPartialAXTree', { objectId: result.objectId, fetchRelatives: false });
      await cdp.send('Runtime.releaseObject', { objectId: result.objectId });
      const ax = nodes[0];
      const name = ax && !ax.ignored ? String(ax.name?.value ?? '').trim() : '';
      const role = !ax ? 'none' : ax.ignored ? 'ignored' : ax.role?.value;
      if (name) named.push(`${role} "${name}"`);
      else missing.push(`${description} (role ${role})`);
    }
    return { missing, named };
  } finally {
    await cdp.detach().catch(() => {});
  }
}

/**
 * Presses Tab from the top of the page until every marked control has had
 * the focus (or until it is clear some never will); returns the ones that
 * never had it, and the order in which the focus went.
 */
async function tabWalk(page, count) {
  await page.evaluate(() => {
    window.e2eFocused = [];
    window.e2eFocusLog = (event) => window.e2eFocused.push(event.target.dataset?.e2eControl ?? `(${event.target.localName})`);
    document.addEventListener('focusin', window.e2eFocusLog, true);
    document.activeElement?.blur?.();
    // Start where a keyboard user starts: the first thing on the page.
    const first = document.querySelector('[data-e2e-control="0"]');
    first.focus();
  });
  const all = new Set(Array.from({ length: count }, (_, i) => String(i)));
  // A control is reached once; a few more presses for things that are not controls.
  const budget = count + 15;
  for (let pressed = 0; pressed < budget; pressed += 10) {
    for (let i = 0; i < 10; i += 1) await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => window.e2eFocused);
    if ([...all].every((i) => focused.includes(i))) break;
  }
  const [focused, present] = await page.evaluate(() => {
    document.removeEventListener('focusin', window.e2eFocusLog, true);
    // Controls the page redrew meanwhile (a list read again) are not ours to judge.
    const still = [...document.querySelectorAll('[data-e2e-control]')].filter((el) => el.isConnected && el.checkVisibility());
    return [window.e2eFocused, still.map((el) => el.dataset.e2eControl)];
  });
  const missed = [...all].filter((i) => !focused.includes(i));
  return { order: focused, missed: missed.filter((i) => present.includes(i)).map(Number), redrawn: missed.some((i) => !present.includes(i)) };
}

/**
 * Audits the page as it is now: every visible control needs a name and must
 * be reachable with Tab. Returns `{problems, controls, order}`; problems is
 * empty when all is well.
 */
export async function audit(page) {
  let controls;
  let missing;
  let walk;
  // A page that redraws part of itself during the walk is walked again.
  for (let attempt = 1; attempt <= 3; attempt += 1) {
    controls = await markControls(page);
    ({ missing } = await unnamed(page, controls));
    walk = await tabWalk(page, controls.length);
    if (!walk.redrawn) break;
  }
  const { order, missed } = walk;
  const problems = [
    ...missing.map((c) => `no accessible name: ${c}`),
    ...missed.map((i) => `not reachable with Tab: ${controls[i]}`),
  ];
  return { problems, controls, order: order.map((i) => controls[Number(i)] ?? i) };
}

/**
 * Text contrast of the page as it is now (WCAG 2: 4.5:1, or 3:1 for large
 * text): every visible text node's colour against the background it is
 * drawn on (the nearest ancestors' background colours, blended where
 * translucent). Disabled controls are exempt, as WCAG has it; SVG text is
 * left out (its colour is its fill). Returns `{problems, checked}`.
 */
export async function contrast(page) {
  return page.evaluate(() => {
    const parse = (text) => {
      const m = text.match(/rgba?\(([^)]+)\)/);
      if (!m) return [0, 0, 0, 0];
      const parts = m[1].split(/[\s,/]+/).filter(Boolean).map(Number);
      return [parts[0], parts[1], parts[2], parts.length > 3 ? parts[3] : 1];
    };
    const over = ([r, g, b, a], [R, G, B]) => [r * a + R * (1 - a), g * a + G * (1 - a), b * a + B * (1 - a)];
    const background = (el) => {
      const layers = [];
      for (let node = el; node; node = node.parentElement) {
        const color = parse(getComputedStyle(node).backgroundColor);
        if (color[3] > 0) layers.push(color);
        if (color[3] >= 1) break;
      }
      let base = [255, 255, 255];
      for (const layer of layers.reverse()) base = over(layer, base);
      return base;
    };
    const luminance = (rgb) => {
      const [r, g, b] = rgb.map((v) => {
        const c = v / 255;
        return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
      });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const problems = [];
    let checked = 0;
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const seen = new Set();
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const el = node.parentElement;
      if (!node.textContent.trim() || !el || seen.has(el) || el.closest('svg, [disabled], [aria-disabled="true"], .visually-hidden, option')) continue;
      seen.add(el);
      if (!el.checkVisibility({ checkVisibilityCSS: true, checkOpacity: true })) continue;
      const style = getComputedStyle(el);
      const bg = background(el);
      const fg = over(parse(style.color), bg);
      const [light, dark] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
      const ratio = (light + 0.05) / (dark + 0.05);
      const size = parseFloat(style.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
      checked += 1;
      if (ratio < (large ? 3 : 4.5)) {
        const what = `${el.localName}${el.className && typeof el.className === 'string' ? `.${el.className.split(' ')[0]}` : ''} "${node.textContent.trim().slice(0, 30)}"`;
        problems.push(`${what} ${ratio.toFixed(2)}:1`);
      }
    }
    return { problems, checked };
  });
}
