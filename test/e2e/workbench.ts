import type { Frame, Page } from 'playwright-core';
import type { ViewTestHook } from '../../src/shared/viewProtocol';

/** Playwright steps on the VS Code workbench, with the selectors FACTS.md found to work. */

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, intervalMs = 500): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastError ? ` (last error: ${String(lastError)})` : ''}`);
}

const QUICK_INPUT = '.quick-input-widget .quick-input-box input';
const QUICK_ROWS = '.quick-input-widget .monaco-list-row';

/**
 * Runs a command from the palette. Typing before the extension registered its commands shows
 * "No matching commands" and never refreshes, so it closes the palette and tries again.
 */
export async function runCommand(page: Page, label: string, timeoutMs = 90_000): Promise<void> {
  await waitFor(
    `the command "${label}" in the palette`,
    async () => {
      await page.keyboard.press('Escape');
      await page.keyboard.press('F1');
      const input = page.locator(QUICK_INPUT);
      await input.waitFor({ state: 'visible', timeout: 5000 });
      await input.fill(`>${label}`);
      const row = page.locator(QUICK_ROWS).filter({ hasText: label }).first();
      try {
        await row.waitFor({ state: 'visible', timeout: 3000 });
      } catch {
        return undefined;
      }
      // Enter runs the focused (first) row; a click the matching one when it is further down.
      const first = page.locator(QUICK_ROWS).first();
      if ((await first.innerText()).includes(label)) await page.keyboard.press('Enter');
      else await row.click();
      return true;
    },
    timeoutMs,
    1000,
  );
}

/** Opens a workspace file by quick open (Ctrl+P) and waits for its editor tab. */
export async function openFile(page: Page, relativePath: string): Promise<void> {
  const fileName = relativePath.split('/').pop()!;
  await waitFor(
    `${relativePath} open in an editor`,
    async () => {
      await page.keyboard.press('Escape');
      await page.keyboard.press('Control+P');
      const input = page.locator(QUICK_INPUT);
      await input.waitFor({ state: 'visible', timeout: 5000 });
      await input.fill(relativePath);
      const row = page.locator(QUICK_ROWS).filter({ hasText: fileName }).first();
      await row.waitFor({ state: 'visible', timeout: 5000 });
      await page.keyboard.press('Enter');
      await page.locator(`.tab[aria-label*="${fileName}"]`).first().waitFor({ state: 'visible', timeout: 5000 });
      return true;
    },
    60_000,
    1000,
  );
}

/** Moves the cursor to a one-based line (and column) with Go to Line (Ctrl+G). */
export async function goToLine(page: Page, line: number, column?: number): Promise<void> {
  // The text editor in the editor area (the Chat and other views hold monaco editors too).
  await page.locator('.part.editor .editor-instance .monaco-editor .view-lines').first().click({ timeout: 5000 });
  await page.keyboard.press('Control+G');
  const input = page.locator(QUICK_INPUT);
  await input.waitFor({ state: 'visible', timeout: 5000 });
  await input.fill(column === undefined ? `:${line}` : `:${line}:${column}`);
  await page.keyboard.press('Enter');
}

/** The panel's document (inside the webview's two iframes), found by the test hook it publishes. */
export async function panelFrame(page: Page, timeoutMs = 60_000): Promise<Frame> {
  return waitFor(
    'the Gradient Lens panel',
    async () => {
      for (const frame of page.frames()) {
        const parentUrl = frame.parentFrame()?.url() ?? '';
        if (!parentUrl.includes('purpose=webviewView') || !parentUrl.includes('extensionId=gradient-lens.gradient-lens')) continue;
        const hasHook = await frame.evaluate(() => typeof (window as { __gradientLens?: unknown }).__gradientLens === 'object').catch(() => false);
        if (hasHook) return frame;
      }
      return undefined;
    },
    timeoutMs,
  );
}

export async function readHook(frame: Frame): Promise<ViewTestHook> {
  return frame.evaluate(() => (window as unknown as { __gradientLens: ViewTestHook }).__gradientLens);
}

/** Polls the panel's test hook until `accept` holds; re-finds the frame if the view was re-created. */
export async function waitForHook(page: Page, what: string, accept: (hook: ViewTestHook) => boolean, timeoutMs: number): Promise<ViewTestHook> {
  return waitFor(
    what,
    async () => {
      const hook = await readHook(await panelFrame(page, 5000));
      return accept(hook) ? hook : undefined;
    },
    timeoutMs,
    300,
  );
}

/** The Problems panel rows' text (opened with Ctrl+Shift+M). */
export async function problemRows(page: Page): Promise<string[]> {
  const rows = page.locator('.markers-panel .monaco-list-row');
  if (!(await rows.first().isVisible().catch(() => false))) {
    await page.keyboard.press('Control+Shift+M');
    await rows.first().waitFor({ state: 'visible', timeout: 10_000 });
  }
  return rows.allInnerTexts();
}

/** The first Problems row that mentions `text`, once one shows. */
export async function problemRowWith(page: Page, text: string, timeoutMs = 30_000): Promise<string> {
  return waitFor(
    `a Problems row with "${text}"`,
    async () => (await problemRows(page)).find((row) => row.includes(text)),
    timeoutMs,
  );
}

/** The editor cursor's one-based line and column, from the status bar's "Ln 27, Col 9". */
export async function cursorPosition(page: Page): Promise<{ line: number; column: number } | undefined> {
  const text = await page.locator('.statusbar-item', { hasText: /^Ln \d+, Col \d+/ }).first().innerText().catch(() => '');
  const match = /^Ln (\d+), Col (\d+)/.exec(text);
  return match ? { line: Number(match[1]), column: Number(match[2]) } : undefined;
}
