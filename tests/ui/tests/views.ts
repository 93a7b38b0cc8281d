/** Steps the UI tests share around nblift's main-area views (not a test file: Playwright runs *.spec.ts). */
import { expect, IJupyterLabPageFixture } from '@jupyterlab/galata';
import { Locator } from '@playwright/test';
import * as path from 'path';

export type ViewKind = 'experiments' | 'runs' | 'registry';

export const SIDEBAR = 'nblift-sidebar';

/** Where the docs take their pictures of each view from (written by the UI tests). */
export const SCREENSHOTS = path.resolve(
  __dirname,
  '../../../docs/_static/screenshots'
);

/** The main-area tab of view `kind` (its content, once open). */
export function viewTab(page: IJupyterLabPageFixture, kind: ViewKind): Locator {
  return page.locator(`#nblift-${kind}`);
}

/** Open view `kind` in the main area with its command (as the palette and the launcher do). */
export async function openView(
  page: IJupyterLabPageFixture,
  kind: ViewKind
): Promise<Locator> {
  await page.evaluate(async view => {
    const app = (window as any).jupyterapp;
    await app.commands.execute('nblift:open-view', { view });
  }, kind);
  const tab = viewTab(page, kind);
  await expect(tab).toBeVisible();
  return tab;
}

/** Open view `kind` from the sidebar's links. */
export async function openFromSidebar(
  page: IJupyterLabPageFixture,
  kind: ViewKind
): Promise<Locator> {
  await page.sidebar.openTab(SIDEBAR);
  const label = kind[0].toUpperCase() + kind.slice(1);
  await page
    .locator(`#${SIDEBAR}`)
    .getByRole('navigation', { name: 'nblift views' })
    .getByRole('button', { name: label, exact: true })
    .click();
  const tab = viewTab(page, kind);
  await expect(tab).toBeVisible();
  return tab;
}

/**
 * A picture of `what` for the docs, under docs/_static/screenshots. The test server's throwaway root folder
 * is shown as a reader's project folder.
 */
export async function docScreenshot(
  what: Locator,
  name: string
): Promise<void> {
  await what.evaluate(root => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      node.textContent = (node.textContent ?? '').replace(
        /\/tmp\/nblift-ui-[A-Za-z0-9_]+/g,
        '~/my-project'
      );
    }
  });
  await what.screenshot({
    path: path.join(SCREENSHOTS, name),
    animations: 'disabled',
    scale: 'css'
  });
}
